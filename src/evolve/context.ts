// What every cached score depends on besides its gate vector and sample: the
// bytes of each model that runs (weights files included), the recipe's UNet
// edits and the gates they leave, the sampling, the metric and this version.
// Hashed once per run; a changed weights file, schedule or prompt tokenizer
// makes every old score unreachable rather than wrong.
import crypto from 'node:crypto';
import type { Graph } from '../ir/graph.ts';

/** The model file and every external weights file its graph reads, in a stable order. */
export function modelFiles(file: string, g: Graph): string[] {
  const ext = new Set<string>();
  for (const v of g.weights) if (v.weight?.data.kind === 'external') ext.add(v.weight.data.ref.file);
  return [file, ...[...ext].sort()];
}

/** sha256 of a JSON value: the context itself, and each score's cache key (cache.ts). */
export function hashJson(parts: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

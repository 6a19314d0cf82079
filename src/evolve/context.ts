// What every cached score depends on besides its gate vector and sample: the
// bytes of each model that runs (weights files included), the recipe's UNet
// edits and the gates they leave, the sampling, the metric and this version.
// Hashed once per run; a changed weights file, schedule or prompt tokenizer
// makes every old score unreachable rather than wrong.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Graph } from '../ir/graph.ts';

/** The model file and every external weights file its graph reads, in a stable order. */
export function modelFiles(file: string, g: Graph): string[] {
  const ext = new Set<string>();
  for (const v of g.weights) if (v.weight?.data.kind === 'external') ext.add(v.weight.data.ref.file);
  return [file, ...[...ext].sort()];
}

/** sha256 over the files' bytes, read in chunks (weights files can be gigabytes). */
export function hashFiles(files: string[]): string {
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 22);
  for (const f of files) {
    h.update(`${files.indexOf(f)}\0`);
    const fd = fs.openSync(f, 'r');
    try {
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

export function contextHash(parts: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

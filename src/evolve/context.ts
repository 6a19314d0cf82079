// What every cached score depends on besides its gate vector and sample: the
// bytes of each model that runs (weights files included), the recipe's UNet
// edits and the gates they leave, the sampling, the metric and this version.
// Hashed once per run; a changed weights file, schedule or prompt tokenizer
// makes every old score unreachable rather than wrong.
import crypto from 'node:crypto';

/** sha256 of a JSON value: the context itself, and each score's cache key (cache.ts). */
export function hashJson(parts: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

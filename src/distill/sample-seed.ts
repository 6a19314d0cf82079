// Per-sample randomness that does not depend on who computes a sample or in
// what order: every draw for sample `index` of shard `shard` comes from a
// generator seeded by (seed, shard, index) alone, so a worker that picks up a
// shard after another died makes the same bytes. Each consumer draws in a
// fixed order (vae-pairs: the noise seed, then w).
import { mulberry32 } from '../random.ts';

/** uint32 draws for one sample: Mulberry32 seeded by the triple, each part mixed in by Mulberry32's output function. */
export function sampleRng(seed: number, shard: number, index: number): () => number {
  let h = mulberry32(seed >>> 0)();
  h = mulberry32((h ^ (shard >>> 0)) >>> 0)();
  return mulberry32(mulberry32((h ^ (index >>> 0)) >>> 0)());
}

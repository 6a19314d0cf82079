// pocketdiff's one seeded generator, reproducible everywhere JavaScript runs:
//   Mulberry32 (Tommy Ettinger, public domain): state += 0x6D2B79F5, then two
//     xorshift-multiply rounds give one uint32.
//   A uniform in [0, 1) from one draw (32 bits), or from two (53 bits: a >>> 5,
//     b >>> 6, as Mersenne Twister's genrand_res53).
//   Box–Muller: from two uniforms u, v drawn in that order, r = √(−2 ln(1 − u))
//     (1 − u, so the log is finite) and θ = 2π v give z0 = r·cos θ, z1 = r·sin θ.
// It is not torch's generator: the same seed gives other noise than diffusers.
//
// This file imports nothing: the generated pipeline.ts copies it verbatim
// (latents.ts draws its noise from it).

/** Mulberry32: a generator of uint32 values from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  };
}

/** A uniform in [0, 1) from one uint32 draw. */
export function uniform32(next: () => number): number {
  return next() / 4294967296;
}

/** A uniform in [0, 1) with 53 bits, from two uint32 draws. */
export function uniform53(next: () => number): number {
  return ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

/** Box–Muller: two independent standard normals from two uniforms in [0, 1). */
export function boxMuller(uniform: () => number): [number, number] {
  const r = Math.sqrt(-2 * Math.log(1 - uniform()));
  const theta = 2 * Math.PI * uniform();
  return [r * Math.cos(theta), r * Math.sin(theta)];
}

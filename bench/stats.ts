// What the benchmarks share: the median of their rounds, and seeded inputs
// (an LCG: every run feeds the same numbers).

export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** n floats in [−1, 1) from `seed`. */
export function seededFloats(n: number, seed: number): Float32Array {
  const data = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return data;
}

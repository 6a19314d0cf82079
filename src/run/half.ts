// IEEE binary16 bits → number, for float16 model outputs. Imports nothing: the
// generated pipeline.ts copies it (with src/builder/half.ts's toHalf) when an
// artifact's models take or give float16.
export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

// Which channels each dependency group keeps. Chunkings (GroupNorm groups,
// attention heads) cut a group's channel index into intervals; each interval
// keeps the same share of its channels, so every group and every head keeps
// the same count and the group count itself never changes:
//
//   C = 64, GroupNorm 32 groups (intervals of 2), width 32:  keep 1 of every 2
//   C = 64, width 48: 1.5 per interval, impossible          → PD9002
//
// Within an interval the most important channels stay (by importance.ts), or,
// when the weights are absent, the first ones.
import type { ChannelGroups, Chunking } from './groups.ts';
import type { SpaceId, Spaces } from './spaces.ts';

/** A class's intervals: the cut points every chunking puts inside it, 0 and C included. */
export function classCuts(groups: ChannelGroups): Map<SpaceId, number[]> {
  const { spaces } = groups;
  const cuts = new Map<SpaceId, Set<number>>();
  for (const ch of groups.chunkings) {
    const segs = spaces.resolve(ch.segs);
    const total = segs.reduce((n, s) => n + spaces.size(s), 0);
    const size = total / ch.chunks;
    let start = 0;
    for (const s of segs) {
      const end = start + spaces.size(s);
      const root = spaces.find(s);
      const set = cuts.get(root) ?? new Set<number>();
      cuts.set(root, set);
      for (let k = Math.ceil(start / size) * size; k < end; k += size) if (k > start) set.add(k - start);
      start = end;
    }
  }
  const out = new Map<SpaceId, number[]>();
  for (const [root, set] of cuts) out.set(root, [0, ...[...set].sort((a, b) => a - b), spaces.size(root)]);
  return out;
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

/** The widths a class of `size` channels can take: multiples of the returned step. */
export function widthStep(size: number, cuts: number[] | undefined): number {
  if (!cuts) return 1;
  let g = 0;
  for (let i = 1; i < cuts.length; i++) g = gcd(g, cuts[i] - cuts[i - 1]);
  return size / g;
}

/** The kept channels of a class: per interval, its share, most important first, listed ascending. */
export function chooseKeep(
  size: number,
  width: number,
  cuts: number[] | undefined,
  score: Float64Array | undefined,
): number[] {
  const bounds = cuts ?? [0, size];
  const keep: number[] = [];
  for (let i = 1; i < bounds.length; i++) {
    const [a, b] = [bounds[i - 1], bounds[i]];
    const quota = ((b - a) * width) / size;
    const idx = Array.from({ length: b - a }, (_, k) => a + k);
    if (score) idx.sort((x, y) => score[y] - score[x] || x - y);
    keep.push(...idx.slice(0, quota).sort((x, y) => x - y));
  }
  return keep;
}

/** For a chunking whose chunks keep different counts: the counts, else undefined. */
export function unevenChunks(
  spaces: Spaces,
  ch: Chunking,
  keepOf: (root: SpaceId) => readonly number[] | undefined,
): number[] | undefined {
  const segs = spaces.resolve(ch.segs);
  const total = segs.reduce((n, s) => n + spaces.size(s), 0);
  const size = total / ch.chunks;
  const counts = new Array<number>(ch.chunks).fill(0);
  let start = 0;
  for (const s of segs) {
    const keep = keepOf(spaces.find(s)) ?? Array.from({ length: spaces.size(s) }, (_, i) => i);
    for (const i of keep) counts[Math.floor((start + i) / size)]++;
    start += spaces.size(s);
  }
  return counts.every((c) => c === counts[0]) ? undefined : counts;
}

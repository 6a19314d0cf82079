// Where a value's channels sit. A layout names the channel spaces (`segs`,
// concatenated in order) and, per tensor axis, what that axis is made of:
// nothing channel-related ([]), or components from outer to inner: the whole
// channel index (`all`), or its two factors after a reshape split it into
// `outer` × `inner` (heads × head_dim, groups × channels-per-group), merged
// with other dims (`x`) where a reshape merged them.
//
//   [B, C, H, W]                 axes: [], [all], [], []
//   Reshape → [B, 32, C/32·H·W]  axes: [], [outer 32], [inner C/32, x H, x W]   (GroupNorm)
//   [B, S, C] → [B·8, S, C/8]    axes: [x B, outer 8], [], [inner C/8]           (attention heads)
//
// A reshape that splits the channel index requires every outer chunk to keep
// the same number of channels; that is a chunking, recorded by the caller.
import type { SpaceId } from './spaces.ts';

export type Comp = { k: 'x' | 'all' | 'outer' | 'inner'; size: number };

export interface Layout {
  segs: SpaceId[];
  /** One entry per tensor axis; [] where the axis carries no channels. */
  axes: Comp[][];
}

export const isChannel = (c: Comp) => c.k !== 'x';

/** The axis holding the whole channel index alone ([B, C, H, W]'s 1), or -1. */
export function plainAxis(l: Layout): number {
  const at = l.axes.findIndex((a) => a.length > 0);
  if (at < 0 || l.axes[at].length !== 1 || l.axes[at][0].k !== 'all') return -1;
  return l.axes.every((a, k) => k === at || a.length === 0) ? at : -1;
}

export function plain(segs: SpaceId[], size: number, rank: number, axis: number): Layout {
  return { segs, axes: Array.from({ length: rank }, (_, k) => (k === axis ? [{ k: 'all' as const, size }] : [])) };
}

/** The layout as seen from an output of rank `rank` under numpy broadcasting (leading axes added). */
export function align(l: Layout, rank: number): Layout {
  const pad = rank - l.axes.length;
  return pad <= 0 ? l : { segs: l.segs, axes: [...Array.from({ length: pad }, () => []), ...l.axes] };
}

export function sameStructure(a: Layout, b: Layout): boolean {
  return (
    a.axes.length === b.axes.length &&
    a.axes.every(
      (ax, k) =>
        ax.length === b.axes[k].length && ax.every((c, i) => c.k === b.axes[k][i].k && c.size === b.axes[k][i].size),
    )
  );
}

export type Walk = { layout: Layout; split?: number } | { fail: string };

/**
 * The layout after a reshape from `from` to `to` (both static): the flat
 * component sequence is regrouped into the new axes, splitting the channel
 * index into outer × inner where an axis boundary falls inside it.
 */
export function reshapeLayout(l: Layout, from: readonly number[], to: readonly number[]): Walk {
  const queue: Comp[] = [];
  l.axes.forEach((ax, k) => queue.push(...(ax.length ? ax : [{ k: 'x' as const, size: from[k] }])));
  const q = queue.filter((c) => c.size !== 1).map((c) => ({ ...c }));
  let split: number | undefined;
  const axes: Comp[][] = [];
  for (const size of to) {
    const list: Comp[] = [];
    let acc = 1;
    while (acc < size) {
      const c = q[0];
      if (!c) return { fail: `reshape ${fmt(from)} → ${fmt(to)} ran out of dims` };
      const need = size / acc;
      if (!Number.isInteger(need)) return { fail: `reshape ${fmt(from)} → ${fmt(to)} does not regroup whole dims` };
      if (need % c.size === 0) {
        list.push(q.shift()!);
        acc *= c.size;
      } else if (c.size % need === 0) {
        if (c.k === 'x') {
          list.push({ k: 'x', size: need });
          c.size /= need;
        } else if (c.k === 'all') {
          list.push({ k: 'outer', size: need });
          q[0] = { k: 'inner', size: c.size / need };
          split = need;
        } else {
          return { fail: `reshape ${fmt(from)} → ${fmt(to)} splits channels that are already split` };
        }
        acc = size;
      } else {
        return { fail: `reshape ${fmt(from)} → ${fmt(to)} cuts across channels` };
      }
    }
    axes.push(list);
  }
  if (q.length) return { fail: `reshape ${fmt(from)} → ${fmt(to)} leaves dims over` };
  const out = axes.map((list) => {
    const merged: Comp[] = [];
    for (const c of list) {
      const prev = merged[merged.length - 1];
      if (prev?.k === 'outer' && c.k === 'inner') merged[merged.length - 1] = { k: 'all', size: prev.size * c.size };
      else merged.push(c);
    }
    return merged.some(isChannel) ? merged : [];
  });
  const kinds = out
    .flat()
    .filter(isChannel)
    .map((c) => c.k)
    .sort()
    .join(',');
  if (kinds !== 'all' && kinds !== 'inner,outer')
    return { fail: `reshape ${fmt(from)} → ${fmt(to)} scatters channels (${kinds || 'none'})` };
  return { layout: { segs: l.segs, axes: out }, split };
}

/** Sizes of each axis once the channel index has `width` channels (of `total`). */
export function resizedShape(l: Layout, shape: readonly number[], total: number, width: number): number[] {
  return shape.map((d, k) => {
    const ax = l.axes[k];
    if (!ax?.length) return d;
    return ax.reduce(
      (n, c) =>
        n * (c.k === 'x' ? c.size : c.k === 'all' ? width : c.k === 'inner' ? (c.size * width) / total : c.size),
      1,
    );
  });
}

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

// Channel importance per dependency group: for each channel, the magnitude of
// every weight slice pruning would remove with it — the rows of the ops that
// produce it and the columns of the ops that consume it (DepGraph's group
// norm). L1 by default, L2 on request. Weights stream through one chunk at a
// time; a class any of whose weights is absent (graph-only model) gets none.
import { hasBytes, streamFloats } from '../../ir/weight-io.ts';
import type { ChannelGroups } from './groups.ts';
import type { SpaceId } from './spaces.ts';

export type ImportanceKind = 'l1' | 'l2';

/** Importance per channel for each requested class (by representative); classes lacking weights are absent. */
export function channelImportance(
  groups: ChannelGroups,
  classes: ReadonlySet<SpaceId>,
  kind: ImportanceKind,
): Map<SpaceId, Float64Array> {
  const { spaces } = groups;
  const scores = new Map<SpaceId, Float64Array>();
  const missing = new Set<SpaceId>();
  for (const root of classes) scores.set(root, new Float64Array(spaces.size(root)));
  for (const byAxis of groups.weights.values()) {
    for (const wa of byAxis.values()) {
      if (!wa.roles.has('source') && !wa.roles.has('sink')) continue;
      const segs = spaces.resolve(wa.segs);
      const w = wa.value.weight!;
      // Along the axis: which score array and which channel each position feeds.
      const target: (Float64Array | undefined)[] = [];
      const channel: number[] = [];
      let any = false;
      for (const s of segs) {
        const root = spaces.find(s);
        const arr = scores.get(root);
        if (arr && !hasBytes(w)) missing.add(root);
        for (let i = 0; i < spaces.size(s); i++) {
          target.push(arr);
          channel.push(i);
        }
        any ||= !!arr;
      }
      if (!any || !hasBytes(w)) continue;
      const dims = w.dims;
      const inner = dims.slice(wa.axis + 1).reduce((a, b) => a * b, 1);
      const len = dims[wa.axis];
      streamFloats(w, (values, start) => {
        for (let j = 0; j < values.length; j++) {
          const pos = Math.floor((start + j) / inner) % len;
          const arr = target[pos];
          if (!arr) continue;
          const x = values[j];
          arr[channel[pos]] += kind === 'l1' ? Math.abs(x) : x * x;
        }
      });
    }
  }
  for (const r of missing) scores.delete(r);
  return scores;
}

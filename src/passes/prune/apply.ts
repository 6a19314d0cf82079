// Applying the chosen channels: every affected weight is replaced by a lazy
// slice of itself (streamed when saved), and shapes baked into constants are
// rewritten — Reshape targets, Slice bounds, Split sizes — so the graph
// computes the same function on fewer channels:
//
//   Reshape(x, [0, 0, 8, 40])          → Reshape(x, [0, 0, 8, 20])        (attention heads, head_dim halved)
//   Split(h, [640, 640], axis=-1)      → Split(h, [320, 320], axis=-1)    (GEGLU halves)
//
// Targets computed at run time from Shape (what torch.onnx writes) need
// nothing: they follow the new sizes by themselves.
import type { Graph, Node, Value } from '../../ir/graph.ts';
import { protoValue, weightValue } from '../../ir/infer/tensor-value.ts';
import { onnx } from '../../onnx/proto.ts';
import { resizedShape } from './layout.ts';
import type { ChannelGroups } from './groups.ts';
import type { SpaceId } from './spaces.ts';
import { int64Weight, sliceWeight } from '../../ir/weight-io.ts';

export type KeepOf = (root: SpaceId) => readonly number[] | undefined;

const shapeOf = (v: Value | undefined): number[] | undefined => {
  const s = v?.type?.shape;
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
};

/** Kept positions along a segment list, or undefined when all stay. */
export function keptAlong(groups: ChannelGroups, segs: readonly SpaceId[], keepOf: KeepOf): number[] | undefined {
  const { spaces } = groups;
  const out: number[] = [];
  let at = 0;
  let cut = false;
  for (const s of spaces.resolve(segs)) {
    const k = keepOf(spaces.find(s));
    const size = spaces.size(s);
    if (k) {
      cut = true;
      for (const i of k) out.push(at + i);
    } else for (let i = 0; i < size; i++) out.push(at + i);
    at += size;
  }
  return cut ? out : undefined;
}

/** The new static shape of every value whose channels change. */
export function resizedValues(groups: ChannelGroups, keepOf: KeepOf): Map<Value, number[]> {
  const out = new Map<Value, number[]>();
  for (const [v, l] of groups.layouts) {
    const shape = shapeOf(v);
    const kept = keptAlong(groups, l.segs, keepOf);
    if (!shape || !kept) continue;
    out.set(v, resizedShape(l, shape, groups.spaces.total(l.segs), kept.length));
  }
  return out;
}

/** Slices every weight along its pruned axes. Returns how many weights changed. */
export function sliceWeights(groups: ChannelGroups, keepOf: KeepOf): number {
  let n = 0;
  for (const [v, byAxis] of groups.weights) {
    const w = v.weight!;
    const keep: (number[] | undefined)[] = w.dims.map(() => undefined);
    for (const wa of byAxis.values()) keep[wa.axis] = keptAlong(groups, wa.segs, keepOf);
    if (keep.every((k) => !k)) continue;
    v.weight = sliceWeight(w, keep);
    v.type = { dtype: w.dtype, shape: [...v.weight.dims] };
    n++;
  }
  return n;
}

/** Rewrites constant shape operands; returns how many constants were replaced. */
export function rewriteShapeConstants(
  g: Graph,
  groups: ChannelGroups,
  keepOf: KeepOf,
  resized: Map<Value, number[]>,
): number {
  let count = 0;
  for (const n of [...g.nodes()]) {
    if (n.op === 'Reshape') {
      const out = n.outputs[0]!;
      const ns = resized.get(out);
      const os = shapeOf(out);
      if (!ns || !os) continue;
      count += rewriteVector(g, n, 1, (i, old) => (old > 0 && os[i] !== ns[i] ? ns[i] : old));
    } else if (n.op === 'Slice') {
      count += rewriteSlice(g, n, groups, keepOf);
    } else if (n.op === 'Split') {
      count += rewriteSplit(g, n, resized);
    }
  }
  return count;
}

function rewriteSlice(g: Graph, n: Node, groups: ChannelGroups, keepOf: KeepOf): number {
  const l = groups.layouts.get(n.inputs[0]!);
  const xs = shapeOf(n.inputs[0]);
  if (!l || !xs) return 0;
  const kept = keptAlong(groups, l.segs, keepOf);
  if (!kept) return 0;
  const axes = n.inputs[3] ? literal(n.inputs[3]) : xs.map((_, i) => i);
  if (!axes) return 0;
  const before = (p: number) => kept.filter((i) => i < p).length;
  let count = 0;
  for (const index of [1, 2]) {
    count += rewriteVector(g, n, index, (i, old) => {
      const a = axes[i] < 0 ? axes[i] + xs.length : axes[i];
      if (!l.axes[a]?.length) return old;
      const size = xs[a];
      const v = old < 0 ? old + size : old;
      return v >= size ? old : before(Math.max(v, 0));
    });
  }
  return count;
}

function rewriteSplit(g: Graph, n: Node, resized: Map<Value, number[]>): number {
  const xs = shapeOf(n.inputs[0]);
  if (!xs || !n.outputs.some((v) => v && resized.has(v))) return 0;
  const axisAttr = n.attr('axis');
  const rank = xs.length;
  const axis = ((Number(axisAttr?.i ?? 0) % rank) + rank) % rank;
  const sizes = n.outputs.map((v) => (resized.get(v!) ?? shapeOf(v))?.[axis] ?? 0);
  if (n.inputs[1]) return rewriteVector(g, n, 1, (i) => sizes[i]);
  const attr = n.attr('split');
  if (attr) {
    n.attrs = n.attrs.map((a) =>
      a.name === 'split'
        ? onnx.AttributeProto.create({ name: 'split', type: onnx.AttributeProto.AttributeType.INTS, ints: sizes })
        : a,
    );
    return 1;
  }
  // An equal split stays equal only if every part kept the same count; else name the sizes.
  if (sizes.every((s) => s === sizes[0])) return 0;
  const v = g.addWeight(g.uniqueName(`${n.name}_split`), int64Weight(sizes));
  g.setInput(n, 1, v);
  n.attrs = n.attrs.filter((a) => a.name !== 'num_outputs');
  return 1;
}

/** A 1-D int tensor written in the model (initializer or Constant node), or undefined. */
function literal(v: Value | undefined): number[] | undefined {
  if (!v) return undefined;
  if (v.weight) return weightValue(v.weight)?.data.map(Number);
  const p = v.producer;
  if (p?.op === 'Constant') {
    const t = p.attr('value')?.t;
    if (t) return protoValue(t)?.data.map(Number);
    const ints = p.attr('value_ints')?.ints;
    if (ints) return ints.map(Number);
  }
  return undefined;
}

/**
 * Rewrites entry i of the 1-D int vector read by `node` at `index` to
 * fix(i, old), where it is written as a literal; a Concat of parts is followed
 * into each part. Parts computed at run time are left alone.
 */
function rewriteVector(g: Graph, node: Node, index: number, fix: (i: number, old: number) => number): number {
  const v = node.inputs[index];
  if (!v) return 0;
  const vals = literal(v);
  if (vals) {
    const next = vals.map((x, i) => fix(i, x));
    if (next.every((x, i) => x === vals[i])) return 0;
    const w = g.addWeight(g.uniqueName(`${v.name}_pruned`), int64Weight(next));
    g.setInput(node, index, w);
    return 1;
  }
  const p = v.producer;
  if (p?.op === 'Concat') {
    let at = 0;
    let count = 0;
    p.inputs.forEach((part, k) => {
      const len = shapeOf(part)?.[0] ?? 1;
      const base = at;
      count += rewriteVector(g, p, k, (i, old) => fix(base + i, old));
      at += len;
    });
    return count;
  }
  return 0;
}

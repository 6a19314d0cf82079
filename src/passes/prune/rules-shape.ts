// Channel rules for ops that move data without computing on it: reshapes
// (which may split channels into groups or heads, or take their target from
// another tensor's shape), transposes, concats (skip connections) and the
// slices and splits that cut a channel axis (GEGLU halves).
import type { Value } from '../../ir/graph.ts';
import { plain, plainAxis, reshapeLayout, type Layout } from './layout.ts';
import type { SpaceId } from './spaces.ts';
import {
  constInts,
  freezeInputs,
  intAttr,
  intsAttr,
  isWeight,
  norm,
  shapeOf,
  unite,
  why,
  type Rule,
  type RuleContext,
} from './rule-context.ts';

/**
 * The tensors whose channel dims a computed shape reads: Shape(x) feeding the
 * shape arithmetic, through Gather of single dims, Concat, Unsqueeze, casts
 * and integer math. A Gather that picks a dim with no channels is no tie.
 */
function shapeSources(c: RuleContext, v: Value | undefined, seen = new Set<Value>()): Layout[] {
  if (!v || seen.has(v) || v.weight) return [];
  seen.add(v);
  const p = v.producer;
  if (!p) return [];
  if (p.op === 'Shape') {
    const l = c.layout(p.inputs[0]);
    return l ? [l] : [];
  }
  if (p.op === 'Gather' && p.inputs[0]?.producer?.op === 'Shape') {
    const l = c.layout(p.inputs[0].producer.inputs[0]);
    const idx = constInts(c, p.inputs[1]);
    if (!l) return [];
    if (idx && idx.every((i) => !l.axes[norm(i, l.axes.length)]?.length)) return [];
    return [l];
  }
  if (
    ![
      'Concat',
      'Unsqueeze',
      'Squeeze',
      'Cast',
      'Mul',
      'Div',
      'Add',
      'Sub',
      'Gather',
      'Slice',
      'Reshape',
      'Identity',
    ].includes(p.op)
  )
    return [];
  return p.inputs.flatMap((i) => shapeSources(c, i, seen));
}

export const reshape: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (n.op === 'Reshape') for (const src of shapeSources(c, n.inputs[1])) if (l) c.tie(n, l, src);
  if (!l) return;
  for (let i = 1; i < n.inputs.length; i++) if (isWeight(n.inputs[i])) c.touch(n, i);
  const from = shapeOf(n.inputs[0]);
  const to = shapeOf(n.outputs[0]);
  if (!from || !to) return c.freeze(l, why(n, 'has a shape that is not static'));
  const w = reshapeLayout(l, from, to);
  if ('fail' in w) return c.freeze(l, why(n, w.fail));
  if (w.split) {
    const norms = n.outputs[0]!.uses.some((u) => u.node.op === 'InstanceNormalization');
    c.chunk(w.layout.segs, w.split, n, norms ? `GroupNorm with ${w.split} groups` : `a split into ${w.split} heads`);
  }
  c.set(n.outputs[0], w.layout);
};

export const transpose: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const perm = intsAttr(n, 'perm') ?? l.axes.map((_, k) => l.axes.length - 1 - k);
  c.set(n.outputs[0], { segs: l.segs, axes: perm.map((p) => l.axes[p]) });
};

export const concat: Rule = (n, c) => {
  const out = n.outputs[0];
  const os = shapeOf(out);
  const ls = n.inputs.map((v) => c.layout(v));
  if (!ls.some((l) => l)) return;
  if (!os) return freezeInputs(n, c, 'has an output of unknown shape');
  const axis = norm(intAttr(n, 'axis', 0), os.length);
  const along = ls.some((l) => l && l.axes[axis]?.length);
  if (!along) {
    let acc: Layout | undefined;
    for (const l of ls) if (l) acc = acc ? unite(n, c, acc, l) : l;
    if (ls.some((l) => !l)) return c.freeze(acc, why(n, 'joins them with tensors that have no matching channels'));
    return c.set(out, acc);
  }
  // A skip concat: the channel axis is the concatenation of each input's spaces.
  const segs: SpaceId[] = [];
  let ok = true;
  n.inputs.forEach((v, i) => {
    const l = ls[i];
    if (l && plainAxis(l) === axis) segs.push(...l.segs);
    else if (l) ok = false;
    else {
      const d = shapeOf(v)?.[axis];
      if (d === undefined) ok = false;
      else if (d > 0)
        segs.push(
          c.spaces.create(d, undefined, why(n, `joins them with '${v?.name}', whose channels are not tracked`)),
        );
    }
  });
  if (!ok) return freezeInputs(n, c, 'concatenates channels that are split across axes');
  c.set(out, plain(segs, os[axis], os.length, axis));
};

/** The spaces in [start, end) of a segment list, cutting spaces at the ends. */
function range(c: RuleContext, segs: SpaceId[], start: number, end: number): SpaceId[] {
  for (const at of [start, end]) {
    let s0 = 0;
    for (const s of c.spaces.resolve(segs)) {
      const e0 = s0 + c.spaces.size(s);
      if (at > s0 && at < e0) {
        c.spaces.cut(s, at - s0);
        break;
      }
      s0 = e0;
    }
  }
  const out: SpaceId[] = [];
  let s0 = 0;
  for (const s of c.spaces.resolve(segs)) {
    if (s0 >= start && s0 < end) out.push(s);
    s0 += c.spaces.size(s);
  }
  return out;
}

export const slice: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const xs = shapeOf(n.inputs[0]);
  const starts = constInts(c, n.inputs[1]);
  const ends = constInts(c, n.inputs[2]);
  const axes = n.inputs[3] ? constInts(c, n.inputs[3]) : starts?.map((_, i) => i);
  const steps = n.inputs[4] ? constInts(c, n.inputs[4]) : starts?.map(() => 1);
  for (let i = 1; i < n.inputs.length; i++) if (isWeight(n.inputs[i])) c.touch(n, i);
  if (!xs || !starts || !ends || !axes || !steps) return c.freeze(l, why(n, 'slices with bounds that are not known'));
  let segs = l.segs;
  const outAxes = l.axes.map((a) => a);
  for (let i = 0; i < axes.length; i++) {
    const a = norm(axes[i], xs.length);
    if (!l.axes[a].length) continue;
    const size = xs[a];
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
    const [s, e] = [clamp(starts[i]), clamp(ends[i])];
    if (s === 0 && e === size && steps[i] === 1) continue;
    if (plainAxis(l) !== a || steps[i] !== 1 || e <= s)
      return c.freeze(l, why(n, 'slices channels with a step or across split axes'));
    segs = range(c, l.segs, s, e);
    outAxes[a] = [{ k: 'all', size: e - s }];
  }
  c.set(n.outputs[0], { segs, axes: outAxes });
};

export const split: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const xs = shapeOf(n.inputs[0]);
  if (!xs) return c.freeze(l, why(n, 'has an input of unknown shape'));
  const axis = norm(intAttr(n, 'axis', 0), xs.length);
  if (n.inputs[1]) c.touch(n, 1);
  if (!l.axes[axis].length) {
    for (const v of n.outputs) c.set(v, l);
    return;
  }
  if (plainAxis(l) !== axis) return c.freeze(l, why(n, 'splits channels that are split across axes'));
  const sizes = n.outputs.map((v) => shapeOf(v)?.[axis]);
  if (sizes.some((s) => s === undefined)) return c.freeze(l, why(n, 'has outputs of unknown shape'));
  let at = 0;
  n.outputs.forEach((v, i) => {
    const segs = range(c, l.segs, at, at + sizes[i]!);
    c.set(v, plain(segs, sizes[i]!, xs.length, axis));
    at += sizes[i]!;
  });
};

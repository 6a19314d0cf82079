// How each op carries channels from its inputs to its outputs: one row per op
// type. A rule reads input layouts, sets output layouts, and records through
// the context what must be sliced together; anything it cannot follow it
// freezes, with a reason a user can read.
import type { Node, Value } from '../../ir/graph.ts';
import type { ConstTensor } from '../../ir/infer/index.ts';
import { weightValue } from '../../ir/infer/tensor-value.ts';
import { align, isChannel, plain, plainAxis, reshapeLayout, sameStructure, type Comp, type Layout } from './layout.ts';
import type { Spaces, SpaceId } from './spaces.ts';
import type { WeightRole } from './groups.ts';

export interface RuleContext {
  spaces: Spaces;
  constants: Map<Value, ConstTensor>;
  layout(v: Value | undefined): Layout | undefined;
  set(v: Value | undefined, l: Layout | undefined): void;
  freeze(l: Layout | undefined, why: string): void;
  /** Input `index` of `node` is a weight whose `axis` runs along `segs`. */
  weight(node: Node, index: number, axis: number, segs: SpaceId[], role: WeightRole): void;
  /** Input `index` of `node` is a weight the rule looked at and needs no slicing. */
  touch(node: Node, index: number): void;
  chunk(segs: SpaceId[], chunks: number, node: Node, what: string): void;
}

type Rule = (n: Node, c: RuleContext) => void;

const shapeOf = (v: Value | undefined): number[] | undefined => {
  const s = v?.type?.shape;
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
};
const isWeight = (v: Value | undefined): v is Value => !!v?.weight;
const intAttr = (n: Node, name: string, dflt: number) => {
  const a = n.attr(name);
  return a?.i !== undefined && a.i !== null ? Number(a.i) : dflt;
};
const intsAttr = (n: Node, name: string): number[] | undefined => n.attr(name)?.ints?.map(Number);

function constInts(c: RuleContext, v: Value | undefined): number[] | undefined {
  if (!v) return undefined;
  const t = c.constants.get(v) ?? (v.weight ? weightValue(v.weight) : undefined);
  return t?.data.map(Number);
}

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const why = (n: Node, what: string) => `'${n.name}' (${n.op}) ${what}`;

function freezeInputs(n: Node, c: RuleContext, what: string): void {
  for (const v of n.inputs) c.freeze(c.layout(v), why(n, what));
}

/** Opens a new channel space for an op's output channels. */
function source(n: Node, c: RuleContext, size: number, rank: number, axis: number): Layout {
  const s = c.spaces.create(size, n);
  const l = plain([s], size, rank, axis);
  c.set(n.outputs[0], l);
  return l;
}

/** Makes two layouts one (same channels at the same places); freezes both if their structure differs. */
function unite(n: Node, c: RuleContext, a: Layout, b: Layout): Layout {
  if (sameStructure(a, b)) c.spaces.unite(a.segs, b.segs);
  else {
    c.freeze(a, why(n, 'combines differently arranged channels'));
    c.freeze(b, why(n, 'combines differently arranged channels'));
  }
  return a;
}

const passThrough: Rule = (n, c) => c.set(n.outputs[0], c.layout(n.inputs[0]));

/** Numpy-broadcast element-wise ops: activations are united, per-channel weights sliced along. */
function elementwise(inputs?: number[]): Rule {
  return (n, c) => {
    const out = n.outputs[0];
    const rank = shapeOf(out)?.length;
    const idx = inputs ?? n.inputs.map((_, i) => i);
    let acc: Layout | undefined;
    for (const i of idx) {
      const l = c.layout(n.inputs[i]);
      if (!l) continue;
      if (rank === undefined) {
        c.freeze(l, why(n, 'has an output of unknown rank'));
        continue;
      }
      acc = acc ? unite(n, c, acc, align(l, rank)) : align(l, rank);
    }
    if (!acc || rank === undefined) return;
    for (const i of idx) {
      const v = n.inputs[i];
      if (!v || c.layout(v)) continue;
      const s = shapeOf(v);
      if (!s) {
        c.freeze(acc, why(n, `combines them with '${v.name}' of unknown shape`));
        continue;
      }
      const pad = rank - s.length;
      let used = false;
      acc.axes.forEach((ax, k) => {
        const d = k >= pad ? s[k - pad] : 1;
        if (!ax.length || d === 1) return;
        if (isWeight(v) && ax.length === 1 && ax[0].k === 'all' && ax[0].size === d) {
          c.weight(n, i, k - pad, acc!.segs, 'param');
          used = true;
        } else {
          c.freeze(acc, why(n, `combines them with '${v.name}', which has ${d} entries along their axis and cannot be sliced`));
        }
      });
      if (!used && isWeight(v)) c.touch(n, i);
    }
    c.set(out, acc);
  };
}

const conv: Rule = (n, c) => {
  const [x, w, b] = n.inputs;
  const ws = shapeOf(w);
  const ys = shapeOf(n.outputs[0]);
  const lx = c.layout(x);
  if (!isWeight(w) || !ws || !ys) return c.freeze(lx, why(n, 'has a weight that is not a plain initializer'));
  if (intAttr(n, 'group', 1) !== 1) {
    c.freeze(lx, why(n, 'is a grouped convolution'));
    c.set(n.outputs[0], plain([c.spaces.create(ws[0], n, why(n, 'is a grouped convolution'))], ws[0], ys.length, 1));
    return;
  }
  if (lx) {
    if (plainAxis(lx) === 1) c.weight(n, 1, 1, lx.segs, 'sink');
    else c.freeze(lx, why(n, 'reads them split across axes'));
  }
  const l = source(n, c, ws[0], ys.length, 1);
  c.weight(n, 1, 0, l.segs, 'source');
  if (isWeight(b)) c.weight(n, 2, 0, l.segs, 'param');
  else if (b) c.freeze(l, why(n, 'has a bias that is not an initializer'));
};

const convTranspose: Rule = (n, c) => {
  const [x, w, b] = n.inputs;
  const ws = shapeOf(w);
  const ys = shapeOf(n.outputs[0]);
  const lx = c.layout(x);
  if (!isWeight(w) || !ws || !ys || intAttr(n, 'group', 1) !== 1) return c.freeze(lx, why(n, 'is grouped or has a weight that is not an initializer'));
  if (lx) {
    if (plainAxis(lx) === 1) c.weight(n, 1, 0, lx.segs, 'sink');
    else c.freeze(lx, why(n, 'reads them split across axes'));
  }
  const l = source(n, c, ws[1], ys.length, 1);
  c.weight(n, 1, 1, l.segs, 'source');
  if (isWeight(b)) c.weight(n, 2, 0, l.segs, 'param');
};

const matmul: Rule = (n, c) => {
  const [a, b] = n.inputs;
  const out = n.outputs[0];
  const os = shapeOf(out);
  const la = c.layout(a);
  const lb = c.layout(b);
  if (!os) return freezeInputs(n, c, 'has an output of unknown shape');
  if (isWeight(b) && b.weight!.dims.length === 2) {
    const ra = la?.axes.length ?? 0;
    if (la) {
      if (plainAxis(la) === ra - 1) c.weight(n, 1, 0, la.segs, 'sink');
      else c.freeze(la, why(n, 'does not contract over them'));
    }
    const l = source(n, c, b.weight!.dims[1], os.length, os.length - 1);
    c.weight(n, 1, 1, l.segs, 'source');
    return;
  }
  // Two activations (attention's QKᵀ and P·V).
  const r = os.length;
  if (isWeight(a) || (la && la.axes.length !== r) || (lb && lb.axes.length !== r)) return freezeInputs(n, c, 'multiplies them in a way pruning does not follow');
  const contractA = !!la?.axes[r - 1].length;
  const contractB = !!lb?.axes[r - 2].length;
  if (contractA !== contractB) return freezeInputs(n, c, 'contracts them against channels it cannot slice');
  if (contractA && la && lb) {
    // QKᵀ: query and key channels meet; nothing channel-indexed remains.
    const okRows = !la.axes[r - 2].length && !lb.axes[r - 1].length;
    if (!okRows || !la.axes.every((ax, k) => k >= r - 2 || sameComps(ax, lb.axes[k])) || !sameComps(la.axes[r - 1], lb.axes[r - 2])) {
      return freezeInputs(n, c, 'contracts channels arranged differently');
    }
    c.spaces.unite(la.segs, lb.segs);
    return;
  }
  // P·V: the channels of whichever operand has them pass through.
  const rowsA = !!la?.axes[r - 2].length;
  const colsB = !!lb?.axes[r - 1].length;
  if (rowsA && colsB) return freezeInputs(n, c, 'mixes channels of both operands');
  const keep = rowsA ? la : colsB ? lb : undefined;
  const other = keep === la ? lb : la;
  if (!keep) return freezeInputs(n, c, 'carries only part of a channel split');
  if (other) c.freeze(other, why(n, 'carries only part of a channel split'));
  c.set(out, keep);
};

const sameComps = (a: Comp[], b: Comp[]) => a.length === b.length && a.every((x, i) => x.k === b[i].k && x.size === b[i].size);

const gemm: Rule = (n, c) => {
  const [a, b, bias] = n.inputs;
  const la = c.layout(a);
  const ws = shapeOf(b);
  if (!isWeight(b) || !ws || intAttr(n, 'transA', 0)) return c.freeze(la, why(n, 'has a weight that is not a plain initializer'));
  const transB = intAttr(n, 'transB', 0);
  if (la) {
    if (plainAxis(la) === 1) c.weight(n, 1, transB ? 1 : 0, la.segs, 'sink');
    else c.freeze(la, why(n, 'reads them split across axes'));
  }
  const l = source(n, c, transB ? ws[0] : ws[1], 2, 1);
  c.weight(n, 1, transB ? 0 : 1, l.segs, 'source');
  const bs = shapeOf(bias);
  if (bias && bs) {
    const last = bs[bs.length - 1];
    if (isWeight(bias) && bs.length && last === l.axes[1][0].size) c.weight(n, 2, bs.length - 1, l.segs, 'param');
    else if (isWeight(bias) && (!bs.length || last === 1)) c.touch(n, 2);
    else c.freeze(l, why(n, 'adds a bias pruning cannot slice'));
  }
};

/** Embedding lookup (Gather from a weight table): a source over the table's columns. */
const gather: Rule = (n, c) => {
  const [data, indices] = n.inputs;
  const out = n.outputs[0];
  const os = shapeOf(out);
  const axis = intAttr(n, 'axis', 0);
  if (isWeight(data) && data.weight!.dims.length === 2 && norm(axis, 2) === 0 && os) {
    const l = source(n, c, data.weight!.dims[1], os.length, os.length - 1);
    c.weight(n, 0, 1, l.segs, 'source');
    return;
  }
  const l = c.layout(data);
  if (!l) return;
  c.freeze(c.layout(indices), why(n, 'uses them as indices'));
  const a = norm(axis, l.axes.length);
  const ir = shapeOf(indices)?.length;
  if (l.axes[a].length || ir === undefined) return c.freeze(l, why(n, 'gathers along their axis'));
  c.set(out, { segs: l.segs, axes: [...l.axes.slice(0, a), ...Array.from({ length: ir }, () => []), ...l.axes.slice(a + 1)] });
};

const reshape: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
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

const transpose: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const perm = intsAttr(n, 'perm') ?? l.axes.map((_, k) => l.axes.length - 1 - k);
  c.set(n.outputs[0], { segs: l.segs, axes: perm.map((p) => l.axes[p]) });
};

const concat: Rule = (n, c) => {
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
      else if (d > 0) segs.push(c.spaces.create(d, undefined, why(n, `joins them with '${v?.name}', whose channels are not tracked`)));
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

const slice: Rule = (n, c) => {
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
    if (plainAxis(l) !== a || steps[i] !== 1 || e <= s) return c.freeze(l, why(n, 'slices channels with a step or across split axes'));
    segs = range(c, l.segs, s, e);
    outAxes[a] = [{ k: 'all', size: e - s }];
  }
  c.set(n.outputs[0], { segs, axes: outAxes });
};

const split: Rule = (n, c) => {
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

/** Reductions: reducing over channels ends them; other axes pass. */
const reduce: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const rank = l.axes.length;
  const keep = intAttr(n, 'keepdims', 1);
  const axes = intsAttr(n, 'axes') ?? (n.inputs[1] ? constInts(c, n.inputs[1]) : undefined);
  if (n.inputs[1] && isWeight(n.inputs[1])) c.touch(n, 1);
  if (n.inputs[1] && !axes) return c.freeze(l, why(n, 'reduces over axes that are not known'));
  if (!axes?.length && intAttr(n, 'noop_with_empty_axes', 0)) return passThrough(n, c);
  const set = new Set((axes?.length ? axes : l.axes.map((_, k) => k)).map((a) => norm(a, rank)));
  if ([...set].some((a) => l.axes[a].length)) return;
  c.set(n.outputs[0], { segs: l.segs, axes: keep ? l.axes.map((ax, k) => (set.has(k) ? [] : ax)) : l.axes.filter((_, k) => !set.has(k)) });
};

const softmax: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const rank = l.axes.length;
  // Before opset 13 the op flattened every axis from `axis` on: channels on any of them are mixed.
  const axis = norm(intAttr(n, 'axis', -1), rank);
  if (l.axes.some((ax, k) => ax.length && k >= axis)) return c.freeze(l, why(n, 'normalizes across them'));
  passThrough(n, c);
};

/** Per-channel normalization ops: the channel axis passes, scale and bias are sliced with it. */
function perChannel(params: number[]): Rule {
  return (n, c) => {
    const l = c.layout(n.inputs[0]);
    if (!l) return;
    for (const i of params) if (isWeight(n.inputs[i])) c.touch(n, i);
    if (l.axes[1]?.length === 1 && l.axes[1][0].k === 'all') {
      const size = l.axes[1][0].size;
      if (params.some((i) => n.inputs[i] && !isWeight(n.inputs[i]))) {
        // GroupNorm as InstanceNorm with one channel per group: its constant unit scale is per group.
        c.chunk(l.segs, size, n, `GroupNorm with ${size} groups of one channel`);
      } else {
        for (const i of params) if (n.inputs[i]) c.weight(n, i, 0, l.segs, 'param');
      }
    }
    // Groups on axis 1 (GroupNorm as InstanceNorm): the chunking was recorded at the reshape.
    c.set(n.outputs[0], l);
  };
}

const layerNorm: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const rank = l.axes.length;
  const axis = norm(intAttr(n, 'axis', -1), rank);
  for (const i of [1, 2]) {
    if (!n.inputs[i]) continue;
    if (!isWeight(n.inputs[i])) return c.freeze(l, why(n, 'has parameters that are not initializers'));
    c.touch(n, i);
    for (let k = axis; k < rank; k++) {
      if (!l.axes[k].length) continue;
      if (l.axes[k].length === 1 && l.axes[k][0].k === 'all') c.weight(n, i, k - axis, l.segs, 'param');
      else return c.freeze(l, why(n, 'normalizes over split channels'));
    }
  }
  c.set(n.outputs[0], l);
};

const groupNorm: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  const groups = intAttr(n, 'num_groups', 1);
  if (plainAxis(l) !== 1) return c.freeze(l, why(n, 'normalizes over split channels'));
  c.chunk(l.segs, groups, n, `GroupNorm with ${groups} groups`);
  for (const i of [1, 2]) {
    const v = n.inputs[i];
    if (!isWeight(v)) continue;
    // Opset 21 scales per channel; opset 18 per group (those stay).
    if (v.weight!.dims[0] === l.axes[1][0].size && groups !== v.weight!.dims[0]) c.weight(n, i, 0, l.segs, 'param');
    else c.touch(n, i);
  }
  c.set(n.outputs[0], l);
};

/** Ops that only read a tensor's shape: its channels do not matter to them. */
const shapeOnly: Rule = () => {};

const resize: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  for (let i = 1; i < n.inputs.length; i++) if (isWeight(n.inputs[i])) c.touch(n, i);
  const xs = shapeOf(n.inputs[0]);
  const ys = shapeOf(n.outputs[0]);
  if (!xs || !ys || l.axes.some((ax, k) => ax.length && xs[k] !== ys[k])) return c.freeze(l, why(n, 'resizes along them'));
  passThrough(n, c);
};

const pad: Rule = (n, c) => {
  const l = c.layout(n.inputs[0]);
  if (!l) return;
  for (let i = 1; i < n.inputs.length; i++) if (isWeight(n.inputs[i])) c.touch(n, i);
  const xs = shapeOf(n.inputs[0]);
  const ys = shapeOf(n.outputs[0]);
  if (!xs || !ys || l.axes.some((ax, k) => ax.length && xs[k] !== ys[k])) return c.freeze(l, why(n, 'pads along them'));
  passThrough(n, c);
};

const UNARY = [
  'Identity', 'Cast', 'CastLike', 'Sigmoid', 'Tanh', 'Relu', 'LeakyRelu', 'Elu', 'Selu', 'Gelu', 'Erf', 'Sqrt', 'Exp', 'Log',
  'Neg', 'Abs', 'Reciprocal', 'Softplus', 'Softsign', 'HardSigmoid', 'HardSwish', 'Mish', 'Sin', 'Cos', 'Floor', 'Ceil',
  'Round', 'Sign', 'Not', 'Dropout', 'Clip', 'IsNaN', 'IsInf',
];
const BINARY = ['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Mod', 'PRelu', 'Where'];

export const RULES: Record<string, Rule> = {
  ...Object.fromEntries(UNARY.map((op) => [op, op === 'Clip' ? elementwise([0]) : passThrough])),
  ...Object.fromEntries(BINARY.map((op) => [op, elementwise()])),
  Pow: elementwise([0]),
  Conv: conv,
  ConvTranspose: convTranspose,
  MatMul: matmul,
  Gemm: gemm,
  Gather: gather,
  Reshape: reshape,
  Flatten: reshape,
  Squeeze: reshape,
  Unsqueeze: reshape,
  Transpose: transpose,
  Concat: concat,
  Slice: slice,
  Split: split,
  ReduceMean: reduce, ReduceSum: reduce, ReduceMax: reduce, ReduceMin: reduce, ReduceProd: reduce,
  ReduceL1: reduce, ReduceL2: reduce, ReduceSumSquare: reduce, ReduceLogSumExp: reduce,
  Softmax: softmax, LogSoftmax: softmax,
  InstanceNormalization: perChannel([1, 2]),
  BatchNormalization: perChannel([1, 2, 3, 4]),
  LayerNormalization: layerNorm,
  GroupNormalization: groupNorm,
  Shape: shapeOnly,
  Size: shapeOnly,
  Resize: resize,
  Upsample: resize,
  Pad: pad,
};

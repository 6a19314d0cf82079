// How each op carries channels from its inputs to its outputs: one row per op
// type. A rule reads input layouts, sets output layouts, and records through
// the context what must be sliced together; anything it cannot follow it
// freezes, with a reason a user can read. Compute ops are in rules-compute.ts,
// data movement in rules-shape.ts; reductions and normalizations are here.
import { plainAxis } from './layout.ts';
import {
  constInts,
  elementwise,
  intAttr,
  intsAttr,
  isWeight,
  norm,
  passThrough,
  shapeOf,
  why,
  type Rule,
} from './rule-context.ts';
import { conv, convTranspose, gather, gemm, matmul } from './rules-compute.ts';
import { concat, reshape, slice, split, transpose } from './rules-shape.ts';

export type { RuleContext } from './rule-context.ts';

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
  c.set(n.outputs[0], {
    segs: l.segs,
    axes: keep ? l.axes.map((ax, k) => (set.has(k) ? [] : ax)) : l.axes.filter((_, k) => !set.has(k)),
  });
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
  if (!xs || !ys || l.axes.some((ax, k) => ax.length && xs[k] !== ys[k]))
    return c.freeze(l, why(n, 'resizes along them'));
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
  'Identity',
  'Cast',
  'CastLike',
  'Sigmoid',
  'Tanh',
  'Relu',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Gelu',
  'Erf',
  'Sqrt',
  'Exp',
  'Log',
  'Neg',
  'Abs',
  'Reciprocal',
  'Softplus',
  'Softsign',
  'HardSigmoid',
  'HardSwish',
  'Mish',
  'Sin',
  'Cos',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Not',
  'Dropout',
  'Clip',
  'IsNaN',
  'IsInf',
];
const BINARY = [
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'Mod',
  'PRelu',
  'Where',
];

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
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceL1: reduce,
  ReduceL2: reduce,
  ReduceSumSquare: reduce,
  ReduceLogSumExp: reduce,
  Softmax: softmax,
  LogSoftmax: softmax,
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

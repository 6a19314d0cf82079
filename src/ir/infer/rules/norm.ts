// Normalizations and softmax: the output keeps the input's shape; per-channel
// parameters are checked against the channel dim.
import type { Dim } from '../../graph.ts';
import type { InferContext, ShapeRule } from '../context.ts';
import { axisOf, fmt } from '../dim.ts';

/** Fails when input `i` is not a vector of length `c`. */
function perChannel(ctx: InferContext, i: number, c: Dim, what: string): void {
  if (!ctx.has(i)) return;
  const s = ctx.shape(i);
  if (s.length !== 1 || (typeof s[0] === 'number' && typeof c === 'number' && s[0] !== c))
    ctx.fail(`${what} ${fmt(s)} does not match ${c} channels`);
}

function sameShape(op: string): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      const t = ctx.type(0);
      ctx.out(0, t.dtype, t.shape);
    },
  };
}

const instanceNorm: ShapeRule = {
  op: 'InstanceNormalization',
  infer(_n, ctx) {
    const t = ctx.type(0);
    if (t.shape.length < 3) ctx.fail(`input ${fmt(t.shape)} needs rank 3 or more`);
    perChannel(ctx, 1, t.shape[1], 'scale');
    perChannel(ctx, 2, t.shape[1], 'bias');
    ctx.out(0, t.dtype, t.shape);
  },
};

const layerNorm: ShapeRule = {
  op: 'LayerNormalization',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const axis = axisOf(ctx, ctx.int('axis', -1), t.shape.length);
    ctx.out(0, t.dtype, t.shape);
    // Mean and InvStdDev keep the leading dims, with 1 for every normalized one, in stash_type.
    const stats = t.shape.map((d, k) => (k < axis ? d : 1));
    const stash = ctx.int('stash_type', 1);
    ctx.out(1, stash, stats);
    ctx.out(2, stash, stats);
  },
};

const groupNorm: ShapeRule = {
  op: 'GroupNormalization',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const groups = ctx.int('num_groups', 0);
    const c = t.shape[1];
    if (t.shape.length < 3) ctx.fail(`input ${fmt(t.shape)} needs rank 3 or more`);
    if (typeof c === 'number' && (groups <= 0 || c % groups !== 0))
      ctx.fail(`${c} channels do not divide into ${groups} groups`);
    ctx.out(0, t.dtype, t.shape);
  },
};

const batchNorm: ShapeRule = {
  op: 'BatchNormalization',
  infer(n, ctx) {
    const t = ctx.type(0);
    const c = t.shape.length > 1 ? t.shape[1] : 1;
    for (const [i, what] of [
      [1, 'scale'],
      [2, 'bias'],
      [3, 'mean'],
      [4, 'var'],
    ] as const)
      perChannel(ctx, i, c, what);
    ctx.out(0, t.dtype, t.shape);
    // Training-mode outputs (running mean/var, and saved stats before opset 14) are per-channel.
    for (let o = 1; o < n.outputs.length; o++) ctx.out(o, ctx.dtype(3), [c]);
  },
};

export const normRules: ShapeRule[] = [
  instanceNorm,
  layerNorm,
  groupNorm,
  batchNorm,
  sameShape('LRN'),
  sameShape('Softmax'),
  sameShape('LogSoftmax'),
  sameShape('Hardmax'),
  sameShape('LpNormalization'),
  sameShape('MeanVarianceNormalization'),
];

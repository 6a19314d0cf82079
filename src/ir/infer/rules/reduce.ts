// Reductions along axes (kept as 1 or dropped), arg-reductions and scans.
import { DataType } from '../../../onnx/dtype.ts';
import type { ShapeRule } from '../context.ts';
import { axisOf, dimOp } from '../dim.ts';

/** ReduceX; `axesInput` is the opset from which axes moved from attribute to input. */
function reduce(op: string, axesInput: number): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      const t = ctx.type(0);
      const keep = ctx.int('keepdims', 1) === 1;
      const axes = ctx.axes(axesInput);
      if (axes === 'unknown')
        return ctx.out(
          0,
          t.dtype,
          keep
            ? t.shape.map(() => ctx.unknownDim())
            : ctx.unknownShape(dimOp(ctx, [ctx.shape(1)[0]], (c) => t.shape.length - c)),
        );
      if (!axes || !axes.length) {
        // No axes: reduce everything, unless noop_with_empty_axes makes it the identity.
        if (ctx.int('noop_with_empty_axes', 0) === 1) return ctx.same(0, 0);
        return ctx.out(0, t.dtype, keep ? t.shape.map(() => 1) : []);
      }
      const drop = new Set(axes.map((a) => axisOf(ctx, a, t.shape.length)));
      const dims = t.shape.flatMap((d, k) => (!drop.has(k) ? [d] : keep ? [1] : []));
      ctx.out(0, t.dtype, dims);
    },
  };
}

function argReduce(op: string): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      const t = ctx.type(0);
      const axis = axisOf(ctx, ctx.int('axis', 0), t.shape.length);
      const keep = ctx.int('keepdims', 1) === 1;
      ctx.out(
        0,
        DataType.INT64,
        t.shape.flatMap((d, k) => (k !== axis ? [d] : keep ? [1] : [])),
      );
    },
  };
}

const cumSum: ShapeRule = {
  op: 'CumSum',
  infer(_n, ctx) {
    const t = ctx.type(0);
    ctx.out(0, t.dtype, t.shape);
  },
};

export const reduceRules: ShapeRule[] = [
  reduce('ReduceSum', 13),
  ...[
    'ReduceMean',
    'ReduceMax',
    'ReduceMin',
    'ReduceProd',
    'ReduceL1',
    'ReduceL2',
    'ReduceLogSum',
    'ReduceLogSumExp',
    'ReduceSumSquare',
  ].map((op) => reduce(op, 18)),
  argReduce('ArgMax'),
  argReduce('ArgMin'),
  cumSum,
];

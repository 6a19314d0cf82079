// Convolution and pooling: [N, C, D1..Dn] in, spatial dims from kernel,
// strides, dilations and padding (explicit pads or auto_pad).
import { DataType } from '../../../onnx/dtype.ts';
import type { Dim } from '../../graph.ts';
import type { InferContext, ShapeRule } from '../context.ts';
import { dimOp, fmt } from '../dim.ts';

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function windowOf(ctx: InferContext, spatial: number, kernel: number[]): Window {
  const w: Window = {
    kernel,
    strides: ctx.intList('strides') ?? new Array(spatial).fill(1),
    dilations: ctx.intList('dilations') ?? new Array(spatial).fill(1),
    pads: ctx.intList('pads') ?? new Array(spatial * 2).fill(0),
    autoPad: ctx.string('auto_pad', 'NOTSET'),
  };
  if (
    kernel.length !== spatial ||
    w.strides.length !== spatial ||
    w.dilations.length !== spatial ||
    w.pads.length !== spatial * 2
  ) {
    ctx.fail(
      `kernel ${fmt(kernel)}, strides ${fmt(w.strides)}, dilations ${fmt(w.dilations)} or pads ${fmt(w.pads)} do not match ${spatial} spatial dims`,
    );
  }
  return w;
}

/** Output size of a sliding window along one axis (ONNX Conv / pool formulas). */
function slide(ctx: InferContext, w: Window, k: number, input: Dim, ceilMode = false): Dim {
  return dimOp(ctx, [input], (n) => {
    const span = (w.kernel[k] - 1) * w.dilations[k] + 1;
    const s = w.strides[k];
    let out: number;
    if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') out = Math.ceil(n / s);
    else if (w.autoPad === 'VALID') out = Math.floor((n - span) / s) + 1;
    else {
      const padded = n + w.pads[k] + w.pads[k + w.kernel.length];
      out = (ceilMode ? Math.ceil((padded - span) / s) : Math.floor((padded - span) / s)) + 1;
      // A last window that would start inside the end padding is dropped (onnx >= 1.16, onnxruntime).
      if (ceilMode && (out - 1) * s >= n + w.pads[k]) out--;
    }
    if (out < 1) ctx.fail(`window of ${span} (stride ${s}) does not fit input size ${n} on spatial axis ${k}`);
    return out;
  });
}

function needRank(ctx: InferContext, x: Dim[], min: number): void {
  if (x.length < min) ctx.fail(`input of shape ${fmt(x)} needs rank ${min} or more`);
}

function sameDim(ctx: InferContext, a: Dim, b: Dim, what: string): void {
  if (typeof a === 'number' && typeof b === 'number' && a !== b) ctx.fail(`${what}: ${a} vs ${b}`);
}

const conv: ShapeRule = {
  op: 'Conv',
  infer(_n, ctx) {
    const x = ctx.shape(0);
    const wt = ctx.shape(1);
    needRank(ctx, x, 3);
    if (wt.length !== x.length) ctx.fail(`weight ${fmt(wt)} and input ${fmt(x)} differ in rank`);
    const group = ctx.int('group', 1);
    sameDim(
      ctx,
      x[1],
      dimOp(ctx, [wt[1]], (c) => c * group),
      `input channels ${fmt(x)} do not match weight ${fmt(wt)} × group ${group}`,
    );
    if (ctx.has(2)) sameDim(ctx, ctx.shape(2)[0], wt[0], 'bias length differs from output channels');
    const kernel =
      ctx.intList('kernel_shape') ??
      wt.slice(2).map((d) => (typeof d === 'number' ? d : ctx.fail(`kernel dims of ${fmt(wt)} are unknown`)));
    const w = windowOf(ctx, x.length - 2, kernel);
    ctx.out(0, ctx.dtype(0), [x[0], wt[0], ...x.slice(2).map((d, k) => slide(ctx, w, k, d))]);
  },
};

const convTranspose: ShapeRule = {
  op: 'ConvTranspose',
  infer(_n, ctx) {
    const x = ctx.shape(0);
    const wt = ctx.shape(1);
    needRank(ctx, x, 3);
    const group = ctx.int('group', 1);
    sameDim(ctx, x[1], wt[0], `input channels ${fmt(x)} do not match weight ${fmt(wt)}`);
    const spatial = x.length - 2;
    const kernel =
      ctx.intList('kernel_shape') ??
      wt.slice(2).map((d) => (typeof d === 'number' ? d : ctx.fail(`kernel dims of ${fmt(wt)} are unknown`)));
    const w = windowOf(ctx, spatial, kernel);
    const outPad = ctx.intList('output_padding') ?? new Array(spatial).fill(0);
    const outShape = ctx.intList('output_shape');
    const dims = x.slice(2).map((d, k) => {
      if (outShape) return outShape[outShape.length - spatial + k];
      return dimOp(ctx, [d], (n) => {
        if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') return n * w.strides[k];
        const pads = w.autoPad === 'VALID' ? 0 : w.pads[k] + w.pads[k + spatial];
        return w.strides[k] * (n - 1) + outPad[k] + (kernel[k] - 1) * w.dilations[k] + 1 - pads;
      });
    });
    ctx.out(0, ctx.dtype(0), [x[0], dimOp(ctx, [wt[1]], (m) => m * group), ...dims]);
  },
};

function pool(op: string): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      const x = ctx.shape(0);
      needRank(ctx, x, 3);
      const kernel = ctx.intList('kernel_shape') ?? ctx.fail('kernel_shape attribute is required');
      const w = windowOf(ctx, x.length - 2, kernel);
      const ceil = ctx.int('ceil_mode', 0) === 1;
      const shape = [x[0], x[1], ...x.slice(2).map((d, k) => slide(ctx, w, k, d, ceil))];
      ctx.out(0, ctx.dtype(0), shape);
      if (op === 'MaxPool') ctx.out(1, DataType.INT64, shape);
    },
  };
}

function globalPool(op: string): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      const x = ctx.shape(0);
      needRank(ctx, x, 3);
      ctx.out(0, ctx.dtype(0), [x[0], x[1], ...x.slice(2).map(() => 1)]);
    },
  };
}

export const convRules: ShapeRule[] = [
  conv,
  convTranspose,
  pool('MaxPool'),
  pool('AveragePool'),
  pool('LpPool'),
  globalPool('GlobalAveragePool'),
  globalPool('GlobalMaxPool'),
  globalPool('GlobalLpPool'),
];

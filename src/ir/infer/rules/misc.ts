// Constants and generators (Constant, ConstantOfShape, Range), resampling
// (Resize, Upsample) and quantization. Generators fold: the exporter builds
// attention masks and index vectors with them.
import { DataType } from '../../../onnx/dtype.ts';
import { toNumber } from '../../../onnx/proto.ts';
import type { Dim } from '../../graph.ts';
import type { InferContext, ShapeRule } from '../context.ts';
import { axisOf, dimOp, fmt } from '../dim.ts';
import { countOf } from '../tensor-value.ts';

const constant: ShapeRule = {
  op: 'Constant',
  infer(_n, ctx) {
    const t = ctx.tensor('value');
    if (t) return ctx.out(0, t.proto.dataType ?? 0, (t.proto.dims ?? []).map(toNumber), t.value?.data);
    const a = (name: string) => ctx.attr(name);
    if (a('value_int')) return ctx.out(0, DataType.INT64, [], [ctx.int('value_int', 0)]);
    if (a('value_float')) return ctx.out(0, DataType.FLOAT, [], [ctx.float('value_float', 0)]);
    if (a('value_ints')) {
      const v = ctx.intList('value_ints')!;
      return ctx.out(0, DataType.INT64, [v.length], v);
    }
    if (a('value_floats')) {
      const v = ctx.floatList('value_floats')!;
      return ctx.out(0, DataType.FLOAT, [v.length], v);
    }
    if (a('value_string')) return ctx.out(0, DataType.STRING, []);
    if (a('value_strings')) return ctx.out(0, DataType.STRING, [a('value_strings')!.strings?.length ?? 0]);
    const sparse = a('sparse_value')?.sparseTensor;
    if (sparse) return ctx.out(0, sparse.values?.dataType ?? 0, (sparse.dims ?? []).map(toNumber));
    ctx.fail('Constant has none of the value attributes');
  },
};

const constantOfShape: ShapeRule = {
  op: 'ConstantOfShape',
  infer(_n, ctx) {
    const fill = ctx.tensor('value');
    const dtype = fill?.proto.dataType ?? DataType.FLOAT;
    const x = fill?.value?.data[0] ?? (fill ? undefined : 0);
    const dims = ctx.ints(0);
    if (!dims) {
      return ctx.out(0, dtype, ctx.unknownShape(ctx.shape(0)[0]));
    }
    if (dims.some((d) => d < 0)) ctx.fail(`shape ${fmt(dims)} has a negative dim`);
    const data = x !== undefined && ctx.foldable(dims) ? new Array<number>(countOf(dims)).fill(x) : undefined;
    ctx.out(0, dtype, dims, data);
  },
};

const range: ShapeRule = {
  op: 'Range',
  infer(_n, ctx) {
    const dtype = ctx.dtype(0);
    const [start, limit, delta] = [0, 1, 2].map((i) => ctx.value(i)?.data[0]);
    if (start === undefined || limit === undefined || delta === undefined) return ctx.out(0, dtype, [ctx.unknownDim()]);
    if (delta === 0) ctx.fail('Range delta is 0');
    const count = Math.max(Math.ceil((limit - start) / delta), 0);
    const dims = [count];
    ctx.out(
      0,
      dtype,
      dims,
      ctx.foldable(dims) ? Array.from({ length: count }, (_, k) => start + k * delta) : undefined,
    );
  },
};

/** Output dims from per-axis scales: floor(in × scale), as onnxruntime computes it in float32. */
function scaled(ctx: InferContext, x: Dim[], scales: number[], roi?: number[]): Dim[] {
  if (scales.length !== x.length) ctx.fail(`scales ${fmt(scales)} do not match input rank ${x.length}`);
  return x.map((d, k) => {
    const crop = roi && roi.length === 2 * x.length ? roi[k + x.length] - roi[k] : 1;
    return crop === 1 && scales[k] === 1 ? d : dimOp(ctx, [d], (n) => Math.floor(Math.fround(n * crop * scales[k])));
  });
}

const resize: ShapeRule = {
  op: 'Resize',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const r = t.shape.length;
    const unknown = () =>
      ctx.out(
        0,
        t.dtype,
        t.shape.map(() => ctx.unknownDim()),
      );
    // Opset 10: (X, scales). From 11: (X, roi, scales, sizes), exactly one of scales and sizes non-empty.
    const scalesAt = ctx.opset < 11 ? 1 : 2;
    const given = (i: number) => ctx.has(i) && ctx.shape(i).some((d) => d !== 0);
    const axes = (ctx.intList('axes') ?? Array.from({ length: r }, (_, k) => k)).map((a) => axisOf(ctx, a, r));
    if (ctx.opset >= 11 && given(3)) {
      const sizes = ctx.ints(3);
      if (!sizes) return unknown();
      if (sizes.length !== axes.length) ctx.fail(`sizes ${fmt(sizes)} do not match ${axes.length} axes`);
      return ctx.out(0, t.dtype, fitSizes(ctx, t.shape, axes, sizes));
    }
    if (!given(scalesAt)) ctx.fail('Resize needs scales or sizes');
    const s = ctx.value(scalesAt)?.data;
    if (!s) return unknown();
    if (s.length !== axes.length) ctx.fail(`scales ${fmt(s)} do not match ${axes.length} axes`);
    const full = new Array<number>(r).fill(1);
    axes.forEach((a, k) => (full[a] = s[k]));
    const crop =
      ctx.string('coordinate_transformation_mode', '') === 'tf_crop_and_resize' ? ctx.value(1)?.data : undefined;
    ctx.out(0, t.dtype, scaled(ctx, t.shape, full, crop));
  },
};

/** Sizes on `axes`, honouring opset 18's keep_aspect_ratio_policy. */
function fitSizes(ctx: InferContext, x: Dim[], axes: number[], sizes: number[]): Dim[] {
  const out = [...x];
  const policy = ctx.string('keep_aspect_ratio_policy', 'stretch');
  if (policy === 'stretch') {
    axes.forEach((a, k) => (out[a] = sizes[k]));
    return out;
  }
  const ratios = axes.map((a, k) => (typeof x[a] === 'number' ? sizes[k] / (x[a] as number) : NaN));
  if (ratios.some(Number.isNaN)) {
    for (const a of axes) out[a] = ctx.unknownDim();
    return out;
  }
  const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
  axes.forEach((a) => (out[a] = Math.round(scale * (x[a] as number))));
  return out;
}

const upsample: ShapeRule = {
  op: 'Upsample',
  infer(_n, ctx) {
    const t = ctx.type(0);
    // Scales were an attribute until opset 9 made them an input.
    const s = ctx.opset < 9 ? ctx.floatList('scales') : ctx.value(1)?.data;
    if (!s)
      return ctx.out(
        0,
        t.dtype,
        t.shape.map(() => ctx.unknownDim()),
      );
    ctx.out(0, t.dtype, scaled(ctx, t.shape, s));
  },
};

const trilu: ShapeRule = {
  op: 'Trilu',
  infer(_n, ctx) {
    const t = ctx.type(0);
    if (t.shape.length < 2) ctx.fail(`input ${fmt(t.shape)} needs rank 2 or more`);
    ctx.out(0, t.dtype, t.shape);
  },
};

const quantize: ShapeRule = {
  op: 'QuantizeLinear',
  infer(_n, ctx) {
    // The output type: opset 21's output_dtype, else the zero point's type, else uint8.
    const explicit = ctx.int('output_dtype', 0);
    const dtype = explicit || (ctx.has(2) ? ctx.dtype(2) : DataType.UINT8);
    ctx.out(0, dtype, ctx.shape(0));
  },
};

const dequantize: ShapeRule = {
  op: 'DequantizeLinear',
  infer(_n, ctx) {
    // The scale's type (float before opset 19, which allowed float16 and bfloat16 scales).
    ctx.out(0, ctx.dtype(1), ctx.shape(0));
  },
};

const dynamicQuantize: ShapeRule = {
  op: 'DynamicQuantizeLinear',
  infer(_n, ctx) {
    ctx.out(0, DataType.UINT8, ctx.shape(0));
    ctx.out(1, DataType.FLOAT, []);
    ctx.out(2, DataType.UINT8, []);
  },
};

const eyeLike: ShapeRule = {
  op: 'EyeLike',
  infer(_n, ctx) {
    const t = ctx.type(0);
    ctx.out(0, ctx.int('dtype', 0) || t.dtype, t.shape);
  },
};

export const miscRules: ShapeRule[] = [
  constant,
  constantOfShape,
  range,
  resize,
  upsample,
  trilu,
  eyeLike,
  quantize,
  dequantize,
  dynamicQuantize,
];

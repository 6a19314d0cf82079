// torch.nn layers as torch.onnx (opset 14/17) exports them.
//
//   nn.Conv2d                 Conv(x, weight, bias)                        (bias=False: Conv(x, weight))
//   nn.Linear on 2-D input    Gemm(x, weight, bias, transB=1)              weight keeps its name
//   nn.Linear on 3-D input    Add(bias, MatMul(x, onnx::MatMul_n))          weight transposed, renamed
//   nn.Linear(bias=False)     MatMul(x, onnx::MatMul_n), 2-D input or 3-D    (linear3d with bias false)
//   nn.GroupNorm              Reshape[0,G,-1] → InstanceNormalization(1, 0) → Reshape(Shape(x))
//                             → Mul(onnx::Mul_n [C,1,1]) → Add(onnx::Add_n [C,1,1])
//   nn.LayerNorm              opset 14: ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add
//                             opset 17: LayerNormalization
//   nn.SiLU                   Sigmoid, Mul
//   F.gelu (exact)            Div(√2), Erf, Add(1), Mul, Mul(0.5)
//   F.interpolate(×2, nearest) Resize(x, '', scales [1,1,2,2])
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { attr, type Tracer } from './trace.ts';
import { init } from './weights.ts';

export interface ConvSpec {
  cin: number;
  cout: number;
  kernel: number;
  stride?: number;
  pad?: number;
  /** nn.Conv2d(bias=False): Conv(x, weight). Default true. */
  bias?: boolean;
}

export function conv2d(t: Tracer, name: string, x: Value, s: ConvSpec): Value {
  const k = s.kernel;
  const stride = s.stride ?? 1;
  const pad = s.pad ?? (k - 1) / 2;
  return t.module(name, () => {
    const fan = init.fanIn(s.cin * k * k);
    const w = t.param('weight', [s.cout, s.cin, k, k], fan);
    const b = s.bias === false ? undefined : t.param('bias', [s.cout], fan);
    return t.op('Conv', b ? [x, w, b] : [x, w], [
      attr.ints('dilations', [1, 1]),
      attr.int('group', 1),
      attr.ints('kernel_shape', [k, k]),
      attr.ints('pads', [pad, pad, pad, pad]),
      attr.ints('strides', [stride, stride]),
    ]);
  });
}

/** nn.Linear applied to a 2-D input: one Gemm. */
export function linear2d(t: Tracer, name: string, x: Value, cin: number, cout: number): Value {
  return t.module(name, () => {
    const w = t.param('weight', [cout, cin], init.fanIn(cin));
    const b = t.param('bias', [cout], init.fanIn(cin));
    return t.op('Gemm', [x, w, b], [attr.float('alpha', 1), attr.float('beta', 1), attr.int('transB', 1)]);
  });
}

/** nn.Linear applied to a 3-D input: MatMul with the transposed weight, then Add(bias, ·). */
export function linear3d(t: Tracer, name: string, x: Value, cin: number, cout: number, bias = true): Value {
  return t.module(name, () => linearBody(t, x, cin, cout, bias));
}

/** The Linear ops in the current scope (for callers that opened it themselves). */
export function linearBody(t: Tracer, x: Value, cin: number, cout: number, bias: boolean): Value {
  const w = t.foldedParam('MatMul', 'weight', [cin, cout], init.fanIn(cin));
  const mm = t.op('MatMul', [x, w]);
  if (!bias) return mm;
  const b = t.param('bias', [cout], init.fanIn(cin));
  return t.op('Add', [b, mm]);
}

export interface NormSpec {
  groups: number;
  channels: number;
  eps: number;
  /** Rank of the input: 4 for feature maps, 3 for [B, C, HW] (the VAE attention). */
  rank?: number;
}

export function groupNorm(t: Tracer, name: string, x: Value, s: NormSpec): Value {
  return t.module(name, () => {
    const r = t.op('Reshape', [x, t.int64([0, s.groups, -1])], [attr.int('allowzero', 0)]);
    const ones = t.constant({ dtype: t.float, dims: [s.groups], values: new Array(s.groups).fill(1) });
    const zeros = t.constant({ dtype: t.float, dims: [s.groups], values: new Array(s.groups).fill(0) });
    const n = t.op('InstanceNormalization', [r, ones, zeros], [attr.float('epsilon', s.eps)]);
    const back = t.op('Reshape', [n, t.op('Shape', [x])], [attr.int('allowzero', 0)]);
    const affine = [s.channels, ...new Array((s.rank ?? 4) - 2).fill(1)];
    const gamma = t.foldedParam('Mul', 'weight', affine, init.normScale);
    const m = t.op('Mul', [back, gamma]);
    const beta = t.foldedParam('Add', 'bias', affine, init.normShift);
    return t.op('Add', [m, beta]);
  });
}

export function layerNorm(t: Tracer, name: string, x: Value, dim: number, eps: number): Value {
  return t.module(name, () => {
    if (t.opset >= 17) {
      const w = t.param('weight', [dim], init.normScale);
      const b = t.param('bias', [dim], init.normShift);
      return t.op('LayerNormalization', [x, w, b], [attr.int('axis', -1), attr.float('epsilon', eps)]);
    }
    const mean = t.op('ReduceMean', [x], [attr.ints('axes', [-1])]);
    const d = t.op('Sub', [x, mean]);
    const sq = t.op('Pow', [d, t.scalar(2)]);
    const v = t.op('ReduceMean', [sq], [attr.ints('axes', [-1])]);
    const std = t.op('Sqrt', [t.op('Add', [v, t.scalar(eps)])]);
    const n = t.op('Div', [d, std]);
    const w = t.param('weight', [dim], init.normScale);
    const b = t.param('bias', [dim], init.normShift);
    return t.op('Add', [t.op('Mul', [n, w]), b]);
  });
}

/** nn.SiLU called as the module `name`. */
export function silu(t: Tracer, name: string, x: Value): Value {
  return t.module(name, () => t.op('Mul', [x, t.op('Sigmoid', [x])]));
}

/** Exact (erf) GELU, emitted in the current scope. */
export function gelu(t: Tracer, x: Value): Value {
  const e = t.op('Erf', [t.op('Div', [x, t.scalar(Math.SQRT2)])]);
  const m = t.op('Mul', [x, t.op('Add', [e, t.scalar(1)])]);
  return t.op('Mul', [m, t.scalar(0.5)]);
}

/** F.interpolate(x, scale_factor=2.0, mode="nearest"), emitted in the current scope. */
export function upsampleNearest2x(t: Tracer, x: Value): Value {
  const scales = t.constant({ dtype: DataType.FLOAT, dims: [4], values: [1, 1, 2, 2] });
  return t.op(
    'Resize',
    [x, undefined, scales],
    [
      attr.string('coordinate_transformation_mode', 'asymmetric'),
      attr.float('cubic_coeff_a', -0.75),
      attr.string('mode', 'nearest'),
      attr.string('nearest_mode', 'floor'),
    ],
  );
}

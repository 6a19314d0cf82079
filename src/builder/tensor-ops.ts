// Torch tensor operations as the TorchScript exporter lowers them. Module code
// in this folder is written like the diffusers forward() it mirrors, calling
// these in the same order, so the emitted node sequence (and the per-scope
// numbering `Shape_3`, `Div_1`, ...) comes out as torch.onnx writes it.
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { attr, type Tracer } from './trace.ts';

/** A dimension in a shape list: traced (a 0-d int64 value) or a Python int. */
export type Dim = Value | number;

/** `x.shape[dim]`:  Shape → Constant(dim) → Gather. */
export function size(t: Tracer, x: Value, dim: number): Value {
  const shape = t.op('Shape', [x]);
  return t.op('Gather', [shape, t.int64(dim)], [attr.int('axis', 0)]);
}

/**
 * The list argument of view/reshape/empty: traced ints are unsqueezed with
 * exporter-made axes, Python ints become 1-D Constants, then one Concat.
 */
export function shapeList(t: Tracer, dims: Dim[]): Value {
  const parts = dims.map((d) => (typeof d === 'number' ? t.int64([d]) : t.op('Unsqueeze', [d, t.axes([0])])));
  return t.op('Concat', parts, [attr.int('axis', 0)]);
}

/** `x.reshape(*dims)` / `x.view(*dims)`. */
export function reshape(t: Tracer, x: Value, dims: Dim[]): Value {
  return t.op('Reshape', [x, shapeList(t, dims)], [attr.int('allowzero', 0)]);
}

export function transpose(t: Tracer, x: Value, perm: number[]): Value {
  return t.op('Transpose', [x], [attr.ints('perm', perm)]);
}

/** `a // n` on a traced int: Div, then two Casts to int64 (floor_divide's symbolic). */
export function floorDiv(t: Tracer, a: Value, n: number): Value {
  const q = t.op('Div', [a, t.int64(n)]);
  const c = t.op('Cast', [q], [attr.int('to', DataType.INT64)]);
  return t.op('Cast', [c], [attr.int('to', DataType.INT64)]);
}

/** `a * n` on a traced int; the tracer's peephole drops `* 1`. */
export function mulInt(t: Tracer, a: Value, n: number): Value {
  return n === 1 ? a : t.op('Mul', [a, t.int64(n)]);
}

/** `x.to(dtype)` / `x.float()`: always a Cast in the trace, even when the type already matches. */
export function cast(t: Tracer, x: Value, to: number): Value {
  return t.op('Cast', [x], [attr.int('to', to)]);
}

/** `x / s` with a Python float: Constant → Div. */
export function divScalar(t: Tracer, x: Value, s: number): Value {
  return t.op('Div', [x, t.scalar(s)]);
}

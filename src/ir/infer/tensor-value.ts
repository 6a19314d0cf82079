// Small tensors whose values are known at compile time: Constant attributes and
// initializers. Shape arithmetic needs their numbers, so they are decoded into
// plain JS numbers (int64 included: shape values fit a double). Anything that
// cannot be read (absent weights file, 4-bit or string data) is simply unknown.
import { DataType } from '../../onnx/dtype.ts';
import { fromHalf } from '../../onnx/half.ts';
import { readData } from '../../onnx/model.ts';
import { toNumber, type TensorProto } from '../../onnx/proto.ts';
import type { Weight } from '../graph.ts';

/** A compile-time-known tensor; `data` is row-major, one number per element (bool as 0/1). */
export interface ConstTensor {
  dtype: number;
  dims: number[];
  data: number[];
}

/** Larger tensors are never decoded or folded: they are weights, not shape arithmetic. */
export const MAX_CONST_ELEMENTS = 4096;

export function countOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** The values of a TensorProto carried inline (raw_data or typed fields); external data is not read here. */
export function protoValue(t: TensorProto): ConstTensor | undefined {
  const dtype = t.dataType ?? 0;
  const dims = (t.dims ?? []).map(toNumber);
  const count = countOf(dims);
  if (count > MAX_CONST_ELEMENTS) return undefined;
  if (t.rawData && t.rawData.length) return fromBytes(dtype, dims, t.rawData);
  const data = typedFields(t, dtype);
  if (!data || data.length !== count) return count === 0 ? { dtype, dims, data: [] } : undefined;
  return { dtype, dims, data };
}

/** The values of an initializer, read from wherever its bytes live. */
export function weightValue(w: Weight): ConstTensor | undefined {
  const count = countOf(w.dims);
  if (count > MAX_CONST_ELEMENTS) return undefined;
  if (w.data.kind === 'typed') return w.proto ? protoValue(w.proto) : undefined;
  // A graph-only model (weights file absent) still infers: the value is just unknown.
  const bytes = readData(w.data);
  return bytes && fromBytes(w.dtype, w.dims, bytes);
}

function fromBytes(dtype: number, dims: number[], bytes: Uint8Array): ConstTensor | undefined {
  const count = countOf(dims);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = reader(dtype, view);
  if (!read || bytes.byteLength < count * read.size) return undefined;
  const data = new Array<number>(count);
  for (let i = 0; i < count; i++) data[i] = read.at(i * read.size);
  return { dtype, dims, data };
}

function reader(dtype: number, v: DataView): { size: number; at: (o: number) => number } | undefined {
  switch (dtype) {
    case DataType.FLOAT:
      return { size: 4, at: (o) => v.getFloat32(o, true) };
    case DataType.DOUBLE:
      return { size: 8, at: (o) => v.getFloat64(o, true) };
    case DataType.FLOAT16:
      return { size: 2, at: (o) => fromHalf(v.getUint16(o, true)) };
    case DataType.BFLOAT16:
      return { size: 2, at: (o) => bfloatToNumber(v.getUint16(o, true)) };
    case DataType.INT8:
      return { size: 1, at: (o) => v.getInt8(o) };
    case DataType.UINT8:
      return { size: 1, at: (o) => v.getUint8(o) };
    case DataType.BOOL:
      return { size: 1, at: (o) => (v.getUint8(o) ? 1 : 0) };
    case DataType.INT16:
      return { size: 2, at: (o) => v.getInt16(o, true) };
    case DataType.UINT16:
      return { size: 2, at: (o) => v.getUint16(o, true) };
    case DataType.INT32:
      return { size: 4, at: (o) => v.getInt32(o, true) };
    case DataType.UINT32:
      return { size: 4, at: (o) => v.getUint32(o, true) };
    case DataType.INT64:
      return { size: 8, at: (o) => Number(v.getBigInt64(o, true)) };
    case DataType.UINT64:
      return { size: 8, at: (o) => Number(v.getBigUint64(o, true)) };
    default:
      return undefined;
  }
}

// Which TensorProto field holds each data type when raw_data is not used (onnx.proto comments).
function typedFields(t: TensorProto, dtype: number): number[] | undefined {
  switch (dtype) {
    case DataType.FLOAT:
      return t.floatData ?? undefined;
    case DataType.DOUBLE:
      return t.doubleData ?? undefined;
    case DataType.INT64:
      return t.int64Data?.map(toNumber);
    case DataType.UINT32:
    case DataType.UINT64:
      return t.uint64Data?.map(toNumber);
    case DataType.FLOAT16:
      return t.int32Data?.map(fromHalf);
    case DataType.BFLOAT16:
      return t.int32Data?.map(bfloatToNumber);
    case DataType.BOOL:
      return t.int32Data?.map((x) => (x ? 1 : 0));
    case DataType.INT32:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT16:
    case DataType.UINT8:
      return t.int32Data ?? undefined;
    default:
      return undefined;
  }
}

function bfloatToNumber(b: number): number {
  const v = new DataView(new ArrayBuffer(4));
  v.setUint32(0, b << 16);
  return v.getFloat32(0);
}

/** The nearest float16 (ties to even), as a number; overflow gives ±Infinity. */
export function roundToHalf(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  // Spacing of float16 values near `a`: 2^(e-10) for normals, 2^-24 for subnormals.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  return Math.sign(x) * roundTiesEven(a / ulp) * ulp;
}

/** The nearest bfloat16 (ties to even): float32 with the low 16 mantissa bits rounded off. */
export function roundToBfloat(x: number): number {
  if (!Number.isFinite(x)) return x;
  const v = new DataView(new ArrayBuffer(4));
  v.setFloat32(0, x);
  const bits = v.getUint32(0);
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  return bfloatToNumber(rounded);
}

function roundTiesEven(q: number): number {
  const r = Math.round(q);
  return Math.abs(q % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

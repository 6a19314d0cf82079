// Reading and rewriting weights without holding a model in memory. A weight's
// bytes come from wherever its handle points (the model buffer, typed proto
// fields, a range of an external file, a generator) and leave as a `stream`
// handle that saveModel pulls chunk by chunk. Rewritten weights are lazy too:
// nothing is read until the model is saved (or a pass asks for statistics).
//
// Weights of a graph-only model (external file absent) have no bytes; their
// rewrites keep that state: same dims rules, data still missing, so `inspect`
// works and saving reports the missing file (PD1006) as it would before.
import fs from 'node:fs';
import type { Weight } from './graph.ts';
import type { TensorData } from '../onnx/model.ts';
import { byteSize, DataType, isFloat } from '../onnx/dtype.ts';
import { fromHalf } from '../onnx/half.ts';
import { toNumber } from '../onnx/proto.ts';

const CHUNK = 4 << 20;

export const countOf = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** False when the weight's bytes live in a weights file that is absent (graph-only models). */
export function hasBytes(w: Weight): boolean {
  return !(w.data.kind === 'external' && !w.data.ref.exists);
}

/** Streams the stored little-endian bytes of a weight, in order. False when they are absent. */
export function streamBytes(w: Weight, sink: (chunk: Uint8Array) => void): boolean {
  const d = w.data;
  switch (d.kind) {
    case 'raw':
      sink(d.bytes);
      return true;
    case 'stream':
      d.write(sink);
      return true;
    case 'typed': {
      const b = typedBytes(w);
      if (!b) return false;
      sink(b);
      return true;
    }
    case 'external': {
      if (!d.ref.exists) return false;
      const fd = fs.openSync(d.ref.file, 'r');
      try {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, d.ref.length));
        for (let done = 0; done < d.ref.length;) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, d.ref.length - done), d.ref.offset + done);
          if (n === 0) throw new Error(`weights file '${d.ref.location}' ended early`);
          sink(buf.subarray(0, n));
          done += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      return true;
    }
  }
}

/** All bytes of one weight (one tensor in memory at a time), or undefined when absent. */
export function readBytes(w: Weight): Uint8Array | undefined {
  const d = w.data;
  if (d.kind === 'raw') return d.bytes;
  const out = new Uint8Array(byteSize(w.dtype, countOf(w.dims)) ?? 0);
  let at = 0;
  const ok = streamBytes(w, (c) => {
    out.set(c.subarray(0, Math.min(c.length, out.length - at)), at);
    at += c.length;
  });
  return ok ? out : undefined;
}

/** The float dtypes whose values passes decode: float32, float16, bfloat16, float64. */

/**
 * Streams a float weight as float32 values: `fn(values, index)` sees
 * consecutive runs, `index` being the flat element index of values[0].
 * False when the bytes are absent or the dtype is not a float.
 */
export function streamFloats(w: Weight, fn: (values: Float32Array, index: number) => void): boolean {
  if (!isFloat(w.dtype)) return false;
  const size = byteSize(w.dtype, 1)!;
  let carry = new Uint8Array(0);
  let index = 0;
  return streamBytes(w, (chunk) => {
    let bytes = chunk;
    if (carry.length) {
      bytes = new Uint8Array(carry.length + chunk.length);
      bytes.set(carry);
      bytes.set(chunk, carry.length);
    }
    const n = Math.floor(bytes.length / size);
    if (n) {
      fn(decodeFloats(w.dtype, bytes.subarray(0, n * size)), index);
      index += n;
    }
    carry = new Uint8Array(bytes.subarray(n * size));
  });
}

/** All values of a float weight as float32, or undefined when absent. */
export function readFloats(w: Weight): Float32Array | undefined {
  const out = new Float32Array(countOf(w.dims));
  return streamFloats(w, (v, i) => out.set(v, i)) ? out : undefined;
}

export function decodeFloats(dtype: number, bytes: Uint8Array): Float32Array {
  // A copy (not Buffer#slice, which is a view) when the bytes are not aligned for typed arrays.
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  switch (dtype) {
    case DataType.FLOAT:
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4).slice();
    case DataType.DOUBLE:
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8));
    case DataType.FLOAT16: {
      const h = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = halfToFloat(h[i]);
      return out;
    }
    case DataType.BFLOAT16: {
      const h = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
      const u = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) u[i] = h[i] << 16;
      return new Float32Array(u.buffer);
    }
    default:
      throw new Error(`decodeFloats: dtype ${dtype} is not a float`);
  }
}

// Every binary16 value decoded once: bulk weight reads look them up.
const HALF_TABLE = Float32Array.from({ length: 65536 }, (_, h) => fromHalf(h));

export function halfToFloat(h: number): number {
  return HALF_TABLE[h];
}

/** The bytes of a weight whose values sit in typed proto fields (small initializers). */
function typedBytes(w: Weight): Uint8Array | undefined {
  const t = w.proto;
  if (!t) return undefined;
  const n = countOf(w.dims);
  switch (w.dtype) {
    case DataType.FLOAT:
      return new Uint8Array(Float32Array.from(t.floatData ?? []).buffer);
    case DataType.DOUBLE:
      return new Uint8Array(Float64Array.from(t.doubleData ?? []).buffer);
    case DataType.INT64:
      return new Uint8Array(BigInt64Array.from((t.int64Data ?? []).map((x) => BigInt(toNumber(x)))).buffer);
    case DataType.INT32:
      return new Uint8Array(Int32Array.from(t.int32Data ?? []).buffer);
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
    case DataType.UINT16:
    case DataType.INT16:
      return new Uint8Array(Uint16Array.from(t.int32Data ?? []).buffer);
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL:
      return Uint8Array.from(t.int32Data ?? []);
    default:
      return n === 0 ? new Uint8Array(0) : undefined;
  }
}

/** A weight whose bytes are produced on demand by `write`, or marked absent like its source. */
export function derivedWeight(
  dtype: number,
  dims: number[],
  source: Weight | undefined,
  write: (sink: (c: Uint8Array) => void) => void,
): Weight {
  const length = byteSize(dtype, countOf(dims)) ?? 0;
  if (source && !hasBytes(source)) return { dtype, dims, data: absent(source.data, length) };
  return { dtype, dims, data: { kind: 'stream', length, write } };
}

/** Data that stays missing: a graph-only model's rewritten weight, still pointing at the absent file. */
function absent(d: TensorData, length: number): TensorData {
  if (d.kind !== 'external') throw new Error('absent(): source is present');
  return { kind: 'external', ref: { ...d.ref, offset: 0, length, exists: false } };
}

/** A small weight held in memory. */
export function bytesWeight(dtype: number, dims: number[], bytes: Uint8Array): Weight {
  return { dtype, dims, data: { kind: 'raw', bytes } };
}

export function int64Weight(values: readonly number[]): Weight {
  return bytesWeight(
    DataType.INT64,
    [values.length],
    new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
  );
}

/**
 * Keeps, on each axis, the listed indices (undefined keeps the axis whole).
 * The result streams: the source tensor is read when the model is saved, one
 * tensor at a time, and written out in chunks.
 */
export function sliceWeight(w: Weight, keep: readonly (readonly number[] | undefined)[]): Weight {
  const dims = w.dims.map((d, a) => keep[a]?.length ?? d);
  const es = byteSize(w.dtype, 1);
  if (es === undefined || (byteSize(w.dtype, 2) ?? 0) !== 2 * es)
    throw new Error(`sliceWeight: dtype ${w.dtype} is not byte-addressable`);
  return derivedWeight(w.dtype, dims, w, (sink) => {
    const src = readBytes(w);
    if (!src) throw new Error('sliceWeight: source bytes vanished');
    gather(src, w.dims, keep, es, sink);
  });
}

/** Copies the kept sub-tensor of `src` into `sink`, in row-major order, in chunks. */
export function gather(
  src: Uint8Array,
  dims: readonly number[],
  keep: readonly (readonly number[] | undefined)[],
  es: number,
  sink: (c: Uint8Array) => void,
): void {
  let last = -1;
  keep.forEach((k, a) => {
    if (k) last = a;
  });
  const rank = dims.length;
  if (last < 0) {
    for (let o = 0; o < src.length; o += CHUNK) sink(src.subarray(o, Math.min(src.length, o + CHUNK)));
    return;
  }
  const stride = new Array<number>(rank).fill(1);
  for (let a = rank - 2; a >= 0; a--) stride[a] = stride[a + 1] * dims[a + 1];
  const block = stride[last] * es;
  const out = new Uint8Array(Math.max(CHUNK, block));
  let fill = 0;
  const lists = dims.slice(0, last + 1).map((d, a) => keep[a] ?? Array.from({ length: d }, (_, i) => i));
  const walk = (a: number, base: number) => {
    for (const i of lists[a]) {
      const off = base + i * stride[a];
      if (a < last) walk(a + 1, off);
      else {
        if (fill + block > out.length) {
          sink(out.slice(0, fill));
          fill = 0;
        }
        out.set(src.subarray(off * es, off * es + block), fill);
        fill += block;
      }
    }
  };
  walk(0, 0);
  if (fill) sink(out.slice(0, fill));
}

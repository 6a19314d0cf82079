// Weight-only quantization of Conv, ConvTranspose, MatMul and Gemm weights.
// Scales are computed now (one streamed read of each weight); the quantized
// bytes are written when the model is saved (a second streamed read), so no
// model is ever held in memory.
//
//   int8 per channel, symmetric:  W ─ Conv        → Wq:int8 ─ DequantizeLinear(scale[C_out], axis) ─ Conv
//   int4 blocked (opset 21):      W ─ MatMul      → Wq:uint4 ─ DequantizeLinear(scale, zero[K/bs, N], axis=0, block_size) ─ MatMul
//   int4 MatMulNBits:             x ─ MatMul(W)   → x ─ com.microsoft.MatMulNBits(Wq[N, K/bs, bs/2], scale[N·K/bs], zero)
import type { Graph, Node, Value, Weight } from '../../ir/graph.ts';
import { DataType, isFloat } from '../../onnx/dtype.ts';
import { onnx } from '../../onnx/proto.ts';
import { toHalf } from '../../onnx/half.ts';
import { bytesWeight, countOf, derivedWeight, hasBytes, readFloats, streamFloats } from '../../ir/weight-io.ts';

const A = onnx.AttributeProto.AttributeType;
export const intAttr = (name: string, i: number) => onnx.AttributeProto.create({ name, type: A.INT, i });

/** Which input of a compute op is its weight, and along which axes it produces and reduces. */
export interface WeightSlot {
  node: Node;
  index: number;
  /** Output-channel axis (per-channel scales run along it). */
  out: number;
  /** Reduction axis (blocks run along it). */
  reduce: number;
}

export function weightSlot(n: Node): WeightSlot | undefined {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return undefined;
  const w = n.inputs[1];
  if (!w?.weight || !isFloat(w.weight.dtype)) return undefined;
  const rank = w.weight.dims.length;
  switch (n.op) {
    case 'Conv':
      return rank >= 3 ? { node: n, index: 1, out: 0, reduce: 1 } : undefined;
    case 'ConvTranspose':
      return rank >= 3 ? { node: n, index: 1, out: 1, reduce: 0 } : undefined;
    case 'MatMul':
      return rank === 2 ? { node: n, index: 1, out: 1, reduce: 0 } : undefined;
    case 'Gemm': {
      const transB = Number(n.attr('transB')?.i ?? 0);
      return rank === 2 ? { node: n, index: 1, out: transB ? 0 : 1, reduce: transB ? 1 : 0 } : undefined;
    }
    default:
      return undefined;
  }
}

const origin = (from: Node) => ({ kind: 'pass' as const, pass: 'quantize', from: [from.id] });

/** Max |w| per scale cell; `cell(i)` maps a flat element index to its cell. */
function absMax(w: Weight, cells: number, cell: (i: number) => number): Float32Array | undefined {
  const m = new Float32Array(cells);
  const ok = streamFloats(w, (vals, start) => {
    for (let j = 0; j < vals.length; j++) {
      const c = cell(start + j);
      const a = Math.abs(vals[j]);
      if (a > m[c]) m[c] = a;
    }
  });
  return ok ? m : undefined;
}

function floatBytes(x: Float32Array, dtype: number): Uint8Array {
  if (dtype === DataType.FLOAT16) return new Uint8Array(Uint16Array.from(x, (v) => toHalf(v)).buffer);
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/** A scale tensor: computed now when the weight is present, else absent like it. */
function scaleWeight(
  w: Weight,
  dims: number[],
  scales: Float32Array | undefined,
  dtype: number = DataType.FLOAT,
): Weight {
  if (!scales) return derivedWeight(dtype, dims, w, () => {});
  return bytesWeight(dtype, dims, floatBytes(scales, dtype));
}

export interface Quantized {
  /** The value that replaces the float weight at its uses. */
  value: Value;
  bytesBefore: number;
  bytesAfter: number;
}

/** int8 per output channel, symmetric ([-127, 127], zero point 0), through DequantizeLinear. */
export function quantizeInt8(g: Graph, v: Value, slot: WeightSlot): Quantized {
  const w = v.weight!;
  const { dims } = w;
  const axis = slot.out;
  const inner = countOf(dims.slice(axis + 1));
  const channel = (i: number) => Math.floor(i / inner) % dims[axis];
  const max = hasBytes(w) ? absMax(w, dims[axis], channel) : undefined;
  const scales = max?.map((m) => (m > 0 ? m / 127 : 1));
  const q = derivedWeight(DataType.INT8, dims, w, (sink) => {
    streamFloats(w, (vals, start) => {
      const out = new Int8Array(vals.length);
      for (let j = 0; j < vals.length; j++)
        out[j] = Math.max(-127, Math.min(127, Math.round(vals[j] / scales![channel(start + j)])));
      sink(new Uint8Array(out.buffer));
    });
  });
  const qv = g.addWeight(g.uniqueName(`${v.name}_quantized`), q);
  const sv = g.addWeight(g.uniqueName(`${v.name}_scale`), scaleWeight(w, [dims[axis]], scales));
  const dq = g.add('DequantizeLinear', [qv, sv], {
    name: g.uniqueName(`${v.name}_DequantizeLinear`),
    attrs: [intAttr('axis', axis)],
    scope: slot.node.scope,
    origin: origin(slot.node),
    before: slot.node,
  });
  return finish(g, v, dq, slot, countOf(dims) + dims[axis] * 4);
}

/**
 * Per-block 4-bit grids, asymmetric: each block maps [lo, hi] onto 0..15 with
 * a zero point. The range is shrunk where that lowers the block's squared
 * error (outliers clipped), trying a few fixed fractions of the min/max range.
 */
export interface Int4Grid {
  scale: Float32Array;
  /** Zero points, 0..15. */
  zero: Uint8Array;
}

const SHRINK = [1, 0.95, 0.9, 0.85, 0.8, 0.75];

/** Grids for `cells` blocks; `cell(i)` maps a flat element index to its block. One or two streamed reads. */
function int4Grids(w: Weight, cells: number, cell: (i: number) => number): Int4Grid | undefined {
  const lo = new Float32Array(cells);
  const hi = new Float32Array(cells);
  if (
    !streamFloats(w, (vals, start) => {
      for (let j = 0; j < vals.length; j++) {
        const c = cell(start + j);
        if (vals[j] < lo[c]) lo[c] = vals[j];
        if (vals[j] > hi[c]) hi[c] = vals[j];
      }
    })
  )
    return undefined;
  // Squared error of every candidate range, then the best per block.
  const K = SHRINK.length;
  const cs = new Float32Array(cells * K);
  const cz = new Uint8Array(cells * K);
  for (let c = 0; c < cells; c++) {
    for (let k = 0; k < K; k++) {
      const s = ((hi[c] - lo[c]) * SHRINK[k]) / 15 || 1;
      cs[c * K + k] = s;
      cz[c * K + k] = Math.max(0, Math.min(15, Math.round((-lo[c] * SHRINK[k]) / s)));
    }
  }
  const err = new Float64Array(cells * K);
  streamFloats(w, (vals, start) => {
    for (let j = 0; j < vals.length; j++) {
      const base = cell(start + j) * K;
      const x = vals[j];
      for (let k = 0; k < K; k++) {
        const s = cs[base + k];
        const z = cz[base + k];
        const q = Math.max(0, Math.min(15, Math.round(x / s) + z));
        const e = x - (q - z) * s;
        err[base + k] += e * e;
      }
    }
  });
  const scale = new Float32Array(cells);
  const zero = new Uint8Array(cells);
  for (let c = 0; c < cells; c++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (err[c * K + k] < err[c * K + best]) best = k;
    scale[c] = cs[c * K + best];
    zero[c] = cz[c * K + best];
  }
  return { scale, zero };
}

const quant4 = (x: number, s: number, z: number) => Math.max(0, Math.min(15, Math.round(x / s) + z));

/** Packs 4-bit values two per byte, low nibble first, as ONNX stores int4/uint4. */
function pack4(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1] |= (values[i] & 0xf) << (i & 1 ? 4 : 0);
  return out;
}

/** uint4 in blocks of `bs` along the reduction axis, with per-block scale and zero point: opset-21 blocked DequantizeLinear. */
export function quantizeInt4Blocked(g: Graph, v: Value, slot: WeightSlot, bs: number): Quantized {
  const w = v.weight!;
  const { dims } = w;
  const axis = slot.reduce;
  const d = dims[axis];
  const nb = Math.ceil(d / bs);
  const inner = countOf(dims.slice(axis + 1));
  const cell = (i: number) => {
    const outer = Math.floor(i / (d * inner));
    const a = Math.floor(i / inner) % d;
    return (outer * nb + Math.floor(a / bs)) * inner + (i % inner);
  };
  const sdims = dims.map((x, k) => (k === axis ? nb : x));
  const grids = hasBytes(w) ? int4Grids(w, countOf(sdims), cell) : undefined;
  const n = countOf(dims);
  const q = derivedWeight(DataType.UINT4, dims, w, (sink) => {
    let carry = -1;
    streamFloats(w, (vals, start) => {
      const out = new Uint8Array(Math.ceil((vals.length + 1) / 2));
      let k = 0;
      let lo = carry;
      for (let j = 0; j < vals.length; j++) {
        const c = cell(start + j);
        const u = quant4(vals[j], grids!.scale[c], grids!.zero[c]);
        if (lo < 0) lo = u;
        else {
          out[k++] = lo | (u << 4);
          lo = -1;
        }
      }
      carry = lo;
      sink(out.subarray(0, k));
      if (start + vals.length === n && carry >= 0) sink(Uint8Array.of(carry));
    });
  });
  const qv = g.addWeight(g.uniqueName(`${v.name}_quantized`), q);
  const sv = g.addWeight(g.uniqueName(`${v.name}_scale`), scaleWeight(w, sdims, grids?.scale));
  const zv = g.addWeight(
    g.uniqueName(`${v.name}_zero_point`),
    grids ? bytesWeight(DataType.UINT4, sdims, pack4(grids.zero)) : derivedWeight(DataType.UINT4, sdims, w, () => {}),
  );
  const dq = g.add('DequantizeLinear', [qv, sv, zv], {
    name: g.uniqueName(`${v.name}_DequantizeLinear`),
    attrs: [intAttr('axis', axis), intAttr('block_size', bs)],
    scope: slot.node.scope,
    origin: origin(slot.node),
    before: slot.node,
  });
  const cells = countOf(sdims);
  return finish(g, v, dq, slot, Math.ceil(n / 2) + cells * 4 + Math.ceil(cells / 2));
}

/** Rewires the weight's use to the dequantized value (cast back to float16 for a float16 weight). */
function finish(g: Graph, v: Value, dq: Node, slot: WeightSlot, bytesAfter: number): Quantized {
  const w = v.weight!;
  let out = dq.output();
  out.type = { dtype: DataType.FLOAT, shape: [...w.dims] };
  if (w.dtype !== DataType.FLOAT) {
    const cast = g.add('Cast', [out], {
      name: g.uniqueName(`${dq.name}_Cast`),
      attrs: [intAttr('to', w.dtype)],
      scope: slot.node.scope,
      origin: origin(slot.node),
      before: slot.node,
    });
    out = cast.output();
    out.type = { dtype: w.dtype, shape: [...w.dims] };
  }
  return { value: out, bytesBefore: countOf(w.dims) * (w.dtype === DataType.FLOAT ? 4 : 2), bytesAfter };
}

/**
 * A MatMul on a [K, N] weight as com.microsoft.MatMulNBits: 4-bit blocks of
 * `bs` along K with per-block scale (in A's type) and zero point.
 */
export function matMulNBits(g: Graph, node: Node, bs: number): Quantized {
  const v = node.inputs[1]!;
  const w = v.weight!;
  const [K, N] = w.dims;
  const nb = Math.ceil(K / bs);
  const aType = node.inputs[0]?.type?.dtype ?? DataType.FLOAT;
  // Block (n, k / bs) of the transposed weight: cells are laid out [N, nb].
  const grids = hasBytes(w)
    ? int4Grids(w, N * nb, (i) => (i % N) * nb + Math.floor(Math.floor(i / N) / bs))
    : undefined;
  const blob = bs / 2;
  const q = derivedWeight(DataType.UINT8, [N, nb, blob], w, (sink) => {
    const x = readFloats(w)!;
    const row = new Uint8Array(nb * bs);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < nb * bs; k++) {
        const c = n * nb + Math.floor(k / bs);
        row[k] = k < K ? quant4(x[k * N + n], grids!.scale[c], grids!.zero[c]) : grids!.zero[c];
      }
      sink(pack4(row));
    }
  });
  const zeroBytes = Math.ceil(nb / 2);
  const zeros = grids
    ? (() => {
        const z = new Uint8Array(N * zeroBytes);
        for (let n = 0; n < N; n++) z.set(pack4(grids.zero.subarray(n * nb, (n + 1) * nb)), n * zeroBytes);
        return bytesWeight(DataType.UINT8, [N * zeroBytes], z);
      })()
    : derivedWeight(DataType.UINT8, [N * zeroBytes], w, () => {});
  const qv = g.addWeight(g.uniqueName(`${v.name}_nbits`), q);
  const sv = g.addWeight(g.uniqueName(`${v.name}_scale`), scaleWeight(w, [N * nb], grids?.scale, aType));
  const zv = g.addWeight(g.uniqueName(`${v.name}_zero_point`), zeros);
  const mm = g.add('MatMulNBits', [node.inputs[0], qv, sv, zv], {
    name: g.uniqueName(`${node.name}_NBits`),
    domain: 'com.microsoft',
    attrs: [intAttr('K', K), intAttr('N', N), intAttr('bits', 4), intAttr('block_size', bs)],
    scope: node.scope,
    origin: origin(node),
    before: node,
  });
  const out = mm.output();
  out.type = node.outputs[0]?.type ? { ...node.outputs[0].type } : undefined;
  replaceKeepingName(g, node.outputs[0]!, out);
  return {
    value: out,
    bytesBefore: K * N * (w.dtype === DataType.FLOAT ? 4 : 2),
    bytesAfter: N * nb * blob + N * nb * 4 + N * zeroBytes,
  };
}

/** Replaces every use of `old` by `next`; a graph output keeps its name (the two values swap names). */
export function replaceKeepingName(g: Graph, old: Value, next: Value): void {
  const isOutput = g.outputs.includes(old);
  g.replaceAllUses(old, next);
  if (isOutput) g.swapNames(old, next);
}

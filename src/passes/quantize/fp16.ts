// float16 conversion. Each node computes in float16 or stays in float32 (ops
// on the blocklist, ops outside the selection); float weights and constants
// that float16 nodes read are converted (streamed at save), and a Cast goes
// wherever a value crosses between the two:
//
//   x:f32 ─ Conv(W:f32) ─ InstanceNorm ─ …    x:f32 ─ Cast(f16) ─ Conv(W:f16) ─ Cast(f32) ─ InstanceNorm ─ Cast(f16) ─ …
//
// keep_io_types keeps the model's inputs and outputs float32 (a Cast at each);
// without it they become float16 too.
import type { Graph, Node, Use, Value, Weight } from '../../ir/graph.ts';
import { protoValue } from '../../ir/infer/tensor-value.ts';
import { DataType } from '../../onnx/dtype.ts';
import { onnx } from '../../onnx/proto.ts';
import { toHalf } from '../../onnx/half.ts';
import { derivedWeight, streamFloats } from '../../ir/weight-io.ts';
import { intAttr } from './weights.ts';

const F32 = DataType.FLOAT;
const F16 = DataType.FLOAT16;

/** Normalization and softmax math stays float32 by default (runtimes overflow or lose precision there). */
export const DEFAULT_FP16_BLOCKLIST = [
  'InstanceNormalization',
  'LayerNormalization',
  'GroupNormalization',
  'Softmax',
  'LogSoftmax',
  'ReduceMean',
  'Pow',
  'Sqrt',
];

/** Ops that never compute in float16 here: (de)quantization keeps its float32 scales. */
const NEVER = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'Constant']);

/** Float inputs that are not the op's data type: they stay float32 whatever the node computes in. */
const FIXED: Record<string, number[]> = { Resize: [1, 2], Upsample: [1] };
/** Ops that read any input type: no Cast in front of them. */
const ANY_INPUT = new Set(['Cast', 'Shape', 'Size']);

export interface Fp16Result {
  nodes: number;
  casts: number;
  weights: number;
  bytesBefore: number;
  bytesAfter: number;
}

export function convertToFloat16(g: Graph, computesInFp16: (n: Node) => boolean, keepIoTypes: boolean): Fp16Result {
  const origin = (n: Node) => ({ kind: 'pass' as const, pass: 'quantize', from: [n.id] });
  const half = new Map<Node, boolean>();
  for (const n of g.nodes()) {
    const domainOk =
      n.domain === '' || n.domain === 'ai.onnx' || (n.domain === 'com.microsoft' && n.op === 'MatMulNBits');
    half.set(n, domainOk && !NEVER.has(n.op) && computesInFp16(n));
  }
  const res: Fp16Result = { nodes: 0, casts: 0, weights: 0, bytesBefore: 0, bytesAfter: 0 };
  /** Values this conversion turned into float16 (a float32 reader must get a Cast back). */
  const converted = new Set<Value>();
  const setType = (v: Value, dtype: number) => {
    v.type = { dtype, shape: v.type?.shape };
    converted.add(v);
  };

  if (!keepIoTypes) for (const v of g.inputs) if (v.type?.dtype === F32) setType(v, F16);

  // Outputs: a float16 node's float outputs are float16.
  for (const n of g.nodes()) {
    if (!half.get(n)) continue;
    res.nodes++;
    if (n.op === 'Cast') {
      const to = Number(n.attr('to')?.i ?? 0);
      const out = n.outputs[0]!;
      // A Cast to float32 whose readers all stay float32 is kept: it is where float32 math begins.
      if (to === F32 && out.uses.some((u) => half.get(u.node))) {
        const input = n.inputs[0];
        if (input?.type?.dtype === F16 && !g.outputs.includes(out)) {
          // float16 → float16 would be a no-op cast (which runtimes mishandle): read the input directly.
          g.replaceAllUses(out, input);
        } else {
          n.attrs = n.attrs.map((a) => (a.name === 'to' ? intAttr('to', F16) : a));
          setType(out, F16);
        }
      }
      continue;
    }
    if (n.op === 'ConstantOfShape') {
      const t = n.attr('value')?.t;
      if (t && t.dataType === F32) {
        const x = protoValue(t)?.data[0] ?? 0;
        n.attrs = n.attrs.map((a) =>
          a.name === 'value'
            ? onnx.AttributeProto.create({
                name: 'value',
                type: onnx.AttributeProto.AttributeType.TENSOR,
                t: halfTensor([x], [1]),
              })
            : a,
        );
        setType(n.outputs[0]!, F16);
      }
      continue;
    }
    for (const v of n.outputs) if (v?.type?.dtype === F32) setType(v, F16);
  }

  // Edges: every input gets the type its reader computes in.
  const casts = new Map<string, Value>();
  const halfWeights = new Map<Value, Value>();
  const constantsDone = new Set<Node>();
  for (const n of [...g.nodes()]) {
    const fixed = FIXED[n.op] ?? [];
    n.inputs.forEach((v, i) => {
      if (!v || fixed.includes(i) || ANY_INPUT.has(n.op)) return;
      const cur = v.type?.dtype;
      const want = half.get(n) ? (cur === F32 ? F16 : cur) : cur === F16 && converted.has(v) ? F32 : cur;
      if (want === cur) return;
      if (v.weight && want === F16) {
        const hv = halfWeight(
          g,
          v,
          halfWeights,
          res,
          (u) => half.get(u.node)! && !(FIXED[u.node.op] ?? []).includes(u.index),
        );
        if (hv !== v) g.setInput(n, i, hv);
        return;
      }
      const p = v.producer;
      if (
        p?.op === 'Constant' &&
        want === F16 &&
        !constantsDone.has(p) &&
        v.uses.every((u) => half.get(u.node) && !(FIXED[u.node.op] ?? []).includes(u.index))
      ) {
        if (halfConstant(p)) {
          constantsDone.add(p);
          setType(v, F16);
          return;
        }
      }
      const key = `${v.id}:${want}`;
      let c = casts.get(key);
      if (!c) {
        const node = g.add('Cast', [v], {
          name: g.uniqueName(`${v.name}_to_${want === F16 ? 'fp16' : 'fp32'}`),
          attrs: [intAttr('to', want!)],
          scope: n.scope,
          origin: origin(n),
          before: n,
        });
        c = node.output();
        c.type = { dtype: want!, shape: v.type?.shape };
        casts.set(key, c);
        res.casts++;
      }
      g.setInput(n, i, c);
    });
  }

  if (keepIoTypes) {
    g.outputs.forEach((v, i) => {
      if (v.type?.dtype !== F16 || !converted.has(v)) return;
      const p = v.producer;
      const node = g.add('Cast', [v], {
        name: g.uniqueName(`${v.name}_to_fp32`),
        attrs: [intAttr('to', F32)],
        scope: p?.scope ?? '',
        origin: origin(p ?? g.nodes()[0]),
      });
      const out = node.output();
      out.type = { dtype: F32, shape: v.type.shape };
      g.setOutput(i, out);
      g.swapNames(v, out);
      res.casts++;
    });
  }
  return res;
}

/** The float16 version of a float32 weight: converted in place (same name) when every reader wants float16. */
function halfWeight(
  g: Graph,
  v: Value,
  cache: Map<Value, Value>,
  res: Fp16Result,
  wantsHalf: (u: Use) => boolean,
): Value {
  const hit = cache.get(v);
  if (hit) return hit;
  const w = v.weight!;
  const h = toHalfWeight(w);
  res.weights++;
  res.bytesBefore += w.dims.reduce((a, b) => a * b, 1) * 4;
  res.bytesAfter += w.dims.reduce((a, b) => a * b, 1) * 2;
  if (v.uses.every(wantsHalf)) {
    v.weight = h;
    v.type = { dtype: F16, shape: [...h.dims] };
    cache.set(v, v);
    return v;
  }
  const nv = g.addWeight(g.uniqueName(`${v.name}_fp16`), h);
  cache.set(v, nv);
  return nv;
}

/** A float32 weight's values as float16, converted chunk by chunk while the model is saved. */
export function toHalfWeight(w: Weight): Weight {
  return derivedWeight(F16, [...w.dims], w, (sink) => {
    streamFloats(w, (vals) => sink(new Uint8Array(floatsToHalf(vals).buffer)));
  });
}

/** IEEE binary16 bits of each float32, rounding to nearest even (toHalf, unrolled for bulk data). */
export function floatsToHalf(src: Float32Array): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 112;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rest = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rest > half || (rest === half && h & 1)) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
    out[i] = sign | h;
  }
  return out;
}

function halfTensor(values: number[], dims: number[]) {
  return onnx.TensorProto.create({
    dataType: F16,
    dims,
    rawData: new Uint8Array(Uint16Array.from(values, (x) => toHalf(x)).buffer),
  });
}

/** Turns a small float32 Constant node into float16 in place; false when it is too big or unreadable. */
function halfConstant(p: Node): boolean {
  const t = p.attr('value')?.t;
  const c = t && t.dataType === F32 ? protoValue(t) : undefined;
  if (!c) return false;
  p.attrs = p.attrs.map((a) =>
    a.name === 'value'
      ? onnx.AttributeProto.create({
          name: 'value',
          type: onnx.AttributeProto.AttributeType.TENSOR,
          t: halfTensor(c.data, c.dims),
        })
      : a,
  );
  return true;
}

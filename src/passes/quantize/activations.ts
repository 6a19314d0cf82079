// Integer activations for w8a16 and w8a8 (QDQ, as Snapdragon NPUs run them):
// every float activation a quantized op reads passes through a
// QuantizeLinear/DequantizeLinear pair with the range calibration observed
// (asymmetric, per tensor: uint16 for w8a16, uint8 for w8a8). Runtimes that
// understand QDQ fuse the pairs into integer kernels; others run the float
// ops in between.
//
//   h ─ Conv         → h ─ QuantizeLinear(s, z):uint16 ─ DequantizeLinear(s, z) ─ Conv
import type { Graph, Node, Value } from '../../ir/graph.ts';
import { DataType } from '../../onnx/dtype.ts';
import { bytesWeight } from '../../ir/weight-io.ts';

export interface Range {
  min: number;
  max: number;
}

/** Observed activation ranges by value name, from calibrate(). */
export interface ActivationRanges {
  ranges: Map<string, Range>;
  samples: number;
  /** 'random' or the folder the samples came from. */
  source: string;
}

// These read only a tensor's shape; quantizing what they read changes nothing.
const SHAPE_ONLY = new Set(['Shape', 'Size']);

/** Values computed from the graph inputs (not weights, constants or shape arithmetic). */
function activations(g: Graph): Set<Value> {
  const live = new Set<Value>(g.inputs);
  for (const n of g.nodes()) {
    if (SHAPE_ONLY.has(n.op) || n.op === 'Constant') continue;
    if (n.inputs.some((v) => v && live.has(v))) for (const v of n.outputs) if (v) live.add(v);
  }
  return live;
}

/** The float32 activations w8a16 / w8a8 quantize: those read by a covered op. In graph order. */
export function activationTargets(g: Graph, covered: (n: Node) => boolean): Value[] {
  const live = activations(g);
  const reads = (v: Value) =>
    v.uses.some((u) => covered(u.node) && !SHAPE_ONLY.has(u.node.op) && u.node.op !== 'QuantizeLinear');
  const out: Value[] = [];
  for (const v of g.inputs) if (v.type?.dtype === DataType.FLOAT && reads(v)) out.push(v);
  for (const n of g.nodes())
    for (const v of n.outputs) if (v && live.has(v) && v.type?.dtype === DataType.FLOAT && reads(v)) out.push(v);
  return out;
}

/** Activation bits: 16 (uint16, w8a16) or 8 (uint8, w8a8). */
export type ActivationBits = 8 | 16;

/**
 * Calibration sees a few samples; real inputs reach further. With 16 bits
 * there is room to spare: the observed range is widened by half its width on
 * each side (one bit of resolution for a 2× margin against clipping). With 8
 * bits every bit counts: a tenth on each side.
 */
export const HEADROOM: Record<ActivationBits, number> = { 16: 0.5, 8: 0.1 };

/** Unsigned scale and zero point covering [min, max] widened by the headroom, and 0. */
export function activationParams(r: Range, bits: ActivationBits): { scale: number; zero: number } {
  const qmax = 2 ** bits - 1;
  const pad = (r.max - r.min) * HEADROOM[bits];
  const lo = Math.min(r.min - pad, 0);
  const hi = Math.max(r.max + pad, 0);
  const scale = hi > lo ? (hi - lo) / qmax : 1;
  return { scale, zero: Math.max(0, Math.min(qmax, Math.round(-lo / scale))) };
}

/** Inserts a QDQ pair after each target; covered readers (not shape-only ones) read the dequantized value. */
export function insertQdq(
  g: Graph,
  targets: Value[],
  ranges: ActivationRanges,
  covered: (n: Node) => boolean,
  bits: ActivationBits,
): { pairs: number; missing: string[] } {
  const dtype = bits === 16 ? DataType.UINT16 : DataType.UINT8;
  const zeroBytes = (z: number) => new Uint8Array(bits === 16 ? Uint16Array.of(z).buffer : Uint8Array.of(z).buffer);
  let pairs = 0;
  const missing: string[] = [];
  for (const v of targets) {
    const r = ranges.ranges.get(v.name);
    if (!r || !Number.isFinite(r.min) || !Number.isFinite(r.max)) {
      missing.push(v.name);
      continue;
    }
    const { scale, zero } = activationParams(r, bits);
    const first = v.uses.map((u) => u.node).find((n) => covered(n));
    const scope = v.producer?.scope ?? first?.scope ?? '';
    const origin = { kind: 'pass' as const, pass: 'quantize', from: v.producer ? [v.producer.id] : [] };
    const s = g.addWeight(
      g.uniqueName(`${v.name}_scale`),
      bytesWeight(DataType.FLOAT, [], new Uint8Array(Float32Array.of(scale).buffer)),
    );
    const z = g.addWeight(g.uniqueName(`${v.name}_zero_point`), bytesWeight(dtype, [], zeroBytes(zero)));
    const q = g.add('QuantizeLinear', [v, s, z], {
      name: g.uniqueName(`${v.name}_QuantizeLinear`),
      scope,
      origin,
      before: first,
    });
    q.output().type = { dtype, shape: v.type?.shape };
    const dq = g.add('DequantizeLinear', [q.output(), s, z], {
      name: g.uniqueName(`${v.name}_DequantizeLinear`),
      scope,
      origin,
      before: first,
    });
    dq.output().type = { dtype: DataType.FLOAT, shape: v.type?.shape };
    const outputs = g.outputs.map((o) => o === v);
    g.replaceAllUses(v, dq.output(), (n) => n === q || !covered(n) || SHAPE_ONLY.has(n.op));
    outputs.forEach((was, i) => was && g.setOutput(i, v));
    pairs++;
  }
  return { pairs, missing };
}

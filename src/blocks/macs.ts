// Multiply-accumulates per node, from inferred shapes. Only the ops that do
// the arithmetic count (Conv, ConvTranspose, MatMul, Gemm, Einsum,
// MatMulNBits); a product of two activations (attention's QKᵀ and
// softmax·V) is also reported as `attention`.
import type { Node, Value } from '../ir/graph.ts';

export interface Macs {
  macs: number;
  attention: number;
}

type MacRule = (n: Node) => number | undefined;

const dims = (v: Value | undefined): number[] | undefined => {
  const s = v?.type?.shape;
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
};
const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);

const MAC_RULES: Record<string, MacRule> = {
  // Each output element sums (C_in / group) · kernel products: W is [M, C/g, k…].
  Conv: (n) => {
    const y = dims(n.outputs[0]);
    const w = dims(n.inputs[1]);
    return y && w ? prod(y) * prod(w.slice(1)) : undefined;
  },
  // Each input element is scattered into (C_out / group) · kernel outputs: W is [C, M/g, k…].
  ConvTranspose: (n) => {
    const x = dims(n.inputs[0]);
    const w = dims(n.inputs[1]);
    return x && w ? prod(x) * prod(w.slice(1)) : undefined;
  },
  MatMul: (n) => {
    const a = dims(n.inputs[0]);
    const y = dims(n.outputs[0]);
    return a && y ? prod(y) * a[a.length - 1] : undefined;
  },
  Gemm: (n) => {
    const a = dims(n.inputs[0]);
    const y = dims(n.outputs[0]);
    if (!a || !y) return undefined;
    const transA = n.attr('transA')?.i;
    const k = Number(transA ?? 0) ? a[0] : a[1];
    return prod(y) * k;
  },
  MatMulNBits: (n) => {
    const y = dims(n.outputs[0]);
    const k = n.attr('K')?.i;
    return y && k !== undefined && k !== null ? prod(y) * Number(k) : undefined;
  },
  // Every combination of distinct indices is one multiply-accumulate.
  Einsum: (n) => {
    const eq = n.attr('equation')?.s;
    if (!eq) return undefined;
    const [lhs] = new TextDecoder().decode(eq).replaceAll(' ', '').split('->');
    const sizes = new Map<string, number>();
    const terms = lhs.split(',');
    for (let i = 0; i < terms.length; i++) {
      const d = dims(n.inputs[i]);
      if (!d || terms[i].includes('...')) return undefined;
      [...terms[i]].forEach((c, k) => sizes.set(c, d[k]));
    }
    return prod([...sizes.values()]);
  },
};

// Ops through which a weight stays a weight (a transposed or dequantized matrix is still a parameter).
const WEIGHT_PRESERVING = new Set([
  'Transpose',
  'Cast',
  'Reshape',
  'DequantizeLinear',
  'Identity',
  'Unsqueeze',
  'Squeeze',
  'Constant',
]);

function fromWeights(v: Value | undefined, seen = new Set<Value>()): boolean {
  if (!v) return false;
  if (v.weight) return true;
  const p = v.producer;
  if (!p || seen.has(v)) return false;
  seen.add(v);
  if (p.op === 'Constant') return true;
  if (!WEIGHT_PRESERVING.has(p.op)) return false;
  return fromWeights(p.inputs[0], seen);
}

/** Undefined when the node computes MACs but its shapes are not known. */
export function nodeMacs(n: Node): Macs | undefined {
  const rule = n.domain === '' || n.domain === 'ai.onnx' || n.domain === 'com.microsoft' ? MAC_RULES[n.op] : undefined;
  if (!rule) return { macs: 0, attention: 0 };
  const macs = rule(n);
  if (macs === undefined) return undefined;
  const twoActivations =
    (n.op === 'MatMul' || n.op === 'Einsum') && n.inputs.length >= 2 && n.inputs.every((v) => v && !fromWeights(v));
  return { macs, attention: twoActivations ? macs : 0 };
}

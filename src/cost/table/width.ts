// Block width: what `whatif --width SEL=R` means, and how each cost of a block
// scales with R. A block's hidden width is every channel count its boundary
// does not pin: ResNet conv1's outputs (and norm2, conv2's inputs), a
// transformer's inner dim (projections, heads' size, GEGLU), never the
// channels entering or leaving the block.
//
//   scaled(v) = v is computed inside the block from one of its weighted ops
//               and v does not reach the block's exit without passing through
//               another weighted op.
//
// Narrowing a block slices the weights along scaled dims. The exponents (how a
// value's size, a node's MACs or its weights grow with R: R⁰, R¹ or R²) are
// measured, not guessed: narrow every block to R = ½ at once, re-infer shapes,
// and compare. Attention heads keep their count (the exporter divides the
// width by a constant head count), so QKᵀ's MACs scale with R and its score
// matrix does not — exactly what inference on the narrowed graph reports.
import type { Block, BlockMap } from '../../blocks/find.ts';
import { nodeMacs } from '../../blocks/macs.ts';
import { DiagnosticLog } from '../../diagnostics.ts';
import type { Graph, Node, TensorType, Value, Weight } from '../../ir/graph.ts';
import { inferShapes } from '../../ir/infer/index.ts';
import { byteSize } from '../../onnx/dtype.ts';
import { rowsWalked } from './walks.ts';

export interface WidthExponents {
  value: Map<Value, number>;
  macs: Map<Node, number>;
  weights: Map<Node, number>;
  /** Rows the node walks (walks.ts). */
  rows: Map<Node, number>;
}

const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);
// Ops whose small weights (bias, γ, β) follow their output's channels. The
// InstanceNormalization of a GroupNorm normalizes G groups, not channels.
const FOLLOWS_OUTPUT = (n: Node) => n.op !== 'InstanceNormalization' && !WEIGHTED.has(n.op);

/** New dims for each weight a narrowing touches. */
export type NarrowPlan = Map<Value, number[]>;

/** Channel count after narrowing: multiples of 8 stay multiples of 8 (head and group splits divide them). */
export function narrowed(c: number, ratio: number): number {
  if (c % 8 === 0 && c >= 16) return Math.max(8, Math.round((c * ratio) / 8) * 8);
  return Math.max(1, Math.round(c * ratio));
}

/** The weights to slice so that each block's hidden width becomes ratio × its own. */
export function narrowPlan(blocks: { block: Block; ratio: number }[], isAct: (v: Value) => boolean): NarrowPlan {
  const plan: NarrowPlan = new Map();
  for (const { block, ratio } of blocks) {
    const scaled = scaledValues(block, isAct);
    const set = (w: Value | undefined, axis: number) => {
      if (!w?.weight) return;
      const dims = plan.get(w) ?? [...w.weight.dims];
      if (axis < dims.length && dims[axis] === w.weight.dims[axis]) dims[axis] = narrowed(dims[axis], ratio);
      plan.set(w, dims);
    };
    for (const n of block.nodes) {
      const out = n.outputs[0];
      if (!out) continue;
      const outScaled = scaled.has(out);
      const x = n.inputs[0];
      const inScaled = !!x && scaled.has(x);
      if (WEIGHTED.has(n.op)) {
        const w = n.inputs[1];
        if (!w?.weight) continue;
        if (n.op === 'Conv') {
          if (outScaled) (set(w, 0), set(n.inputs[2], 0));
          if (inScaled) set(w, 1);
        } else if (n.op === 'ConvTranspose') {
          if (inScaled) set(w, 0);
          if (outScaled) (set(w, 1), set(n.inputs[2], 0));
        } else if (n.op === 'Gemm') {
          const tB = Number(n.attr('transB')?.i ?? 0) === 1;
          if (outScaled) (set(w, tB ? 0 : 1), set(n.inputs[2], (n.inputs[2]?.weight?.dims.length ?? 1) - 1));
          if (inScaled) set(w, tB ? 1 : 0);
        } else {
          const rank = w.weight.dims.length;
          if (outScaled) set(w, rank - 1);
          if (inScaled) set(w, rank - 2);
        }
      } else if (outScaled && FOLLOWS_OUTPUT(n)) {
        for (const w of n.inputs) {
          if (!w?.weight) continue;
          w.weight.dims.forEach((d, axis) => {
            if (d > 1) set(w, axis);
          });
        }
      }
    }
  }
  return plan;
}

function scaledValues(block: Block, isAct: (v: Value) => boolean): Set<Value> {
  const inside = new Set(block.nodes);
  const isWeighted = (n: Node) => WEIGHTED.has(n.op) && n.inputs.some((v) => v?.weight);
  // Forward: computed from a weighted op of this block.
  const fwd = new Set<Value>();
  for (const n of block.nodes) {
    const from = isWeighted(n) || n.inputs.some((v) => v && fwd.has(v));
    if (from) for (const v of n.outputs) if (v && isAct(v)) fwd.add(v);
  }
  // Backward: pinned by the boundary (reaches the exit through unweighted ops only).
  const pinned = new Set<Value>();
  const stack = [...block.exit];
  for (const v of block.exit) pinned.add(v);
  while (stack.length) {
    const v = stack.pop()!;
    const p = v.producer;
    if (!p || !inside.has(p) || isWeighted(p)) continue;
    for (const u of p.inputs) {
      if (u && isAct(u) && !pinned.has(u)) {
        pinned.add(u);
        stack.push(u);
      }
    }
  }
  return new Set([...fwd].filter((v) => !pinned.has(v)));
}

/**
 * Replaces the planned weights' dims (and, with `fill`, their data by
 * deterministic small values: latency does not depend on them). Returns a
 * function that puts the originals back.
 */
export function applyNarrow(plan: NarrowPlan, fill = false): () => void {
  const saved = new Map<Value, { weight: Weight; type?: TensorType }>();
  for (const [v, dims] of plan) {
    const w = v.weight!;
    saved.set(v, { weight: w, type: v.type });
    const count = dims.reduce((a, b) => a * b, 1);
    const data: Weight['data'] = fill ? filler(w.dtype, count) : { kind: 'typed' };
    v.weight = { dtype: w.dtype, dims, data };
    v.type = { dtype: w.dtype, shape: [...dims] };
  }
  return () => {
    for (const [v, s] of saved) {
      v.weight = s.weight;
      v.type = s.type;
    }
  };
}

function filler(dtype: number, count: number): Weight['data'] {
  const bytes = byteSize(dtype, count) ?? count * 4;
  return {
    kind: 'stream',
    length: bytes,
    write(sink) {
      // 0x3c00 is 1.0 in float16; small repeating bytes are finite in every float type.
      const chunk = new Uint8Array(Math.min(bytes, 1 << 20)).fill(0x1c);
      for (let done = 0; done < bytes; done += chunk.length)
        sink(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
    },
  };
}

/**
 * Exponents of every value, node MACs, weights and rows in the width ratio,
 * measured by narrowing every block to ½ and re-inferring. The graph is left
 * as it was. A reason instead when the narrowed graph does not infer (a
 * reshape target written as a constant, as the CLIP builder writes its heads).
 */
export function widthExponents(
  g: Graph,
  map: BlockMap,
  isAct: (v: Value) => boolean,
): WidthExponents | { reason: string } {
  const plan = narrowPlan(
    map.blocks.map((block) => ({ block, ratio: 0.5 })),
    isAct,
  );
  if (!plan.size) return { value: new Map(), macs: new Map(), weights: new Map(), rows: new Map() };
  const nodes = g.nodes();
  const types = new Map<Value, TensorType | undefined>();
  const size = (v: Value) => ((v.type?.shape ?? []) as number[]).reduce((a, b) => a * b, 1);
  const before = new Map<Value, number>();
  const macs0 = new Map<Node, number>();
  const w0 = new Map<Node, number>();
  const rows0 = new Map<Node, number>();
  const weightElems = (n: Node) => n.inputs.reduce((s, v) => s + (v?.weight ? size(v) : 0), 0);
  for (const n of nodes) {
    macs0.set(n, nodeMacs(n)?.macs ?? 0);
    w0.set(n, weightElems(n));
    rows0.set(n, rowsWalked(n));
    for (const v of n.outputs) if (v) (types.set(v, v.type), before.set(v, size(v)));
  }
  for (const v of g.inputs) types.set(v, v.type);
  const restore = applyNarrow(plan);
  const quiet = new DiagnosticLog();
  try {
    inferShapes(g, {}, quiet);
    if (quiet.hasErrors) return { reason: `the narrowed graph does not infer (${quiet.errors()[0].message})` };
    const exp = (a: number, b: number) => (a > 0 && b > 0 ? Math.min(2, Math.max(0, Math.round(Math.log2(a / b)))) : 0);
    const out: WidthExponents = { value: new Map(), macs: new Map(), weights: new Map(), rows: new Map() };
    for (const n of nodes) {
      out.macs.set(n, exp(macs0.get(n)!, nodeMacs(n)?.macs ?? 0));
      out.weights.set(n, exp(w0.get(n)!, weightElems(n)));
      out.rows.set(n, exp(rows0.get(n)!, rowsWalked(n)));
      for (const v of n.outputs) if (v) out.value.set(v, exp(before.get(v)!, size(v)));
    }
    return out;
  } finally {
    restore();
    for (const [v, t] of types) v.type = t;
  }
}

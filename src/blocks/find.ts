// The block map: groups graph nodes into the diffusers modules a recipe can
// address (`down_blocks.1.attentions.0`), with each block's boundary values
// and weights. Anonymous weights (`onnx::MatMul_N`) belong to the block whose
// nodes read them.
import type { Graph, Node, Value } from '../ir/graph.ts';
import { matchBlock, type BlockKind } from './patterns.ts';

export interface Block {
  name: string;
  kind: BlockKind;
  /** In graph order. */
  nodes: Node[];
  /** Activations read from outside the block (not weights, constants or shape arithmetic). */
  entry: Value[];
  /** Activations the block produces that something outside reads (or graph outputs). */
  exit: Value[];
  weights: Value[];
  params: number;
}

export interface BlockMap {
  blocks: Block[];
  /** Nodes outside every block: time_proj, skip concats, unscoped exporter constants. */
  glue: Node[];
  /** Weights read only by glue nodes. */
  glueWeights: Value[];
  blockOf: Map<Node, Block>;
}

export function findBlocks(g: Graph): BlockMap {
  const byName = new Map<string, Block>();
  const blockOf = new Map<Node, Block>();
  const glue: Node[] = [];
  const grouped = new Map<string, { nodes: Node[]; rule: NonNullable<ReturnType<typeof matchBlock>>['rule'] }>();
  for (const n of g.nodes()) {
    const m = matchBlock(n.scope);
    if (!m) {
      glue.push(n);
      continue;
    }
    const e = grouped.get(m.name) ?? { nodes: [], rule: m.rule };
    e.nodes.push(n);
    grouped.set(m.name, e);
  }
  for (const [name, { nodes, rule }] of grouped) {
    const kind = typeof rule.kind === 'function' ? rule.kind(nodes) : rule.kind;
    const block: Block = { name, kind, nodes, entry: [], exit: [], weights: [], params: 0 };
    byName.set(name, block);
    for (const n of nodes) blockOf.set(n, block);
  }

  const glueWeights: Value[] = [];
  for (const w of g.weights) {
    const owner = w.uses.map((u) => blockOf.get(u.node)).find((b) => b);
    if (owner) {
      owner.weights.push(w);
      owner.params += numel(w);
    } else {
      glueWeights.push(w);
    }
  }

  const outputs = new Set(g.outputs);
  const isActivation = activations(g);
  for (const block of byName.values()) {
    const inside = new Set(block.nodes);
    const entry = new Set<Value>();
    const exit = new Set<Value>();
    for (const n of block.nodes) {
      for (const v of [...n.inputs, ...n.implicitInputs]) {
        if (v && !(v.producer && inside.has(v.producer)) && isActivation(v)) entry.add(v);
      }
      for (const v of n.outputs) {
        if (!v || !isActivation(v)) continue;
        if (outputs.has(v) || v.uses.some((u) => !inside.has(u.node))) exit.add(v);
      }
    }
    block.entry = [...entry];
    block.exit = [...exit];
  }
  return { blocks: [...byName.values()], glue, glueWeights, blockOf };
}

// These read only the shape of their input, so data stops flowing there.
const SHAPE_ONLY = new Set(['Shape', 'Size', 'Constant', 'ConstantOfShape']);

/**
 * Data flowing through the network, as opposed to weights, constants and
 * shape arithmetic: graph inputs and whatever is computed from their values.
 */
function activations(g: Graph): (v: Value) => boolean {
  // Along uses, not node order: a pass mid-rewrite may have appended nodes
  // that earlier ones read.
  const live = new Set<Value>(g.inputs);
  const queue = [...g.inputs];
  while (queue.length) {
    for (const { node } of queue.pop()!.uses) {
      if (!node.alive || SHAPE_ONLY.has(node.op)) continue;
      for (const v of node.outputs) if (v && !live.has(v)) (live.add(v), queue.push(v));
    }
  }
  return (v) => live.has(v);
}

export function numel(w: Value): number {
  return (w.weight?.dims ?? []).reduce((a, b) => a * b, 1);
}

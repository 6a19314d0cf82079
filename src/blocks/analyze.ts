// Params and MACs of a whole model and of each block: what `inspect` prints
// and what the cost model builds on.
import type { Graph } from '../ir/graph.ts';
import { findBlocks, numel, type BlockMap } from './find.ts';
import { nodeMacs } from './macs.ts';
import type { BlockKind } from './patterns.ts';

export interface BlockStats {
  name: string;
  kind: BlockKind;
  params: number;
  /** All MACs of the block, attention included. */
  macs: number;
  attention_macs: number;
}

export interface ModelStats {
  params: number;
  macs: { total: number; attention: number };
  blocks: BlockStats[];
  /** What lies outside every block (time_proj, skip concats, exporter constants). */
  glue: { nodes: number; params: number; macs: number };
  /** Nodes whose MACs could not be counted because a shape is unknown. */
  uncounted: string[];
}

export function analyzeGraph(g: Graph, map: BlockMap = findBlocks(g)): ModelStats {
  const perBlock = new Map(map.blocks.map((b) => [b, { macs: 0, attention: 0 }]));
  const glue = { nodes: map.glue.length, params: map.glueWeights.reduce((s, w) => s + numel(w), 0), macs: 0 };
  const uncounted: string[] = [];
  let total = 0;
  let attention = 0;
  for (const n of g.nodes()) {
    const m = nodeMacs(n);
    if (!m) {
      uncounted.push(n.name);
      continue;
    }
    total += m.macs;
    attention += m.attention;
    const b = map.blockOf.get(n);
    const acc = b ? perBlock.get(b)! : undefined;
    if (acc) {
      acc.macs += m.macs;
      acc.attention += m.attention;
    } else {
      glue.macs += m.macs;
    }
  }
  return {
    params: g.weights.reduce((s, w) => s + numel(w), 0),
    macs: { total, attention },
    blocks: map.blocks.map((b) => ({
      name: b.name,
      kind: b.kind,
      params: b.params,
      macs: perBlock.get(b)!.macs,
      attention_macs: perBlock.get(b)!.attention,
    })),
    glue,
    uncounted,
  };
}

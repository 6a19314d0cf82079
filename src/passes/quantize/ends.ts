// The weighted layers at a model's two ends, which int4 keeps at int8 by
// default (QuantizeSpec.keepInt8), as low-bit toolchains commonly do: the
// first layers see the raw input distribution (a 4-channel latent; text
// embeddings), and the last layer's error lands on the output with nothing
// after it to average it out. Quantized alone to int4, these are among the
// most sensitive layers of the fixtures (VAE decoder: post_quant_conv and
// conv_out, 4th and 5th of 21; UNet: conv_in and conv_out, 3rd and 4th of 121),
// and they are small: weights go from ×0.168 to ×0.171 of float32 on the tiny
// UNet, whose cross-attention key/value projections are "first" too.
//
//   first  a weighted layer none of whose inputs depends on another weighted
//          layer: it reads the model inputs through weight-free ops only
//          (conv_in / post_quant_conv; in a UNet also the time-embedding
//          linear and the cross-attention key/value projections, which read
//          encoder_hidden_states)
//   last   a weighted layer whose output reaches a model output without
//          passing through another weighted layer (conv_out)
//
// "Weighted" means a Conv, ConvTranspose, MatMul or Gemm with a float weight
// (weightSlot). Residual paths cannot make a deep layer "first" or "last": a
// layer is first only if *every* path from the inputs to it is weight-free, and
// last only if *no* path from it meets another weighted layer.
import type { Graph, Node, Value } from '../../ir/graph.ts';
import { weightSlot } from './weights.ts';

export type ModelEnd = 'first' | 'last';
export const MODEL_ENDS: readonly ModelEnd[] = ['first', 'last'];

/** The first and last weighted layers of `g` (nodes must be in topological order, as the pass runner keeps them). */
export function modelEnds(g: Graph): Record<ModelEnd, Set<Node>> {
  const nodes = g.nodes();
  const weighted = (n: Node) => !!weightSlot(n);
  // Forward: a value is "deep" when some weighted layer is upstream of it.
  const deep = new Set<Value>();
  const first = new Set<Node>();
  for (const n of nodes) {
    const reads = [...n.inputs, ...n.implicitInputs].filter((v): v is Value => !!v);
    const fed = reads.some((v) => deep.has(v));
    if (weighted(n) && !fed) first.add(n);
    if (weighted(n) || fed) for (const v of n.outputs) if (v) deep.add(v);
  }
  // Backward: a node "feeds weights" when a weighted layer is downstream of it;
  // "reaches" when its output gets to a model output at all.
  const outputs = new Set(g.outputs);
  const feeds = new Set<Node>();
  const reaches = new Set<Node>();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    for (const v of n.outputs) {
      if (!v) continue;
      if (outputs.has(v)) reaches.add(n);
      for (const u of v.uses) {
        if (weighted(u.node) || feeds.has(u.node)) feeds.add(n);
        if (reaches.has(u.node)) reaches.add(n);
      }
    }
  }
  const last = new Set(nodes.filter((n) => weighted(n) && reaches.has(n) && !feeds.has(n)));
  return { first, last };
}

// Which module paths are blocks, and of what kind: a rule table over the
// dotted diffusers/transformers module path. The first rule whose pattern
// matches a prefix of a node's scope names that node's block.
import type { Node } from '../ir/graph.ts';

export type BlockKind =
  | 'resnet'
  | 'cross_attention'
  | 'downsample'
  | 'upsample'
  | 'stem'
  | 'head'
  | 'time_embedding'
  | 'attention'
  | 'transformer_layer'
  | 'embedding'
  | 'other';

interface BlockRule {
  /** Matches a whole block path at the start of a scope, ending on a segment boundary. */
  pattern: RegExp;
  kind: BlockKind | ((nodes: readonly Node[]) => BlockKind);
}

// VAE blocks sit under `decoder.` / `encoder.`; UNet blocks at the top level.
const vae = '(?:(?:en|de)coder\\.)?';

// A UNet attention block is a Transformer2DModel (cross-attention); the VAE's
// mid-block attention is a plain self-attention over pixels.
const attentionKind = (nodes: readonly Node[]): BlockKind =>
  nodes.some((n) => n.scope.includes('.transformer_blocks.')) ? 'cross_attention' : 'attention';

export const BLOCK_RULES: BlockRule[] = [
  { pattern: new RegExp(`^${vae}(?:down_blocks|up_blocks)\\.\\d+\\.resnets\\.\\d+`), kind: 'resnet' },
  { pattern: new RegExp(`^${vae}(?:down_blocks|up_blocks)\\.\\d+\\.attentions\\.\\d+`), kind: attentionKind },
  { pattern: new RegExp(`^${vae}down_blocks\\.\\d+\\.downsamplers\\.\\d+`), kind: 'downsample' },
  { pattern: new RegExp(`^${vae}up_blocks\\.\\d+\\.upsamplers\\.\\d+`), kind: 'upsample' },
  { pattern: new RegExp(`^${vae}mid_block\\.resnets\\.\\d+`), kind: 'resnet' },
  { pattern: new RegExp(`^${vae}mid_block\\.attentions\\.\\d+`), kind: attentionKind },
  { pattern: /^(?:post_quant_conv|quant_conv)/, kind: 'stem' },
  { pattern: new RegExp(`^${vae}conv_in`), kind: 'stem' },
  { pattern: /^time_embedding/, kind: 'time_embedding' },
  { pattern: new RegExp(`^${vae}(?:conv_norm_out|conv_out)`), kind: 'head' },
  { pattern: /^text_model\.embeddings/, kind: 'embedding' },
  { pattern: /^text_model\.encoder\.layers\.\d+/, kind: 'transformer_layer' },
  { pattern: /^text_model\.final_layer_norm/, kind: 'head' },
];

/** The block path a scope belongs to, with its rule, or undefined for glue (time_proj, skip concats). */
export function matchBlock(scope: string): { name: string; rule: BlockRule } | undefined {
  for (const rule of BLOCK_RULES) {
    const m = rule.pattern.exec(scope);
    if (!m) continue;
    // A duplicated block (`up_blocks.1.attentions.0+1`) is a block of its own.
    const name = m[0] + (/^\+\d+/.exec(scope.slice(m[0].length))?.[0] ?? '');
    if (scope.length === name.length || scope[name.length] === '.') return { name, rule };
  }
  return undefined;
}

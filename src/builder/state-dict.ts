// state_dict order: torch lists parameters in module registration order, and
// the exporter writes named initializers in that order. One table holds every
// child name the built modules register, in an order consistent with each
// module class's __init__ (UNet: down_blocks before up_blocks before mid_block;
// ResnetBlock2D: norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut;
// BasicTransformerBlock: norm1, attn1, norm2, attn2, norm3, ff; ...).
const ORDER = [
  // CLIPTextModel, CLIPVisionModelWithProjection (embeddings, pre_layrnorm, encoder, post_layernorm)
  'text_model',
  'vision_model',
  'embeddings',
  'class_embedding',
  'patch_embedding',
  'token_embedding',
  'position_embedding',
  'pre_layrnorm',
  // AutoencoderKL, then UNet2DConditionModel / Decoder
  'encoder',
  'decoder',
  'quant_conv',
  'post_quant_conv',
  'conv_in',
  'time_proj',
  'time_embedding',
  'linear_1',
  'act',
  'linear_2',
  'down_blocks',
  'up_blocks',
  'mid_block',
  'conv_norm_out',
  'conv_act',
  'conv_out',
  // blocks
  'attentions',
  'resnets',
  'downsamplers',
  'upsamplers',
  // Transformer2DModel
  'norm',
  'proj_in',
  'transformer_blocks',
  'proj_out',
  // ResnetBlock2D merged with BasicTransformerBlock
  'norm1',
  'attn1',
  'conv1',
  'time_emb_proj',
  'norm2',
  'attn2',
  'conv2',
  'conv_shortcut',
  'norm3',
  'ff',
  // Attention, FeedForward, GEGLU, Up/Downsample2D
  'group_norm',
  'to_q',
  'to_k',
  'to_v',
  'to_out',
  'net',
  'proj',
  'conv',
  // CLIP encoder layers
  'layers',
  'self_attn',
  'k_proj',
  'v_proj',
  'q_proj',
  'out_proj',
  'layer_norm1',
  'mlp',
  'fc1',
  'fc2',
  'layer_norm2',
  'final_layer_norm',
  'post_layernorm',
  // the towers' projections, registered after text_model / vision_model
  'text_projection',
  'visual_projection',
  'weight',
  'bias',
];
const RANK = new Map(ORDER.map((n, i) => [n, i]));

/** Sort key of a parameter name: per segment, its registration rank or list index. */
export function registrationRank(name: string): number[] {
  return name.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : (RANK.get(s) ?? ORDER.length)));
}

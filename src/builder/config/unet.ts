// UNet2DConditionModel configs (diffusers 0.27 keys and defaults), resolved
// into a plan: every block with its channels, heads and layer counts, the same
// arithmetic as diffusers' __init__ (get_down_block / get_up_block).
import type { DiagnosticLog } from '../../diagnostics.ts';
import { is, refuse, resolveKeys, type KeyTable } from './keys.ts';
import type { ConfigFile } from './read.ts';

const DOWN = ['CrossAttnDownBlock2D', 'DownBlock2D'];
const UP = ['CrossAttnUpBlock2D', 'UpBlock2D'];

export const UNET_KEYS: KeyTable = {
  sample_size: { default: null, check: is.any() },
  in_channels: { default: 4, check: is.posInt() },
  out_channels: { default: 4, check: is.posInt() },
  center_input_sample: { default: false, check: is.only(false) },
  flip_sin_to_cos: { default: true, check: is.bool() },
  freq_shift: { default: 0, check: is.number() },
  down_block_types: {
    default: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    check: is.listOf(...DOWN),
  },
  mid_block_type: { default: 'UNetMidBlock2DCrossAttn', check: is.only('UNetMidBlock2DCrossAttn') },
  up_block_types: {
    default: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    check: is.listOf(...UP),
  },
  only_cross_attention: { default: false, check: is.allFalse() },
  block_out_channels: { default: [320, 640, 1280, 1280], check: is.posIntList() },
  layers_per_block: { default: 2, check: is.posInt() },
  downsample_padding: { default: 1, check: is.only(1) },
  mid_block_scale_factor: { default: 1, check: is.positive() },
  dropout: { default: 0, check: is.number() },
  act_fn: { default: 'silu', check: is.only('silu', 'swish') },
  norm_num_groups: { default: 32, check: is.posInt() },
  norm_eps: { default: 1e-5, check: is.positive() },
  cross_attention_dim: { default: 1280, check: is.posInt() },
  transformer_layers_per_block: { default: 1, check: is.posInt() },
  reverse_transformer_layers_per_block: { default: null, check: is.only(null) },
  encoder_hid_dim: { default: null, check: is.only(null) },
  encoder_hid_dim_type: { default: null, check: is.only(null) },
  attention_head_dim: { default: 8, check: is.posIntOrList() },
  num_attention_heads: { default: null, check: is.only(null) },
  dual_cross_attention: { default: false, check: is.only(false) },
  use_linear_projection: { default: false, check: is.bool() },
  class_embed_type: { default: null, check: is.only(null) },
  addition_embed_type: { default: null, check: is.only(null) },
  addition_time_embed_dim: { default: null, check: is.only(null) },
  num_class_embeds: { default: null, check: is.only(null) },
  upcast_attention: { default: false, check: is.only(false) },
  resnet_time_scale_shift: { default: 'default', check: is.only('default') },
  resnet_skip_time_act: { default: false, check: is.only(false) },
  resnet_out_scale_factor: { default: 1.0, check: is.positive() },
  time_embedding_type: { default: 'positional', check: is.only('positional') },
  time_embedding_dim: { default: null, check: is.only(null) },
  time_embedding_act_fn: { default: null, check: is.only(null) },
  timestep_post_act: { default: null, check: is.only(null) },
  time_cond_proj_dim: { default: null, check: is.only(null) },
  conv_in_kernel: { default: 3, check: is.oddKernel() },
  conv_out_kernel: { default: 3, check: is.oddKernel() },
  projection_class_embeddings_input_dim: { default: null, check: is.only(null) },
  attention_type: { default: 'default', check: is.only('default') },
  class_embeddings_concat: { default: false, check: is.only(false) },
  mid_block_only_cross_attention: { default: null, check: is.only(null, false) },
  cross_attention_norm: { default: null, check: is.only(null) },
  // Read only when addition_embed_type is set, which is refused above.
  addition_embed_type_num_heads: { default: 64, check: is.any() },
};

export interface ResnetPlan {
  name: string;
  cin: number;
  cout: number;
}

export interface TransformerPlan {
  name: string;
  channels: number;
  heads: number;
  dimHead: number;
  layers: number;
}

export interface BlockPlan {
  /** `down_blocks.0`, `up_blocks.2`. */
  name: string;
  resnets: ResnetPlan[];
  /** One per resnet in cross-attention blocks, none otherwise. */
  attentions: TransformerPlan[];
  /** Channels of the down/upsampler, when the block has one. */
  sampler?: number;
}

export interface UNetPlan {
  inChannels: number;
  outChannels: number;
  /** block_out_channels[0]: conv_in width and the sinusoidal embedding size. */
  c0: number;
  temb: number;
  flipSinToCos: boolean;
  freqShift: number;
  groups: number;
  eps: number;
  crossDim: number;
  linearProjection: boolean;
  resnetScale: number;
  midScale: number;
  convInKernel: number;
  convOutKernel: number;
  downsamplePadding: number;
  down: BlockPlan[];
  mid: { resnets: ResnetPlan[]; attention: TransformerPlan };
  up: BlockPlan[];
}

export function resolveUNet(cfg: ConfigFile, log: DiagnosticLog): UNetPlan | undefined {
  const c = resolveKeys(cfg, 'UNet2DConditionModel', UNET_KEYS, new Set(), log);
  if (!c) return undefined;
  const before = log.errors().length;
  const ch = c.block_out_channels as number[];
  const downTypes = c.down_block_types as string[];
  const upTypes = c.up_block_types as string[];
  const n = ch.length;
  if (downTypes.length !== n)
    refuse(
      log,
      cfg,
      'down_block_types',
      `down_block_types has ${downTypes.length} entries but block_out_channels has ${n}`,
    );
  if (upTypes.length !== n)
    refuse(log, cfg, 'up_block_types', `up_block_types has ${upTypes.length} entries but block_out_channels has ${n}`);
  const headsCfg = c.attention_head_dim as number | number[];
  if (Array.isArray(headsCfg) && headsCfg.length !== n)
    refuse(
      log,
      cfg,
      'attention_head_dim',
      `attention_head_dim has ${headsCfg.length} entries but there are ${n} blocks`,
    );
  if (ch[0] % 2 === 1)
    refuse(
      log,
      cfg,
      'block_out_channels',
      `block_out_channels[0] = ${ch[0]} is odd; the zero-padded odd sinusoidal embedding is not implemented`,
      true,
    );
  if (log.errors().length > before) return undefined;

  const heads = Array.isArray(headsCfg) ? headsCfg : ch.map(() => headsCfg);
  const layers = c.layers_per_block as number;
  const tLayers = c.transformer_layers_per_block as number;
  const transformer = (name: string, channels: number, h: number): TransformerPlan => ({
    name,
    channels,
    heads: h,
    dimHead: channels / h,
    layers: tLayers,
  });

  const down: BlockPlan[] = [];
  let out = ch[0];
  downTypes.forEach((type, i) => {
    const cin = out;
    out = ch[i];
    const cross = type === 'CrossAttnDownBlock2D';
    const resnets = Array.from({ length: layers }, (_, j) => ({
      name: `resnets.${j}`,
      cin: j === 0 ? cin : out,
      cout: out,
    }));
    down.push({
      name: `down_blocks.${i}`,
      resnets,
      attentions: cross ? resnets.map((_, j) => transformer(`attentions.${j}`, out, heads[i])) : [],
      sampler: i < n - 1 ? out : undefined,
    });
  });
  const last = ch[n - 1];
  const mid = {
    resnets: [0, 1].map((j) => ({ name: `resnets.${j}`, cin: last, cout: last })),
    attention: transformer('attentions.0', last, heads[n - 1]),
  };
  const rch = [...ch].reverse();
  const rheads = [...heads].reverse();
  const up: BlockPlan[] = [];
  out = rch[0];
  upTypes.forEach((type, i) => {
    const prev = out;
    out = rch[i];
    const skipIn = rch[Math.min(i + 1, n - 1)];
    const cross = type === 'CrossAttnUpBlock2D';
    const resnets = Array.from({ length: layers + 1 }, (_, j) => {
      const skip = j === layers ? skipIn : out;
      const cin = j === 0 ? prev : out;
      return { name: `resnets.${j}`, cin: cin + skip, cout: out };
    });
    up.push({
      name: `up_blocks.${i}`,
      resnets,
      attentions: cross ? resnets.map((_, j) => transformer(`attentions.${j}`, out, rheads[i])) : [],
      sampler: i < n - 1 ? out : undefined,
    });
  });

  const groups = c.norm_num_groups as number;
  const norms = new Set<number>([ch[0]]);
  for (const b of [...down, ...up, mid]) {
    for (const r of b.resnets) norms.add(r.cin).add(r.cout);
  }
  const bad = [...norms].filter((x) => x % groups !== 0).sort((a, b) => a - b);
  if (bad.length)
    refuse(
      log,
      cfg,
      'norm_num_groups',
      `norm_num_groups = ${groups} does not divide the channel count(s) ${bad.join(', ')} that GroupNorm sees`,
    );
  const attns = [...down, ...up].flatMap((b) => b.attentions).concat(mid.attention);
  const split = attns.find((a) => a.channels % a.heads !== 0);
  if (split)
    refuse(log, cfg, 'attention_head_dim', `${split.heads} attention heads do not divide ${split.channels} channels`);
  if (log.errors().length > before) return undefined;

  return {
    inChannels: c.in_channels as number,
    outChannels: c.out_channels as number,
    c0: ch[0],
    temb: ch[0] * 4,
    flipSinToCos: c.flip_sin_to_cos as boolean,
    freqShift: c.freq_shift as number,
    groups,
    eps: c.norm_eps as number,
    crossDim: c.cross_attention_dim as number,
    linearProjection: c.use_linear_projection as boolean,
    resnetScale: c.resnet_out_scale_factor as number,
    midScale: c.mid_block_scale_factor as number,
    convInKernel: c.conv_in_kernel as number,
    convOutKernel: c.conv_out_kernel as number,
    downsamplePadding: c.downsample_padding as number,
    down,
    mid,
    up,
  };
}

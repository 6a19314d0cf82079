// AutoencoderKL configs (diffusers 0.27 keys and defaults). Only the decode
// path is built (post_quant_conv + decoder); the encoder keys are checked so a
// config that describes some other autoencoder is still refused.
import type { DiagnosticLog } from '../../diagnostics.ts';
import { is, refuse, resolveKeys, type KeyTable } from './keys.ts';
import type { ConfigFile } from './read.ts';

export const VAE_KEYS: KeyTable = {
  in_channels: { default: 3, check: is.posInt() },
  out_channels: { default: 3, check: is.posInt() },
  down_block_types: { default: ['DownEncoderBlock2D'], check: is.listOf('DownEncoderBlock2D') },
  up_block_types: { default: ['UpDecoderBlock2D'], check: is.listOf('UpDecoderBlock2D') },
  block_out_channels: { default: [64], check: is.posIntList() },
  layers_per_block: { default: 1, check: is.posInt() },
  act_fn: { default: 'silu', check: is.only('silu', 'swish') },
  latent_channels: { default: 4, check: is.posInt() },
  norm_num_groups: { default: 32, check: is.posInt() },
  // Used by pipelines around the model, not by the graph.
  sample_size: { default: 32, check: is.any() },
  scaling_factor: { default: 0.18215, check: is.number() },
  shift_factor: { default: null, check: is.any() },
  latents_mean: { default: null, check: is.any() },
  latents_std: { default: null, check: is.any() },
  force_upcast: { default: true, check: is.bool() },
  // Keys of later diffusers releases that change the decoder.
  use_quant_conv: { default: true, check: is.only(true) },
  use_post_quant_conv: { default: true, check: is.only(true) },
  mid_block_add_attention: { default: true, check: is.only(true) },
};

export interface VaePlan {
  latent: number;
  outChannels: number;
  groups: number;
  /** block_out_channels, encoder order (the decoder walks it reversed). */
  channels: number[];
  layersPerBlock: number;
}

export function resolveVae(cfg: ConfigFile, log: DiagnosticLog): VaePlan | undefined {
  const c = resolveKeys(cfg, 'AutoencoderKL', VAE_KEYS, new Set(), log);
  if (!c) return undefined;
  const before = log.errors().length;
  const ch = c.block_out_channels as number[];
  for (const key of ['down_block_types', 'up_block_types']) {
    const n = (c[key] as unknown[]).length;
    if (n !== ch.length) refuse(log, cfg, key, `${key} has ${n} entries but block_out_channels has ${ch.length}`);
  }
  const groups = c.norm_num_groups as number;
  const bad = ch.filter((x) => x % groups !== 0);
  if (bad.length)
    refuse(
      log,
      cfg,
      'norm_num_groups',
      `norm_num_groups = ${groups} does not divide the channel count(s) ${bad.join(', ')}`,
    );
  if (log.errors().length > before) return undefined;
  return {
    latent: c.latent_channels as number,
    outChannels: c.out_channels as number,
    groups,
    channels: ch,
    layersPerBlock: c.layers_per_block as number,
  };
}

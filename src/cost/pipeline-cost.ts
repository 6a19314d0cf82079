// One image's latency on a device, from cost tables: the text encoder's
// runs, steps × the UNet's calls per step, and the VAE decoder. What `whatif`
// prints and predictPipeline (pipeline.ts) returns. Tables only: no graph
// machinery is loaded here.
//
//   cfg 'batch'      cond and uncond in one UNet call at twice the batch
//   cfg 'two-calls'  two UNet calls per step at the batch
//   cfg 'none'       one call per step (no guidance, or a UNet that folds both)
import type { DeviceProfile } from '../devices/schema.ts';
import type { CostTable } from './format.ts';
import { effectivePrecision, planCost, type EffectivePrecision } from './plan.ts';
import type { Part } from './tables.ts';
import { WhatIf, type Variant } from './whatif.ts';

export type CfgMode = 'batch' | 'two-calls' | 'none';

export interface PipelineOptions {
  device: DeviceProfile;
  steps: number;
  cfg: CfgMode;
  /** Image size in pixels; the latent is 1/8. Binds symbolic dims only. */
  resolution: number;
  batch: number;
  /** Text encoder runs per image; default 2 with guidance (cond + uncond), 1 without. */
  text_encoder_runs?: number;
  /** Deployment precision instead of the profile's own (whatif --quantize). */
  precision?: EffectivePrecision;
}

export interface PipelineComponents {
  text_encoder?: { ms: number; runs: number };
  unet: { ms_per_call: number; calls_per_step: number; ms_per_step: number; steps: number; batch_per_call: number };
  vae_decoder?: { ms: number };
}

export interface PipelinePrediction {
  device: string;
  total_ms: number;
  components: PipelineComponents;
  /** Every block's share of the image latency (component/block), largest first. */
  by_block: { name: string; ms: number }[];
}

/** The priced components of a pipeline, ready for variants of the UNet. */
export class PipelineCost {
  readonly unet: WhatIf;
  readonly textEncoder?: WhatIf;
  readonly vaeDecoder?: WhatIf;

  constructor(
    tables: { unet: CostTable; text_encoder?: CostTable; vae_decoder?: CostTable },
    readonly opts: PipelineOptions,
  ) {
    const precision = opts.precision ?? effectivePrecision(opts.device).precision;
    const plan = (t: CostTable, batch: number) => new WhatIf(planCost(t, opts.device, { batch, precision }));
    this.unet = plan(tables.unet, opts.batch * (opts.cfg === 'batch' ? 2 : 1));
    if (tables.text_encoder) this.textEncoder = plan(tables.text_encoder, opts.batch);
    if (tables.vae_decoder) this.vaeDecoder = plan(tables.vae_decoder, opts.batch);
  }

  predict(unetVariant: Variant = this.unet.variant(), steps = this.opts.steps): PipelinePrediction {
    const o = this.opts;
    const calls = o.cfg === 'two-calls' ? 2 : 1;
    const runs = o.text_encoder_runs ?? (o.cfg === 'none' ? 1 : 2);
    const perCall = this.unet.variantMs(unetVariant);
    const components: PipelineComponents = {
      unet: { ms_per_call: perCall, calls_per_step: calls, ms_per_step: perCall * calls, steps, batch_per_call: o.batch * (o.cfg === 'batch' ? 2 : 1) },
    };
    const by_block: { name: string; ms: number }[] = [];
    const add = (prefix: Part, w: WhatIf, v: Variant, times: number) => {
      for (const b of w.byBlock(v)) by_block.push({ name: `${prefix}/${b.name}`, ms: b.ms * times });
      by_block.push({ name: `${prefix}/(glue)`, ms: w.glueMs * times });
    };
    let total = perCall * calls * steps;
    add('unet', this.unet, unetVariant, calls * steps);
    if (this.textEncoder) {
      const ms = this.textEncoder.variantMs(this.textEncoder.variant());
      components.text_encoder = { ms, runs };
      total += ms * runs;
      add('text_encoder', this.textEncoder, this.textEncoder.variant(), runs);
    }
    if (this.vaeDecoder) {
      const ms = this.vaeDecoder.variantMs(this.vaeDecoder.variant());
      components.vae_decoder = { ms };
      total += ms;
      add('vae_decoder', this.vaeDecoder, this.vaeDecoder.variant(), 1);
    }
    by_block.sort((a, b) => b.ms - a.ms);
    return { device: o.device.name, total_ms: total, components, by_block: by_block.filter((b) => b.ms > 0) };
  }
}


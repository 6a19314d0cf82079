// One image's latency on a device, from cost tables: the text encoder's
// runs, steps × the UNet's calls per step, and the VAE decoder, each at its
// own precision. What `whatif` prints and compile's budget gate checks, with
// its 80% interval. Tables only: no graph machinery is loaded here.
//
//   cfg 'batch'      cond and uncond in one UNet call at twice the batch
//   cfg 'two-calls'  two UNet calls per step at the batch
//   cfg 'none'       one call per step (no guidance, or a UNet that folds both)
//
// A pipeline's interval adds its components' intervals end to end: their
// errors come from one profile and move together, so they are not averaged
// away (the sum of the ends is the interval of the sum when they move as one).
import type { DeviceProfile } from '../../devices/schema.ts';
import type { EffectivePrecision } from '../../precision.ts';
import type { CostTable } from '../table/format.ts';
import { applyInterval, mixOf, type Mix } from '../roofline/interval.ts';
import { planCost } from '../roofline/plan.ts';
import { effectivePrecision } from '../roofline/roofline.ts';

import { WhatIf, type Variant } from './whatif.ts';
import type { ModelName } from '../../model-names.ts';

export type CfgMode = 'batch' | 'two-calls' | 'none';

export interface ImageCostOptions {
  device: DeviceProfile;
  steps: number;
  cfg: CfgMode;
  /** Image size in pixels; the latent is 1/vaeScale of it. Binds symbolic dims only. */
  resolution: number;
  /** How much the VAE decoder upsamples (default 8, SD's). */
  vaeScale?: number;
  batch: number;
  /** Text encoder runs per image; default 2 with guidance (cond + uncond), 1 without. */
  text_encoder_runs?: number;
  /** Precision each model is deployed at, instead of the profile's own. */
  precision?: Partial<Record<ModelName, EffectivePrecision>>;
}

export interface ImageComponents {
  text_encoder?: { ms: number; runs: number };
  unet: { ms_per_call: number; calls_per_step: number; ms_per_step: number; steps: number; batch_per_call: number };
  vae_decoder?: { ms: number };
}

export interface ImagePrediction {
  device: string;
  total_ms: number;
  /** 80% interval of total_ms, when the profile has one. */
  interval_80?: [number, number];
  components: ImageComponents;
  /** Every block's share of the image latency (component/block), largest first. */
  by_block: { name: string; ms: number }[];
}

/** The priced components of a pipeline, ready for variants of the UNet. */
export class ImageCost {
  readonly unet: WhatIf;
  readonly textEncoder?: WhatIf;
  readonly vaeDecoder?: WhatIf;
  private readonly mixes = new Map<WhatIf, Mix>();

  constructor(
    tables: { unet: CostTable; text_encoder?: CostTable; vae_decoder?: CostTable },
    readonly opts: ImageCostOptions,
  ) {
    const own = effectivePrecision(opts.device).precision;
    const plan = (t: CostTable, part: ModelName, batch: number) => {
      const w = new WhatIf(planCost(t, opts.device, { batch, precision: opts.precision?.[part] ?? own }));
      this.mixes.set(w, mixOf(w.plan));
      return w;
    };
    this.unet = plan(tables.unet, 'unet', opts.batch * (opts.cfg === 'batch' ? 2 : 1));
    if (tables.text_encoder) this.textEncoder = plan(tables.text_encoder, 'text_encoder', opts.batch);
    if (tables.vae_decoder) this.vaeDecoder = plan(tables.vae_decoder, 'vae_decoder', opts.batch);
  }

  /** One UNet call's 80% interval, when the profile has one. */
  unetCallInterval(unetVariant: Variant): [number, number] | undefined {
    const iv = this.opts.device.calibration?.interval;
    return iv && applyInterval(iv, this.unet.variantMs(unetVariant), this.mixes.get(this.unet)!);
  }

  predict(unetVariant: Variant = this.unet.variant(), steps = this.opts.steps): ImagePrediction {
    const o = this.opts;
    const calls = o.cfg === 'two-calls' ? 2 : 1;
    const runs = o.text_encoder_runs ?? (o.cfg === 'none' ? 1 : 2);
    const perCall = this.unet.variantMs(unetVariant);
    const components: ImageComponents = {
      unet: {
        ms_per_call: perCall,
        calls_per_step: calls,
        ms_per_step: perCall * calls,
        steps,
        batch_per_call: o.batch * (o.cfg === 'batch' ? 2 : 1),
      },
    };
    const by_block: { name: string; ms: number }[] = [];
    const ends: [number, number][] = [];
    const iv = o.device.calibration?.interval;
    const add = (prefix: ModelName, w: WhatIf, v: Variant, ms: number, times: number) => {
      for (const b of w.byBlock(v)) by_block.push({ name: `${prefix}/${b.name}`, ms: b.ms * times });
      by_block.push({ name: `${prefix}/(glue)`, ms: w.glueMs * times });
      if (iv) {
        const [lo, hi] = applyInterval(iv, ms, this.mixes.get(w)!);
        ends.push([lo * times, hi * times]);
      }
    };
    let total = perCall * calls * steps;
    add('unet', this.unet, unetVariant, perCall, calls * steps);
    if (this.textEncoder) {
      const ms = this.textEncoder.variantMs(this.textEncoder.variant());
      components.text_encoder = { ms, runs };
      total += ms * runs;
      add('text_encoder', this.textEncoder, this.textEncoder.variant(), ms, runs);
    }
    if (this.vaeDecoder) {
      const ms = this.vaeDecoder.variantMs(this.vaeDecoder.variant());
      components.vae_decoder = { ms };
      total += ms;
      add('vae_decoder', this.vaeDecoder, this.vaeDecoder.variant(), ms, 1);
    }
    by_block.sort((a, b) => b.ms - a.ms);
    return {
      device: o.device.name,
      total_ms: total,
      ...(iv
        ? { interval_80: [ends.reduce((s, e) => s + e[0], 0), ends.reduce((s, e) => s + e[1], 0)] as [number, number] }
        : {}),
      components,
      by_block: by_block.filter((b) => b.ms > 0),
    };
  }
}

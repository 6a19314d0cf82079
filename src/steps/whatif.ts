// What-if pricing of a recipe: its image latency on a device, per
// component, with its 80% interval, with extra edits, and the difference they
// make against the recipe's own plan. It prices the recipe through the same
// plan compile does (recipe-cost.ts). Needs no weights.
import { Code } from '../codes.ts';
import { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice } from '../devices/index.ts';
import type { ImagePrediction } from '../cost/whatif/image-cost.ts';
import type { BlockEdits } from '../cost/whatif/whatif.ts';

import { checkRole } from './models.ts';
import { baselineOf, guidanceWhy, planRecipe, priceRecipe, type Baseline, type RecipePrice } from './recipe-cost.ts';
import { widthError, widthSpec } from '../passes/prune/width-value.ts';
import { SCHEMES, type Scheme } from '../precision.ts';
import { loadRecipe } from '../recipe/load.ts';
import { closest } from '../text/did-you-mean.ts';
import { round } from '../text/numbers.ts';
import { MODEL_NAMES, type ModelName } from '../model-names.ts';

export interface WhatIfReport {
  device: string;
  steps: number;
  components: {
    /** ms per run. */
    text_encoder: { ms: number; runs: number };
    unet: { ms_per_step: number; calls_per_step: number; steps: number };
    vae_decoder: { ms: number };
  };
  total_ms: number;
  /** 80% interval of total_ms, from the profile's cross-validated errors. */
  interval_80?: [number, number];
  /** total_ms minus the recipe's own plan on this device. */
  delta_ms: number;
  /** How guidance runs (fold: auto says which it chose). */
  guidance: string;
  /** Each model's precision as priced. */
  precision: Record<ModelName, string>;
  /** The costliest blocks, `model/block`, ms per image. */
  top_blocks: { name: string; ms: number }[];
  /** The source models unedited (no removals or copies, every channel, float weights), same steps and guidance: what this plan saves against them. */
  baseline: { total_ms: number; saved_ms: number; saved_pct: number };
}

export interface WhatIfRequest {
  device: string;
  remove?: string[];
  duplicate?: string[];
  /** `[MODEL/]SELECTOR=R`: a model's widths as a recipe's `widths:` gives them (the UNet when no model is named). */
  width?: string[];
  steps?: number;
  quantize?: string;
}

export async function whatIf(
  recipeFile: string,
  req: WhatIfRequest,
  log: DiagnosticLog,
): Promise<{ report: WhatIfReport; prediction: ImagePrediction } | undefined> {
  const loaded = loadRecipe(recipeFile, log);
  if (!loaded) return undefined;
  // A ResNet-50 named as the UNet would be priced as one: refuse it as check does.
  if (!MODEL_NAMES.every((c) => checkRole(c, loaded.recipe.model[c], log, loaded.locate(['model', c]))))
    return undefined;
  const profile = loadDevice(req.device, log);
  if (!profile) return undefined;
  let scheme: Scheme | undefined;
  if (req.quantize !== undefined) {
    if (!(SCHEMES as readonly string[]).includes(req.quantize)) {
      const guess = closest(req.quantize, [...SCHEMES]);
      log.error(
        Code.UnknownQuantize,
        `unknown --quantize scheme '${req.quantize}'${guess ? `; did you mean '${guess}'?` : ''}`,
        undefined,
        [`schemes: ${SCHEMES.join(', ')}`],
      );
      return undefined;
    }
    scheme = req.quantize as Scheme;
  }
  const own = planRecipe(loaded, profile.name);
  const edited = structuredClone(own);
  for (const text of req.width ?? []) {
    const m = /^(?:(unet|vae_decoder|text_encoder)\/)?(.+)=([^=]+)$/.exec(text);
    if (!m) {
      log.error(
        Code.BadWidth,
        `--width '${text}' is not [MODEL/]SEL=W (e.g. --width 'up_blocks.*.resnets.*=0.75', --width 'vae_decoder/*=0.5' or a channel count, =160)`,
        undefined,
        [`models: ${MODEL_NAMES.join(', ')}`],
      );
      continue;
    }
    const v = /^\d*\.?\d+$/.test(m[3]) ? Number(m[3]) : NaN;
    const why = widthError(v, m[2]);
    if (why) {
      log.error(Code.BadWidth, `--width '${text}': ${why.replace(/^width NaN/, `width '${m[3]}'`)}`);
      continue;
    }
    const part = (m[1] ?? 'unet') as ModelName;
    const widths = edited.models[part].widths.filter((w) => w.selector !== m[2]);
    edited.models[part].widths = [...widths, widthSpec(m[2], v)];
  }
  if (log.hasErrors) return undefined;
  const extra: BlockEdits = {
    remove: (req.remove ?? []).map((selector) => ({ selector })),
    duplicate: (req.duplicate ?? []).map((selector) => ({ selector })),
  };
  // The recipe's own plan, for the difference: its warnings are the edited plan's too, so they are said once.
  const quiet = new DiagnosticLog();
  const before = await priceRecipe(own, profile, quiet);
  for (const d of quiet.errors()) log.error(d.code, d.message, d.location, d.notes);
  if (!before) return undefined;
  const after = await priceRecipe(edited, profile, log, { extra, scheme, steps: req.steps });
  if (!after) return undefined;
  const base = await baselineOf({ ...own, steps: req.steps ?? own.steps }, profile, after.prediction.total_ms, quiet);
  if (!base) return undefined;
  return {
    prediction: after.prediction,
    report: report(after, req.steps ?? own.steps, before.prediction.total_ms, base),
  };
}

function report(p: RecipePrice, steps: number, baseMs: number, base: Baseline): WhatIfReport {
  const c = p.prediction.components;
  const pr = p.prediction;
  return {
    device: pr.device,
    steps,
    components: {
      text_encoder: { ms: round(c.text_encoder!.ms), runs: c.text_encoder!.runs },
      unet: { ms_per_step: round(c.unet.ms_per_step), calls_per_step: c.unet.calls_per_step, steps },
      vae_decoder: { ms: round(c.vae_decoder!.ms) },
    },
    total_ms: round(pr.total_ms),
    ...(pr.interval_80
      ? { interval_80: [round(pr.interval_80[0]), round(pr.interval_80[1])] as [number, number] }
      : {}),
    delta_ms: round(pr.total_ms - baseMs),
    guidance: guidanceWhy(p.guidance, pr.device),
    precision: p.precision,
    top_blocks: pr.by_block.slice(0, 8).map((b) => ({ name: b.name, ms: round(b.ms) })),
    baseline: {
      total_ms: round(base.total_ms),
      saved_ms: round(base.saved_ms),
      saved_pct: Math.round(base.saved * 1000) / 10,
    },
  };
}

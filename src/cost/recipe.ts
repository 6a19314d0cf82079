// A recipe's image latency on a device: its three models' cost tables (cached,
// see tables.ts), its schedule and guidance turned into runs and calls, and
// its block edits applied as a what-if. `whatif` adds edits on top of the
// recipe's own and reports the difference.
import type { DiagnosticLog } from '../diagnostics.ts';
import type { DeviceProfile } from '../devices/schema.ts';
import type { LoadedRecipe } from '../recipe/load.ts';
import type { Recipe } from '../recipe/schema.ts';
import { PipelineCost, type CfgMode, type PipelineOptions } from './pipeline-cost.ts';
import type { EffectivePrecision } from './plan.ts';
import { latentDims, sourceOf, sourceTable } from './tables.ts';
import type { BlockEdits } from './whatif.ts';

/** How the recipe's guidance runs: no guidance at scale ≤ 1, else one batch-2 call or two calls per step. */
export function cfgMode(r: Recipe): CfgMode {
  if (r.guidance.scale <= 1) return 'none';
  return r.guidance.fold === 'batch' ? 'batch' : 'two-calls';
}

/** Text encoder runs per image: cond, plus uncond unless there is no guidance or its embedding is baked. */
export function textEncoderRuns(r: Recipe): number {
  return cfgMode(r) === 'none' || typeof r.guidance.uncond === 'object' ? 1 : 2;
}

/** The recipe's own UNet edits, located in the recipe for diagnostics. */
export function recipeEdits(loaded: LoadedRecipe): BlockEdits {
  const r = loaded.recipe;
  return {
    remove: r.unet.remove.map((x, i) => ({
      selector: typeof x === 'string' ? x : x.block,
      keepShortcut: typeof x === 'string' ? false : x.keep_shortcut,
      at: loaded.locate(['unet', 'remove', i]),
    })),
    duplicate: r.unet.duplicate.map((selector, i) => ({ selector, at: loaded.locate(['unet', 'duplicate', i]) })),
  };
}

export async function recipeCost(loaded: LoadedRecipe, profile: DeviceProfile, log: DiagnosticLog, precision?: EffectivePrecision): Promise<PipelineCost | undefined> {
  const r = loaded.recipe;
  const target = r.targets.find((t) => t.device === profile.name);
  const resolution = target?.resolution ?? 512;
  const dims = latentDims(resolution);
  const at = (part: string) => loaded.locate(['model', part]);
  const unet = await sourceTable(sourceOf(r.model.unet, 'unet'), [], dims, log, at('unet'));
  const vae_decoder = await sourceTable(sourceOf(r.model.vae_decoder, 'vae_decoder'), [], dims, log, at('vae_decoder'));
  const text_encoder = await sourceTable(sourceOf(r.model.text_encoder, 'text_encoder'), [], {}, log, at('text_encoder'));
  if (!unet || !vae_decoder || !text_encoder) return undefined;
  const opts: PipelineOptions = {
    device: profile,
    steps: r.schedule.steps,
    cfg: cfgMode(r),
    resolution,
    batch: (target as { batch?: number } | undefined)?.batch ?? 1,
    text_encoder_runs: textEncoderRuns(r),
    precision,
  };
  return new PipelineCost({ unet, vae_decoder, text_encoder }, opts);
}

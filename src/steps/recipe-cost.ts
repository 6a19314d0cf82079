// The one translation of a recipe into what the cost model prices, shared by
// compile (its prediction and budget gate) and `whatif`, so both price exactly
// what compile emits for a target:
//
//   models      each source's cost table at the target's resolution; a model
//               with `widths:` is tabled after the passes compile runs on it
//               (remove and duplicate first for the UNet, then prune-channels,
//               on the graph alone: which channels survive does not change the
//               cost, how many do)
//   UNet edits  the recipe's removals and duplications, as a what-if on the
//               table (equal to tabling the edited graph) unless its widths
//               already applied them
//   precision   each model's `quantize:` scheme, as the profile runs it
//   guidance    one batch-2 call or two batch-1 calls per step ('auto': the
//               faster on this target), text encoder runs, steps
//
// Tables are cached (cost/table/sources.ts), keyed by the source's bytes and
// every edit, so a second price of the same recipe reads no graph.
import { Code } from '../codes.ts';
import { DiagnosticLog, type Location } from '../diagnostics.ts';
import type { DeviceProfile } from '../devices/schema.ts';
import type { Graph } from '../ir/graph.ts';
import { duplicateBlocks } from '../passes/duplicate-blocks.ts';
import { runPasses, type Pass } from '../passes/pass.ts';
import { pruneChannels, type WidthSpec } from '../passes/prune-channels.ts';
import { widthSpec } from '../passes/prune/width-value.ts';
import { removeBlocks } from '../passes/remove-blocks.ts';
import { SCHEME_INFO, schemeName, type Scheme } from '../precision.ts';
import type { LoadedRecipe } from '../recipe/load.ts';
import type { Recipe } from '../recipe/schema.ts';
import { effectivePrecision } from '../cost/roofline/roofline.ts';
import { ImageCost, type CfgMode, type ImagePrediction } from '../cost/whatif/image-cost.ts';
import type { BlockEdits, Variant } from '../cost/whatif/whatif.ts';
import type { CostTable } from '../cost/table/format.ts';
import { sourceOf, sourceTable, type ModelSource } from '../cost/table/sources.ts';
import { targetDims } from '../ir/bind.ts';
import { decoderScaleOf, SD_VAE_SCALE } from '../blocks/vae-scale.ts';
import { MODEL_NAMES, type ModelName } from '../model-names.ts';

export type Guidance = CfgMode | 'auto';

export interface ModelPlan {
  part: ModelName;
  source: ModelSource;
  at: Location;
  /** UNet only: the recipe's removals and duplications. */
  edits: BlockEdits;
  widths: WidthSpec[];
  importance: 'l1' | 'l2';
  scheme?: Scheme;
  schemeAt?: Location;
  /** Where `quantize:` gives this model several schemes: priced at `scheme` throughout. */
  mixedSchemes?: Scheme[];
}

/** Everything the cost model needs from a recipe for one target. */
export interface RecipePlan {
  device: string;
  resolution: number;
  /** How much the recipe's VAE decoder upsamples: the latent is resolution / vaeScale. */
  vaeScale: number;
  batch: number;
  steps: number;
  guidance: Guidance;
  textEncoderRuns: number;
  models: Record<ModelName, ModelPlan>;
}

/** How a recipe's guidance runs at a scale: none at ≤ 1, else as `fold` says. */
export function guidanceMode(r: Recipe): Guidance {
  if (r.guidance.scale <= 1) return 'none';
  return r.guidance.fold === 'batch' ? 'batch' : r.guidance.fold === 'auto' ? 'auto' : 'two-calls';
}

/** Text encoder runs per image: cond, plus uncond unless there is no guidance or its embedding is baked. */
export function textEncoderRuns(r: Recipe): number {
  return guidanceMode(r) === 'none' || typeof r.guidance.uncond === 'object' ? 1 : 2;
}

export function planRecipe(loaded: LoadedRecipe, device: string): RecipePlan {
  const r = loaded.recipe;
  const target = r.targets.find((t) => t.device === device);
  const resolution = target?.resolution ?? 512;
  const models = Object.fromEntries(MODEL_NAMES.map((part) => [part, modelPlan(loaded, part)])) as Record<
    ModelName,
    ModelPlan
  >;
  return {
    device,
    resolution,
    vaeScale: decoderScaleOf(r.model.vae_decoder),
    batch: 1,
    steps: r.schedule.steps,
    guidance: guidanceMode(r),
    textEncoderRuns: textEncoderRuns(r),
    models,
  };
}

function modelPlan(loaded: LoadedRecipe, part: ModelName): ModelPlan {
  const r = loaded.recipe;
  const edits: BlockEdits =
    part === 'unet'
      ? {
          remove: r.unet.remove.map((x, i) => ({
            selector: typeof x === 'string' ? x : x.block,
            keepShortcut: typeof x === 'string' ? false : x.keep_shortcut,
            at: loaded.locate(typeof x === 'string' ? ['unet', 'remove', i] : ['unet', 'remove', i, 'block']),
          })),
          duplicate: r.unet.duplicate.map((selector, i) => ({ selector, at: loaded.locate(['unet', 'duplicate', i]) })),
        }
      : {};
  const w = r.widths?.[part] ?? {};
  const widths: WidthSpec[] = Object.entries(w).map(([selector, v]) =>
    widthSpec(selector, v, loaded.locate(['widths', part, selector])),
  );
  const q = r.quantize?.[part];
  const specs =
    q === undefined ? [] : typeof q === 'string' ? [{ scheme: q, blocks: '*' }] : Array.isArray(q) ? q : [q];
  const schemes = [...new Set(specs.map((s) => s.scheme))];
  // Several schemes: the one on the whole model ('*'), else the first, prices it throughout.
  const main = specs.find((s) => s.blocks === '*' || s.blocks === '**') ?? specs[0];
  return {
    part,
    source: sourceOf(r.model[part], part),
    at: loaded.locate(['model', part]),
    edits,
    widths,
    importance: r.widths?.importance ?? 'l1',
    ...(main ? { scheme: main.scheme, schemeAt: loaded.locate(['quantize', part]) } : {}),
    ...(schemes.length > 1 ? { mixedSchemes: schemes } : {}),
  };
}

/** A model's cost table as compile will emit it, and the UNet edits still to apply as a what-if. */
async function modelTable(
  m: ModelPlan,
  resolution: number,
  vaeScale: number,
  log: DiagnosticLog,
): Promise<{ table: CostTable; pending: BlockEdits } | undefined> {
  const dims = m.part === 'text_encoder' ? {} : targetDims(resolution, vaeScale);
  if (!m.widths.length) {
    const table = await sourceTable(m.source, [], dims, log, m.at);
    return table && { table, pending: m.edits };
  }
  const strip = (e: { at?: Location }[] = []) => e.map(({ at: _at, ...rest }) => rest);
  const key = JSON.stringify({
    remove: strip(m.edits.remove),
    duplicate: strip(m.edits.duplicate),
    widths: strip(m.widths),
    importance: m.importance,
  });
  const table = await sourceTable(m.source, [], dims, log, m.at, {
    transform: { key, run: (g, l) => applyRecipePasses(g, m, resolution, vaeScale, l) },
  });
  return table && { table, pending: {} };
}

/** The passes compile runs on this model, in its order: remove and duplicate (UNet), then prune-channels. */
export function recipePasses(m: ModelPlan, resolution: number, vaeScale = SD_VAE_SCALE): Pass[] {
  const passes: Pass[] = [];
  if (m.edits.remove?.length)
    passes.push(
      removeBlocks(m.edits.remove.map((e) => ({ selector: e.selector, keepShortcut: e.keepShortcut, at: e.at }))),
    );
  if (m.edits.duplicate?.length)
    passes.push(duplicateBlocks(m.edits.duplicate.map((e) => ({ selector: e.selector, at: e.at }))));
  if (m.widths.length)
    passes.push(pruneChannels(m.widths, { importance: m.importance, dims: targetDims(resolution, vaeScale) }));
  return passes;
}

function applyRecipePasses(g: Graph, m: ModelPlan, resolution: number, vaeScale: number, log: DiagnosticLog): boolean {
  const passes = recipePasses(m, resolution, vaeScale);
  // Graph-only: prune-channels keeps the first channels of each group and says so; pricing does not care which.
  const quiet = new DiagnosticLog();
  const ok = !!runPasses(g, passes, quiet, m.source.file);
  for (const d of quiet.errors()) log.error(d.code, d.message, d.location, d.notes);
  return ok && !quiet.hasErrors;
}

export interface RecipePrice {
  cost: ImageCost;
  /** The UNet as the recipe leaves it (its edits applied). */
  variant: Variant;
  prediction: ImagePrediction;
  /** How guidance runs on this target, and for 'auto' the two prices it chose between. */
  guidance: { mode: CfgMode; auto?: { batch_ms: number; two_calls_ms: number } };
  /** Each model's precision as priced. */
  precision: Record<ModelName, string>;
}

/**
 * Prices a recipe's plan on a profile. `extra` edits the UNet further (whatif
 * --remove/--duplicate/--width); `scheme` overrides every model's precision
 * (whatif --quantize). Undefined, with coded diagnostics, when something
 * cannot be priced.
 */
/**
 * The baseline a recipe is measured against: its source models as they are
 * (no removals or copies, every channel, float weights), run the way the
 * recipe runs them (same device, resolution, steps and guidance).
 */
export function baselinePlan(plan: RecipePlan): RecipePlan {
  const bare = (m: ModelPlan): ModelPlan => ({
    part: m.part,
    source: m.source,
    at: m.at,
    edits: {},
    widths: [],
    importance: m.importance,
  });
  return {
    ...plan,
    models: {
      unet: bare(plan.models.unet),
      vae_decoder: bare(plan.models.vae_decoder),
      text_encoder: bare(plan.models.text_encoder),
    },
  };
}

/** What the recipe saves against its baseline on one device, in ms per image. */
export interface Baseline {
  /** The uncompressed pipeline's ms per image. */
  total_ms: number;
  saved_ms: number;
  /** saved_ms as a fraction of total_ms. */
  saved: number;
}

export async function baselineOf(
  plan: RecipePlan,
  profile: DeviceProfile,
  pricedMs: number,
  log: DiagnosticLog,
): Promise<Baseline | undefined> {
  const base = await priceRecipe(baselinePlan(plan), profile, log);
  if (!base) return undefined;
  const total = base.prediction.total_ms;
  return { total_ms: total, saved_ms: total - pricedMs, saved: (total - pricedMs) / total };
}

export async function priceRecipe(
  plan: RecipePlan,
  profile: DeviceProfile,
  log: DiagnosticLog,
  opts: { extra?: BlockEdits; scheme?: Scheme; steps?: number } = {},
): Promise<RecipePrice | undefined> {
  const tables: Partial<Record<ModelName, { table: CostTable; pending: BlockEdits }>> = {};
  for (const part of MODEL_NAMES) {
    const t = await modelTable(plan.models[part], plan.resolution, plan.vaeScale, log);
    if (!t) return undefined;
    tables[part] = t;
  }
  const precision = {} as Record<ModelName, ReturnType<typeof effectivePrecision>['precision']>;
  const named = {} as Record<ModelName, string>;
  for (const part of MODEL_NAMES) {
    const m = plan.models[part];
    const scheme = opts.scheme ?? m.scheme;
    const eff = effectivePrecision(profile, scheme);
    precision[part] = eff.precision;
    named[part] = scheme ?? schemeName(eff.precision);
    if (scheme && eff.fellBack) {
      log.warn(
        Code.PrecisionFallback,
        `${profile.name} has no kernels for ${scheme} (${SCHEME_INFO[scheme].summary}): the ${part.replace('_', ' ')} is priced at ${eff.precision.compute} arithmetic with ${eff.precision.weights} weights`,
        opts.scheme ? undefined : m.schemeAt,
      );
      named[part] = `${scheme} (priced as ${eff.precision.compute})`;
    } else if (scheme && !opts.scheme && m.mixedSchemes) {
      log.warn(
        Code.PrecisionFallback,
        `the ${part.replace('_', ' ')} mixes ${m.mixedSchemes.join(', ')}: it is priced at ${scheme} throughout`,
        m.schemeAt,
      );
    }
  }
  const build = (cfg: CfgMode) => {
    const cost = new ImageCost(
      { unet: tables.unet!.table, text_encoder: tables.text_encoder!.table, vae_decoder: tables.vae_decoder!.table },
      {
        device: profile,
        steps: plan.steps,
        cfg,
        resolution: plan.resolution,
        batch: plan.batch,
        text_encoder_runs: plan.textEncoderRuns,
        precision,
      },
    );
    const variant = cost.unet.variant();
    const ok =
      cost.unet.apply(variant, tables.unet!.pending, log) && (!opts.extra || cost.unet.apply(variant, opts.extra, log));
    return ok ? { cost, variant, prediction: cost.predict(variant, opts.steps ?? plan.steps) } : undefined;
  };
  if (plan.guidance !== 'auto') {
    const one = build(plan.guidance);
    return one && { ...one, guidance: { mode: plan.guidance }, precision: named };
  }
  // 'auto': price one batch-2 call against two batch-1 calls per step, keep the faster.
  const batch = build('batch');
  const two = batch && build('two-calls');
  if (!batch || !two) return undefined;
  const perStep = (p: ImagePrediction) => p.components.unet.ms_per_step;
  const pick =
    perStep(batch.prediction) <= perStep(two.prediction)
      ? { ...batch, mode: 'batch' as const }
      : { ...two, mode: 'two-calls' as const };
  return {
    cost: pick.cost,
    variant: pick.variant,
    prediction: pick.prediction,
    guidance: { mode: pick.mode, auto: { batch_ms: perStep(batch.prediction), two_calls_ms: perStep(two.prediction) } },
    precision: named,
  };
}

/** What 'auto' chose and why, in a sentence (reports, whatif). */
export function guidanceWhy(g: RecipePrice['guidance'], device: string): string {
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  if (!g.auto)
    return g.mode === 'batch'
      ? 'one batch-2 UNet call per step'
      : g.mode === 'two-calls'
        ? 'two UNet calls per step'
        : 'one UNet call per step (no guidance)';
  const { batch_ms, two_calls_ms } = g.auto;
  return g.mode === 'batch'
    ? `auto: one batch-2 UNet call per step (${ms(batch_ms)} per step on ${device}, against ${ms(two_calls_ms)} for two batch-1 calls)`
    : `auto: two batch-1 UNet calls per step (${ms(two_calls_ms)} per step on ${device}, against ${ms(batch_ms)} for one batch-2 call)`;
}

// The compile pipeline, as one flat list of named steps. Each step reads and
// extends the state, reports through the log, and returns false to stop.
// Graph rewrites go through runPasses, which cleans up and verifies after each
// pass and blames the pass that broke an invariant.
import path from 'node:path';
import { analyzeGraph, type ModelStats } from './blocks/analyze.ts';
import { Code } from './codes.ts';
import { DiagnosticLog } from './diagnostics.ts';
import type { Manifest, ModelEntry } from './artifact/manifest.ts';
import { filesUnder, InputHashes, staleReason } from './artifact/inputs.ts';
import { ioInfo } from './ir/print.ts';
import { foldCfg, type FoldCfgOptions } from './passes/fold-cfg.ts';
import { duplicateBlocks } from './passes/duplicate-blocks.ts';
import { globToRegExp } from './blocks/select.ts';
import { findBlocks } from './blocks/find.ts';
import { runPasses, type Pass, type PassRecord } from './passes/pass.ts';
import { removeBlocks, type RemoveSpec } from './passes/remove-blocks.ts';
import { pruneChannels, type WidthSpec } from './passes/prune-channels.ts';
import { widthSpec } from './passes/prune/width-value.ts';
import { prepareQuantize, quantize, type QuantizeSpec } from './passes/quantize/quantize.ts';
import { emitArtifact, type ArtifactModel } from './steps/emit.ts';
import { loadRecipeModel, type LoadedModel } from './steps/models.ts';
import { checkContracts, type ModelIo } from './steps/contracts.ts';
import { decoderScale, SD_VAE_SCALE } from './blocks/vae-scale.ts';
import { renderHtmlReport } from './steps/html.ts';
import { renderReport, type ReportInput } from './steps/report.ts';
import { tokenizerFiles } from './run/tokenizer-files.ts';
import { checkOps } from './steps/specialize.ts';
import { bindAndInfer, restoreIo, snapshotIo, targetDims, type IoSnapshot } from './ir/bind.ts';
import { loadRecipe, type LoadedRecipe } from './recipe/load.ts';
import { readEmbedding } from './steps/embedding.ts';
import { computeSchedule, type Schedule } from './schedule/index.ts';
import { loadDevice, profileFile, type DeviceProfile } from './devices/index.ts';
import {
  baselineOf,
  guidanceWhy,
  planRecipe,
  priceRecipe,
  type Baseline,
  type RecipePrice,
} from './steps/recipe-cost.ts';
import type { Graph } from './ir/graph.ts';
import { round } from './text/numbers.ts';
import { shownPath } from './text/paths.ts';
import { TOOL_VERSION } from './version.ts';
import type { ProgressStream } from './builder/progress.ts';
import { MODEL_NAMES, type ModelName } from './model-names.ts';

export interface CompileOptions {
  /** Artifact root; artifacts go to `<out>/<recipe>/<device>/`. */
  out?: string;
  /** Stop after validating (the `check` command). */
  checkOnly?: boolean;
  /**
   * Artifacts hold graphs only (no weights are written; the embedded default is
   * built without them). Without it, a model whose weights are absent stops the compile.
   */
  graphOnly?: boolean;
  /** Rebuild artifacts that are up to date. */
  force?: boolean;
  progress?: ProgressStream;
  onProgress?: (what: string, done: number, total: number) => void;
}

export interface CompiledArtifact {
  device: string;
  dir: string;
  manifest: string;
  /** 'up to date': the artifact already there was built from the same inputs and was left as it is. */
  status: 'built' | 'up to date';
  /** Why it was (re)built: 'not built yet', 'the recipe changed', 'models/unet.onnx changed', '--force', … */
  because?: string;
  /** Predicted latency for one image, when the target has a device profile, and its 80% interval. */
  predicted_ms?: number;
  interval_80?: [number, number];
  budget_ms?: number;
  /** False when the prediction exceeds the target's budget_ms (compile exits 3). */
  within_budget?: boolean;
  /** True when the artifact holds graphs without weights (compile --graph-only). */
  graph_only: boolean;
}

interface Target {
  device: string;
  profile?: DeviceProfile;
  resolution?: number;
  budget_ms?: number;
  index?: number;
  stats: Partial<Record<ModelName, ModelStats>>;
  /** Each model's input/output types for this target (static), set by specialize. */
  io: Partial<Record<ModelName, IoSnapshot>>;
  /** The cost model's price of the recipe on this target (the plan whatif prices). */
  price?: RecipePrice;
  /** The same pipeline on the source models unedited: what the recipe saves. */
  baseline?: Baseline;
  /** How guidance runs here: one batch-2 call ('batch') or two calls ('none'); fold: auto decides per target. */
  fold?: 'batch' | 'none';
  /** This target's own UNet, where targets disagree on the fold (the others share the models' graphs). */
  unet?: Graph;
  /** sha256 of its device profile's file. */
  profileHash?: string;
  /** Set when the artifact already there is up to date (emit leaves it), else why it is built. */
  fresh?: CompiledArtifact;
  because?: string;
}

interface State {
  file: string;
  opts: CompileOptions;
  log: DiagnosticLog;
  recipe?: LoadedRecipe;
  models: Partial<Record<ModelName, LoadedModel>>;
  /** Each model's stats before the passes, at each target's resolution (512 px always): a report compares before and after at one size. */
  beforeAt: Map<number, Partial<Record<ModelName, ModelStats>>>;
  /** Each model's input/output types as declared and as inferred at a 512×512 image (the contracts step compares them). */
  interfaces: Partial<Record<ModelName, { declared: IoSnapshot; inferred: IoSnapshot }>>;
  passes: Partial<Record<ModelName, PassRecord[]>>;
  quantization: Partial<Record<ModelName, string>>;
  widths: Partial<Record<ModelName, Record<string, number>>>;
  schedule?: Schedule;
  targets: Target[];
  artifacts: CompiledArtifact[];
  /** Every file read so far (models, weights, configs, embeddings, calibration): recorded in each manifest. */
  inputFiles: Set<string>;
  hashes?: InputHashes;
  /** Every target is up to date: the steps after up-to-date have nothing to do. */
  done?: boolean;
  /** How much the VAE decoder upsamples (8 for SD's): every latent size is a resolution over it. */
  vaeScale: number;
}

interface Step {
  name: string;
  /** Why the step exists, in one line. */
  why: string;
  /** Also run by `check` (validation only). */
  check: boolean;
  run(s: State): boolean | Promise<boolean>;
}

export const PIPELINE: Step[] = [
  {
    name: 'parse',
    why: 'read the YAML with positions, follow extends, validate against the schema',
    check: true,
    run: parse,
  },
  { name: 'targets', why: 'every target names a known device profile', check: true, run: resolveTargets },
  {
    name: 'up-to-date',
    why: 'an artifact built from the same recipe, inputs, profile and version is left as it is (--force rebuilds)',
    check: false,
    run: upToDate,
  },
  {
    name: 'load',
    why: 'load the three models (the embedded default is traced from its configs)',
    check: true,
    run: load,
  },
  {
    name: 'infer-shapes',
    why: 'removal rules need ranks and channel counts; sizes before the passes go in the report',
    check: true,
    run: inferGeneric,
  },
  {
    name: 'contracts',
    why: "the models fit together: the text encoder's width and length are what the UNet cross-attends to, the UNet's latents the decoder's",
    check: true,
    run: contracts,
  },
  {
    name: 'remove-blocks',
    why: "SnapFusion's '-' action on the UNet",
    check: true,
    run: (s) => unetPass(s, removeStep(s)),
  },
  {
    name: 'duplicate-blocks',
    why: "SnapFusion's '+' action on the UNet",
    check: true,
    run: (s) => notRemoved(s) && unetPass(s, duplicateStep(s)),
  },
  {
    name: 'prune-channels',
    why: 'channel widths per block (SnapFusion prunes the decoder to 50%)',
    check: true,
    run: prune,
  },
  {
    name: 'schedule',
    why: "timesteps and alphas exactly as diffusers' scheduler computes them",
    check: true,
    run: schedule,
  },
  {
    name: 'quantize',
    why: 'weight precision per model and block, before fold-cfg so calibration sees the plain UNet',
    check: false,
    run: quantizeModels,
  },
  {
    name: 'price',
    why: "each target's latency from the cost model, through the recipe plan whatif prices (a budget_ms under it makes compile and check exit 3); fold: auto picks the faster guidance per target",
    check: true,
    run: price,
  },
  {
    name: 'fold-cfg',
    why: 'cond and uncond in one batch-2 UNet call (and optionally the DDIM step), for the targets that run guidance that way',
    check: true,
    run: fold,
  },
  {
    name: 'specialize',
    why: 'static shapes per target, shape-checked, only ops the target runtime supports',
    check: true,
    run: specialize,
  },
  { name: 'emit', why: 'write each artifact folder atomically with its manifest and report', check: false, run: emit },
];

export async function compile(
  file: string,
  opts: CompileOptions,
  log: DiagnosticLog,
): Promise<CompiledArtifact[] | undefined> {
  return (await runSteps(file, opts, log))?.artifacts;
}

/** A target as `check` sees it: its prediction against its budget, nothing written. */
export type CheckedTarget = { device: string } & Pick<
  CompiledArtifact,
  'predicted_ms' | 'interval_80' | 'budget_ms' | 'within_budget'
>;

/** The steps marked `check`, on the models without their weights (structure and prices need none). */
export async function checkRecipe(file: string, log: DiagnosticLog): Promise<CheckedTarget[] | undefined> {
  const s = await runSteps(file, { checkOnly: true, graphOnly: true, progress: { write: () => true } }, log);
  return s?.targets.map((t) => ({ device: t.device, ...artifactPrediction(predictionEntry(t)) }));
}

async function runSteps(file: string, opts: CompileOptions, log: DiagnosticLog): Promise<State | undefined> {
  const s: State = {
    file,
    opts,
    log,
    models: {},
    beforeAt: new Map(),
    interfaces: {},
    passes: {},
    quantization: {},
    widths: {},
    targets: [],
    artifacts: [],
    inputFiles: new Set(),
    vaeScale: SD_VAE_SCALE,
  };
  for (const step of PIPELINE) {
    if (opts.checkOnly && !step.check) continue;
    const before = log.errors().length;
    if (!(await step.run(s)) || log.errors().length > before) return undefined;
    if (s.done) break;
  }
  return s;
}

function parse(s: State): boolean {
  s.recipe = loadRecipe(s.file, s.log);
  return !!s.recipe;
}

function resolveTargets(s: State): boolean {
  const r = s.recipe!;
  if (!r.recipe.targets.length) {
    s.targets = [{ device: 'generic', stats: {}, io: {} }];
    return true;
  }
  let ok = true;
  r.recipe.targets.forEach((t, i) => {
    const profile = loadDevice(t.device, s.log, r.locate(['targets', i, 'device']));
    if (!profile) ok = false;
    s.targets.push({
      device: t.device,
      profile,
      resolution: t.resolution,
      budget_ms: t.budget_ms,
      index: i,
      stats: {},
      io: {},
    });
  });
  return ok;
}

function artifactRoot(s: State): string {
  return path.resolve(s.opts.out ?? 'out', s.recipe!.name);
}

function upToDate(s: State): boolean {
  const r = s.recipe!;
  s.hashes = new InputHashes(path.dirname(path.resolve(r.file)));
  for (const t of s.targets) {
    if (t.profile) t.profileHash = s.hashes.sha256(profileFile(t.device));
    if (s.opts.force) {
      t.because = '--force';
      continue;
    }
    const dir = path.join(artifactRoot(s), t.device);
    const want = {
      tool: TOOL_VERSION,
      recipeHash: r.hash,
      deviceProfile: t.profileHash,
      graphOnly: !!s.opts.graphOnly,
    };
    const found = staleReason(dir, want, s.hashes);
    if ('reason' in found) {
      t.because = found.reason;
      continue;
    }
    const p = found.manifest.prediction;
    t.fresh = {
      device: t.device,
      dir,
      manifest: path.join(dir, 'manifest.json'),
      status: 'up to date',
      graph_only: found.manifest.graph_only,
      ...artifactPrediction(p),
    };
  }
  s.done = s.targets.every((t) => t.fresh);
  if (s.done) s.artifacts = s.targets.map((t) => t.fresh!);
  return true;
}

function load(s: State): boolean {
  const r = s.recipe!;
  for (const c of MODEL_NAMES) {
    const m = loadRecipeModel(c, r.recipe.model[c], s.log, r.locate(['model', c]), {
      graphOnly: s.opts.graphOnly,
      progress: s.opts.progress,
    });
    if (!m) return false;
    s.models[c] = m;
    for (const f of m.inputs) s.inputFiles.add(f);
  }
  // A model without weights would leave the artifact without any: only --graph-only asks for that.
  let ok = true;
  for (const c of MODEL_NAMES) {
    const m = s.models[c]!;
    if (!m.graphOnly || s.opts.graphOnly || s.opts.checkOnly) continue;
    const absent = [
      ...new Set(
        m.graph.weights.flatMap((v) =>
          v.weight?.data.kind === 'external' && !v.weight.data.ref.exists ? [v.weight.data.ref.location] : [],
        ),
      ),
    ];
    s.log.error(
      Code.ModelWithoutWeights,
      `model.${c} (${m.source}) has no weights: ${absent.length === 1 ? `its weights file '${absent[0]}' is` : `its weights files ${absent.map((f) => `'${f}'`).join(', ')} are`} missing beside it`,
      r.locate(['model', c]),
      ['an artifact of graphs only (for the cost model or a structural check) is `pocketdiff compile --graph-only`'],
    );
    ok = false;
  }
  return ok;
}

function inferGeneric(s: State): boolean {
  const r = s.recipe!;
  s.vaeScale = decoderScale(s.models.vae_decoder!.graph) ?? SD_VAE_SCALE;
  // A resolution is pixels: over the decoder's upsampling it must give a latent the UNet halves three times.
  let fits = true;
  for (const t of s.targets) {
    if (t.resolution === undefined || (t.resolution % s.vaeScale === 0 && (t.resolution / s.vaeScale) % 8 === 0))
      continue;
    s.log.error(
      Code.RecipeConflict,
      `resolution ${t.resolution} does not fit this VAE decoder, which upsamples ${s.vaeScale}×: the latent would be ${t.resolution / s.vaeScale}, and the UNet needs a whole multiple of 8; use a multiple of ${8 * s.vaeScale}`,
      r.locate(['targets', t.index!, 'resolution']),
    );
    fits = false;
  }
  if (!fits) return false;
  // Each target's resolution first, 512 last: the passes read the types it leaves.
  const sizes = [...new Set(s.targets.map((t) => t.resolution ?? 512).filter((r) => r !== 512)), 512];
  for (const c of MODEL_NAMES) {
    const g = s.models[c]!.graph;
    const io = snapshotIo(g);
    for (const size of sizes) {
      if (!bindAndInfer(g, targetDims(size, s.vaeScale), s.log, s.models[c]!.source)) return false;
      const at = s.beforeAt.get(size) ?? {};
      at[c] = analyzeGraph(g);
      s.beforeAt.set(size, at);
    }
    s.interfaces[c] = { declared: io, inferred: snapshotIo(g) };
    // Intermediate types stay for the passes; the interface keeps its dynamic dims.
    restoreIo(g, io);
  }
  return true;
}

function contracts(s: State): boolean {
  const r = s.recipe!;
  const io = (c: ModelName): ModelIo => ({
    graph: s.models[c]!.graph,
    source: s.models[c]!.source,
    ...s.interfaces[c]!,
    at: r.locate(['model', c]),
  });
  return checkContracts({ text_encoder: io('text_encoder'), unet: io('unet'), vae_decoder: io('vae_decoder') }, s.log);
}

function unetPass(s: State, pass: Pass | undefined): boolean {
  return modelPass(s, 'unet', pass);
}

function modelPass(s: State, c: ModelName, pass: Pass | undefined): boolean {
  if (!pass) return true;
  const records = runPasses(s.models[c]!.graph, [pass], s.log, s.models[c]!.source);
  if (!records) return false;
  (s.passes[c] ??= []).push(...records);
  return true;
}

function prune(s: State): boolean {
  const w = s.recipe!.recipe.widths;
  if (!w) return true;
  for (const c of MODEL_NAMES) {
    const map = w[c];
    if (!map || !Object.keys(map).length) continue;
    const specs: WidthSpec[] = Object.entries(map).map(([selector, v]) =>
      widthSpec(selector, v, s.recipe!.locate(['widths', c, selector])),
    );
    if (
      !modelPass(
        s,
        c,
        pruneChannels(specs, {
          importance: w.importance,
          dims: targetDims(512, s.vaeScale),
          structureOnly: s.opts.checkOnly,
        }),
      )
    )
      return false;
    s.widths[c] = map;
  }
  return true;
}

async function quantizeModels(s: State): Promise<boolean> {
  const q = s.recipe!.recipe.quantize;
  if (!q) return true;
  for (const c of MODEL_NAMES) {
    const entry = q[c];
    if (!entry) continue;
    const at = s.recipe!.locate(['quantize', c]);
    const list = typeof entry === 'string' ? [{ scheme: entry, blocks: '*' }] : Array.isArray(entry) ? entry : [entry];
    const specs: QuantizeSpec[] = list.map((e, i) => ({
      scheme: e.scheme,
      selector: e.blocks,
      blocklist: 'blocklist' in e ? e.blocklist : undefined,
      keepIoTypes: 'keep_io_types' in e ? e.keep_io_types : undefined,
      blockSize: 'block_size' in e ? e.block_size : undefined,
      int4Format: 'int4_format' in e ? e.int4_format : undefined,
      keepInt8: 'keep_int8' in e ? e.keep_int8 : undefined,
      calibration: 'calibration' in e ? e.calibration : undefined,
      at: Array.isArray(entry) ? s.recipe!.locate(['quantize', c, i]) : at,
    }));
    for (const sp of specs)
      if (sp.calibration?.inputs) for (const f of filesUnder(sp.calibration.inputs)) s.inputFiles.add(f);
    const g = s.models[c]!.graph;
    if (s.models[c]!.graphOnly) {
      s.log.error(Code.RecipeConflict, `cannot quantize the ${c}: its weights are absent (a graph-only model)`, at);
      return false;
    }
    const prepared = await prepareQuantize(g, specs, s.log);
    if (!prepared || !modelPass(s, c, quantize(specs, prepared))) return false;
    // The pass's record names what it applied (int4 layers kept at int8 make it 'int4+int8').
    s.quantization[c] = String(s.passes[c]!.at(-1)!.stats.scheme);
  }
  return true;
}

function removeStep(s: State): Pass | undefined {
  const r = s.recipe!;
  const specs: RemoveSpec[] = r.recipe.unet.remove.map((entry, i) =>
    typeof entry === 'string'
      ? { selector: entry, at: r.locate(['unet', 'remove', i]) }
      : { selector: entry.block, keepShortcut: entry.keep_shortcut, at: r.locate(['unet', 'remove', i, 'block']) },
  );
  return specs.length ? removeBlocks(specs) : undefined;
}

/** A block the recipe removes cannot also be duplicated: say so, rather than "no block matches". */
function notRemoved(s: State): boolean {
  const r = s.recipe!;
  const now = new Set(findBlocks(s.models.unet!.graph).blocks.map((b) => b.name));
  const removed = (s.beforeAt.get(512)?.unet?.blocks ?? []).map((b) => b.name).filter((n) => !now.has(n));
  let ok = true;
  r.recipe.unet.duplicate.forEach((selector, i) => {
    const re = globToRegExp(selector);
    if ([...now].some((n) => re.test(n))) return;
    const gone = removed.find((n) => re.test(n));
    if (!gone) return;
    s.log.error(
      Code.RemovedAndDuplicated,
      `'${gone}' is removed by unet.remove, so it cannot also be duplicated`,
      r.locate(['unet', 'duplicate', i]),
    );
    ok = false;
  });
  return ok;
}

function duplicateStep(s: State): Pass | undefined {
  const r = s.recipe!;
  const specs = r.recipe.unet.duplicate.map((selector, i) => ({ selector, at: r.locate(['unet', 'duplicate', i]) }));
  return specs.length ? duplicateBlocks(specs) : undefined;
}

function schedule(s: State): boolean {
  const sc = s.recipe!.recipe.schedule;
  try {
    s.schedule = computeSchedule({ ...sc, set_alpha_to_one: false });
    return true;
  } catch (e) {
    s.log.error(Code.RecipeConflict, (e as Error).message.replace(/^schedule: /, ''), s.recipe!.locate(['schedule']));
    return false;
  }
}

/** The fold-cfg pass as the recipe configures it (fold() has decided which targets run it). */
function foldStep(s: State): Pass {
  const r = s.recipe!;
  const g = r.recipe.guidance;
  const opts: FoldCfgOptions = { at: r.locate(['guidance', 'fold']) };
  if (typeof g.uncond === 'object') {
    s.inputFiles.add(g.uncond.baked);
    const baked = readEmbedding(g.uncond.baked, s.log, r.locate(['guidance', 'uncond', 'baked']));
    if (!baked) return { name: 'fold-cfg', run: () => undefined };
    opts.bakedUncond = baked;
  }
  const sch = s.schedule!;
  if (r.recipe.schedule.fold_step) {
    opts.schedulerStep = {
      kind: 'ddim',
      prediction_type: sch.prediction_type as 'epsilon' | 'v_prediction',
      alphas_cumprod: sch.alphas_cumprod,
      prev_alphas_cumprod: sch.prev_alphas_cumprod,
      timesteps: sch.timesteps,
    };
  }
  return foldCfg(opts);
}

/**
 * Prices every target with a profile through the recipe plan (the same code
 * as whatif), and settles how each runs guidance. Over budget is a warning
 * here; the CLI exits 3 after the artifacts are written.
 */
async function price(s: State): Promise<boolean> {
  const r = s.recipe!;
  for (const t of s.targets) {
    if (!t.profile || t.resolution === undefined) continue;
    const plan = planRecipe(r, t.device);
    const p = await priceRecipe(plan, t.profile, s.log);
    if (!p) return false;
    t.price = p;
    t.baseline = await baselineOf(plan, t.profile, p.prediction.total_ms, new DiagnosticLog());
    const iv = p.prediction.interval_80;
    if (t.budget_ms !== undefined && p.prediction.total_ms <= t.budget_ms && iv && iv[1] > t.budget_ms) {
      s.log.warn(
        Code.BudgetAtRisk,
        `${t.device}: predicted ${Math.round(p.prediction.total_ms)} ms is within budget_ms ${t.budget_ms}, but its 80% interval reaches ${Math.round(iv[1])} ms`,
        r.locate(['targets', t.index!, 'budget_ms']),
      );
    }
  }
  return true;
}

/** Targets that run guidance as one batch-2 call get the folded UNet; where targets disagree, the others keep a copy of the unfolded one. */
function fold(s: State): boolean {
  const r = s.recipe!;
  const mode = r.recipe.guidance.fold;
  for (const t of s.targets) {
    const chosen = t.price?.guidance.mode;
    // Without a price ('check', or a target with no profile), 'auto' is checked as the fold.
    t.fold = mode === 'none' ? 'none' : mode === 'batch' ? 'batch' : chosen === 'two-calls' ? 'none' : 'batch';
  }
  const folded = s.targets.filter((t) => t.fold === 'batch');
  if (!folded.length) return true;
  const unfolded = s.targets.filter((t) => t.fold === 'none');
  if (unfolded.length) {
    const copy = s.models.unet!.graph.clone();
    for (const t of unfolded) t.unet = copy;
  }
  return unetPass(s, foldStep(s));
}

/** The graph a target emits for a model: its own UNet where it has one. */
function graphOf(s: State, t: Target, c: ModelName): Graph {
  return (c === 'unet' && t.unet) || s.models[c]!.graph;
}

function specialize(s: State): boolean {
  let ok = true;
  for (const t of s.targets) {
    const at = t.index !== undefined ? s.recipe!.locate(['targets', t.index, 'device']) : undefined;
    const dynamic = MODEL_NAMES.map((c) => snapshotIo(graphOf(s, t, c)));
    MODEL_NAMES.forEach((c, i) => {
      const g = graphOf(s, t, c);
      // The generic artifact's sizes are reported at a 512x512 image.
      if (!bindAndInfer(g, targetDims(t.resolution ?? 512, s.vaeScale), s.log, s.models[c]!.source)) ok = false;
      else t.stats[c] = analyzeGraph(g);
      if (t.profile && !checkOps(g, t.device, t.profile.ops.unsupported, c.replace('_', ' '), s.log, at)) ok = false;
      // Emit puts these static input/output types back for export; the generic artifact keeps the dynamic ones.
      t.io[c] = t.resolution !== undefined ? snapshotIo(g) : dynamic[i];
      restoreIo(g, dynamic[i]);
    });
  }
  return ok;
}

function predictionEntry(t: Target): Manifest['prediction'] {
  const p = t.price?.prediction;
  if (!p) return undefined;
  const c = p.components;
  return {
    device: p.device,
    total_ms: p.total_ms,
    ...(p.interval_80 ? { interval_80: p.interval_80 } : {}),
    ...(t.budget_ms !== undefined ? { budget_ms: t.budget_ms, within_budget: p.total_ms <= t.budget_ms } : {}),
    ...(t.baseline ? { baseline_ms: t.baseline.total_ms } : {}),
    components: {
      ...(c.text_encoder ? { text_encoder: c.text_encoder.ms * c.text_encoder.runs } : {}),
      unet: c.unet.ms_per_step * c.unet.steps,
      ...(c.vae_decoder ? { vae_decoder: c.vae_decoder.ms } : {}),
    },
    precision: t.price!.precision,
    guidance: guidanceWhy(t.price!.guidance, p.device),
  };
}

function emit(s: State): boolean {
  const r = s.recipe!;
  const root = artifactRoot(s);
  // Every model has its weights here unless --graph-only asked for none (load checked).
  const graphOnly = !!s.opts.graphOnly;
  // vocab.json + merges.txt from beside the text encoder, or the generated demo vocabulary.
  const tokenizer = tokenizerFiles(s.models.text_encoder!.graph, path.resolve(s.models.text_encoder!.source));
  const inputFiles = s.hashes!.record([...s.inputFiles, ...tokenizer.looked]);
  for (const t of s.targets) {
    if (t.fresh) {
      s.artifacts.push(t.fresh);
      continue;
    }
    const dir = path.join(root, t.device);
    const entries: Partial<Record<ModelName, ModelEntry>> = {};
    // A target that keeps two calls per step emits the UNet as it was before fold-cfg.
    const passesOf = (c: ModelName) =>
      (s.passes[c] ?? []).filter((p) => !(c === 'unet' && t.fold === 'none' && p.pass === 'fold-cfg'));
    const models: ArtifactModel[] = MODEL_NAMES.map((c) => {
      const g = graphOf(s, t, c);
      const dynamic = snapshotIo(g);
      const bound = t.io[c]!;
      restoreIo(g, bound);
      entries[c] = {
        file: `${c}.onnx`,
        data_file: `${c}.onnx.data`,
        inputs: g.inputs.map(ioInfo),
        outputs: g.outputs.map(ioInfo),
        params: t.stats[c]?.params ?? 0,
        macs: t.stats[c]?.macs.total,
        passes: passesOf(c).map((p) => p.pass),
        ...blockLists(passesOf(c)),
        ...(s.quantization[c] ? { quantization: s.quantization[c] } : {}),
        ...(s.widths[c] ? { widths: s.widths[c] } : {}),
      };
      restoreIo(g, dynamic);
      return { file: `${c}.onnx`, graph: g, prepare: () => restoreIo(g, bound), finish: () => restoreIo(g, dynamic) };
    });
    const sch = s.schedule!;
    const manifest: Omit<Manifest, 'files'> = {
      format: 'pocketdiff-artifact/1',
      tool: { name: 'pocketdiff', version: TOOL_VERSION },
      recipe: { name: r.name, hash: r.hash },
      device: t.device,
      ...(t.resolution !== undefined ? { resolution: t.resolution } : {}),
      vae_scale_factor: s.vaeScale,
      graph_only: graphOnly,
      models: entries,
      schedule: {
        scheduler: sch.scheduler,
        steps: sch.steps,
        spacing: sch.spacing,
        prediction_type: sch.prediction_type as 'epsilon' | 'v_prediction',
        train_timesteps: r.recipe.schedule.train_timesteps,
        timesteps: sch.timesteps,
        alphas_cumprod: sch.alphas_cumprod,
        final_alpha_cumprod: sch.final_alpha_cumprod,
        prev_alphas_cumprod: sch.prev_alphas_cumprod,
        ...(sch.sigmas ? { sigmas: sch.sigmas } : {}),
        init_noise_sigma: sch.init_noise_sigma,
        folded_step: r.recipe.schedule.fold_step,
      },
      guidance: {
        scale: r.recipe.guidance.scale,
        fold: t.fold ?? (r.recipe.guidance.fold === 'none' ? 'none' : 'batch'),
        uncond: typeof r.recipe.guidance.uncond === 'object' ? 'baked' : 'input',
        ...(r.recipe.guidance.fold === 'auto' && t.price?.guidance.auto
          ? {
              auto: {
                batch_ms_per_step: t.price.guidance.auto.batch_ms,
                two_calls_ms_per_step: t.price.guidance.auto.two_calls_ms,
              },
            }
          : {}),
      },
      ...(t.price ? { prediction: predictionEntry(t) } : {}),
      inputs: {
        files: inputFiles,
        ...(t.profileHash ? { device_profile: t.profileHash } : {}),
      },
    };
    const sources = Object.fromEntries(MODEL_NAMES.map((c) => [c, s.models[c]!.source]));
    const reportInput: ReportInput = {
      recipeFile: shownPath(r.file),
      description: r.recipe.description,
      sources,
      before: s.beforeAt.get(t.resolution ?? 512)!,
      after: t.stats,
      passes: Object.fromEntries(MODEL_NAMES.map((c) => [c, passesOf(c)])),
      ...(t.price
        ? {
            prediction: {
              ...t.price.prediction,
              budget_ms: t.budget_ms,
              baseline: t.baseline,
              guidance: guidanceWhy(t.price.guidance, t.device),
              precision: t.price.precision,
              interval_basis: t.profile?.calibration?.interval?.basis,
            },
          }
        : {}),
    };
    const done = emitArtifact(
      {
        dir,
        models,
        graphOnly,
        manifest,
        report: (m) => renderReport(m, reportInput),
        html: (m) => renderHtmlReport(m, reportInput),
        files: tokenizer.files,
        onProgress: s.opts.onProgress && ((f, d, tot) => s.opts.onProgress!(`${t.device}/${f}`, d, tot)),
      },
      s.log,
    );
    if (!done) return false;
    s.artifacts.push({
      device: t.device,
      dir,
      manifest: path.join(dir, 'manifest.json'),
      status: 'built',
      because: t.because,
      graph_only: graphOnly,
      ...artifactPrediction(predictionEntry(t)),
    });
  }
  return true;
}

/** The blocks remove-blocks and duplicate-blocks named, for the manifest (diff compares them). */
function blockLists(records: PassRecord[]): Pick<ModelEntry, 'blocks_removed' | 'blocks_duplicated'> {
  const named = (pass: string) =>
    records
      .filter((p) => p.pass === pass)
      .flatMap((p) =>
        String(p.stats.blocks ?? '')
          .split(', ')
          .filter(Boolean),
      );
  const removed = named('remove-blocks');
  const duplicated = named('duplicate-blocks');
  return {
    ...(removed.length ? { blocks_removed: removed } : {}),
    ...(duplicated.length ? { blocks_duplicated: duplicated } : {}),
  };
}

function artifactPrediction(
  p: Manifest['prediction'],
): Pick<CompiledArtifact, 'predicted_ms' | 'interval_80' | 'budget_ms' | 'within_budget'> {
  return {
    // Rounded to the microsecond, as every --json prints milliseconds (the manifest keeps them whole).
    ...(p
      ? {
          predicted_ms: round(p.total_ms),
          ...(p.interval_80
            ? { interval_80: [round(p.interval_80[0]), round(p.interval_80[1])] as [number, number] }
            : {}),
        }
      : {}),
    ...(p?.budget_ms !== undefined ? { budget_ms: p.budget_ms, within_budget: p.within_budget } : {}),
  };
}

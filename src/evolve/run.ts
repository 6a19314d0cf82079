// `pocketdiff evolve`, end to end, as one flat list of steps over a state
// (the shape of compile.ts): the recipe's UNet with its own edits and one
// gate per candidate action, the prompts through its text encoder, scores by
// running the gated UNet in onnxruntime-node, milliseconds from the device's
// cost model (a budget under the floor stops here, before anything runs),
// the search (search.ts), and three files written together:
// EVOLVED.yaml, its .log.json and its .html.
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice, type DeviceProfile } from '../devices/index.ts';
import type { Graph } from '../ir/graph.ts';
import { gateBlocks } from '../passes/gate-blocks.ts';
import { runPasses } from '../passes/pass.ts';
import { readEmbedding } from '../steps/embedding.ts';
import { loadRecipeModel, type LoadedModel } from '../steps/models.ts';
import { planRecipe, priceRecipe, recipePasses, type RecipePlan } from '../steps/recipe-cost.ts';
import { bindAndInfer, targetDims } from '../ir/bind.ts';
import { loadRecipe, type LoadedRecipe } from '../recipe/load.ts';
import { writeGraph } from '../runtime/ort.ts';
import { computeSchedule } from '../schedule/index.ts';
import { removeScratch, scratchDir, writeTogether } from '../scratch.ts';
import { closest } from '../text/did-you-mean.ts';
import { TOOL_VERSION } from '../version.ts';
import { ScoreCache } from './cache.ts';
import { ClipScorer } from './clip-score.ts';
import { hashFile } from '../artifact/hash.ts';
import { modelFiles } from '../artifact/inputs.ts';
import { hashJson } from './context.ts';
import type { Sampling } from './denoise.ts';
import { UnetRunner } from './denoise.ts';
import { evolvedRecipe } from './emit-recipe.ts';
import { jobData, QueueScoring, type ScoringSetup } from './queue.ts';
import { EvolveLatency, type Objective } from './latency.ts';
import { loadPrompts, type Prompt } from './prompts.ts';
import { evolveHtml, evolveLog, type EvolveLog } from './report.ts';
import { METRICS, Scorer, type Metric, type Sample } from './score.ts';
import { checkFloor, search, type SearchResult } from './search.ts';
import { gateVector, slotsOf, startArch, type SlotMap } from './slots.ts';
import { contextWidth, encodePrompts } from './text.ts';
import { MODEL_NAMES, type ModelName } from '../model-names.ts';

export interface EvolveOptions {
  device: string;
  /** One image's budget (a target's budget_ms), or with `objective: 'unet-step'` one UNet step's. */
  budget: number;
  objective: Objective;
  prompts?: string;
  samples: number;
  seed: number;
  metric: string;
  clipText?: string;
  clipVision?: string;
  resolution?: number;
  /** EVOLVED.yaml; default `<recipe>-evolved.yaml` beside the recipe. */
  out?: string;
  /** Removals per round while over budget. */
  group: number;
  /** Where finished scores are kept between runs; default `out/.evolve-cache/`; false keeps them in memory (workers). */
  cache?: string | false;
  /** redis://HOST:PORT[/DB]: scores are jobs on this BullMQ queue, served by `pocketdiff worker`. */
  queue?: string;
  threads?: number;
  onProgress?: (line: string) => void;
}

export interface EvolveResult {
  recipe: string;
  log: string;
  report: string;
  met: boolean;
  /** The evolved recipe priced as compile will price it. */
  predicted_ms: number;
  summary: EvolveLog;
  scores: { reused: number; computed: number };
}

interface State {
  file: string;
  o: EvolveOptions;
  log: DiagnosticLog;
  metric?: Metric;
  recipe?: LoadedRecipe;
  profile?: DeviceProfile;
  resolution?: number;
  /** The recipe as the cost model and compile see it on the device, at evolve's resolution. */
  plan?: RecipePlan;
  prompts?: Prompt[];
  samples?: Sample[];
  models: Partial<Record<ModelName, LoadedModel>>;
  unet?: Graph;
  slots?: SlotMap;
  gatedFile?: string;
  scratch?: string;
  sampling?: Sampling;
  latency?: EvolveLatency;
  scorer?: Scorer;
  cache?: ScoreCache;
  closers: (() => Promise<void>)[];
  result?: SearchResult;
  written?: EvolveResult;
}

interface Step {
  name: string;
  why: string;
  /** Also run by a worker, which scores jobs and searches nothing (prepareScoring). */
  scoring: boolean;
  run(s: State): boolean | Promise<boolean>;
}

export const EVOLVE_STEPS: Step[] = [
  { name: 'arguments', why: 'the metric is known and its CLIP towers are given', scoring: true, run: checkArgs },
  {
    name: 'recipe',
    why: 'the recipe, the device profile, the resolution and the prompts',
    scoring: true,
    run: readInputs,
  },
  { name: 'load', why: 'the UNet with its weights (scores run it), the text encoder', scoring: true, run: load },
  {
    name: 'unet',
    why: "the recipe's own UNet edits, shapes for the sampling size, the candidate slots",
    scoring: true,
    run: recipeUnet,
  },
  {
    name: 'latency',
    why: "each architecture's milliseconds from the device's cost model, through the recipe plan compile prices; the floor under the budget",
    scoring: false,
    run: latency,
  },
  {
    name: 'gate',
    why: 'one gate per candidate action, so a candidate is an input, not a recompile (skipped when workers score)',
    scoring: true,
    run: gate,
  },
  { name: 'scorer', why: 'prompt embeddings, the teacher, the metric, the score cache', scoring: true, run: scorer },
  { name: 'queue', why: 'with --queue, scores come from workers on Redis', scoring: false, run: queue },
  {
    name: 'search',
    why: "SnapFusion's Algorithm 1: remove the least valuable per ms, then add the most valuable that fits",
    scoring: false,
    run: runSearch,
  },
  {
    name: 'write',
    why: 'EVOLVED.yaml, its JSON log and HTML report, together or not at all',
    scoring: false,
    run: write,
  },
];

export async function evolve(file: string, o: EvolveOptions, log: DiagnosticLog): Promise<EvolveResult | undefined> {
  const s: State = { file, o, log, models: {}, closers: [] };
  try {
    return (await runSteps(s, EVOLVE_STEPS)) ? s.written : undefined;
  } finally {
    await closeState(s);
  }
}

async function runSteps(s: State, steps: Step[]): Promise<boolean> {
  for (const step of steps) {
    const before = s.log.errors().length;
    if (!(await step.run(s)) || s.log.errors().length > before) return false;
  }
  return true;
}

async function closeState(s: State): Promise<void> {
  s.cache?.close();
  for (const c of s.closers.reverse()) await c();
  if (s.scratch) removeScratch(s.scratch);
}

/** The setup a worker rebuilds to score this run's jobs: the options that shape a score, paths made absolute. */
function scoringSetup(s: State): ScoringSetup {
  const o = s.o;
  return {
    recipe: path.resolve(s.file),
    device: o.device,
    resolution: s.resolution!,
    metric: o.metric,
    ...(o.clipText ? { clipText: path.resolve(o.clipText) } : {}),
    ...(o.clipVision ? { clipVision: path.resolve(o.clipVision) } : {}),
    ...(o.prompts ? { prompts: path.resolve(o.prompts) } : {}),
    samples: o.samples,
    seed: o.seed,
  };
}

export interface PreparedScoring {
  scorer: Scorer;
  close(): Promise<void>;
}

/** A worker's side: the scoring steps of a run with these options, for measureSample(). */
export async function prepareScoring(setup: ScoringSetup, log: DiagnosticLog): Promise<PreparedScoring | undefined> {
  const o: EvolveOptions = { ...setup, budget: Infinity, objective: 'image', group: 1, cache: false };
  const s: State = { file: setup.recipe, o, log, models: {}, closers: [] };
  if (
    !(await runSteps(
      s,
      EVOLVE_STEPS.filter((x) => x.scoring),
    ))
  ) {
    await closeState(s);
    return undefined;
  }
  return { scorer: s.scorer!, close: () => closeState(s) };
}

function checkArgs(s: State): boolean {
  const m = s.o.metric;
  if (!(METRICS as readonly string[]).includes(m)) {
    const guess = closest(m, [...METRICS]);
    s.log.error(
      Code.EvolveUnknownMetric,
      `unknown --metric '${m}'${guess ? `; did you mean '${guess}'?` : ''}`,
      undefined,
      [`metrics: ${METRICS.join(', ')}`],
    );
    return false;
  }
  s.metric = m as Metric;
  if (s.metric === 'clip' && (!s.o.clipText || !s.o.clipVision)) {
    const missing = [!s.o.clipText && '--clip-text', !s.o.clipVision && '--clip-vision'].filter(Boolean).join(' and ');
    s.log.error(
      Code.EvolveClipMissing,
      `--metric clip needs CLIP's text and vision towers: ${missing} not given`,
      undefined,
      [
        'export CLIPTextModelWithProjection and CLIPVisionModelWithProjection to ONNX (text_embeds, image_embeds outputs), or use --metric latent',
      ],
    );
    return false;
  }
  return true;
}

function readInputs(s: State): boolean {
  s.recipe = loadRecipe(s.file, s.log);
  if (!s.recipe) return false;
  s.profile = loadDevice(s.o.device, s.log);
  if (!s.profile) return false;
  const target = s.recipe.recipe.targets.find((t) => t.device === s.o.device);
  s.resolution = s.o.resolution ?? target?.resolution ?? 512;
  s.plan = { ...planRecipe(s.recipe, s.o.device), resolution: s.resolution };
  // Pixels over the decoder's upsampling give the latent, which the UNet halves three times.
  const scale = s.plan.vaeScale;
  if (s.resolution % scale || (s.resolution / scale) % 8) {
    const fromRecipe = s.o.resolution === undefined && target;
    s.log.error(
      fromRecipe ? Code.RecipeConflict : Code.Usage,
      `${fromRecipe ? 'resolution' : '--resolution'} ${s.resolution} does not fit the recipe's VAE decoder, which upsamples ${scale}×: the latent would be ${s.resolution / scale}, and the UNet needs a whole multiple of 8; use a multiple of ${8 * scale}`,
      fromRecipe ? s.recipe.locate(['targets', s.recipe.recipe.targets.indexOf(target), 'resolution']) : undefined,
    );
    return false;
  }
  s.prompts = loadPrompts(s.o.prompts, s.log);
  if (!s.prompts) return false;
  // Sample i: prompt i mod P, seed S + ⌊i / P⌋ (more samples than prompts reuse them with new noise).
  const p = s.prompts.length;
  s.samples = Array.from({ length: s.o.samples }, (_, i) => ({ prompt: i % p, seed: s.o.seed + Math.floor(i / p) }));
  return true;
}

function load(s: State): boolean {
  const r = s.recipe!;
  for (const c of ['unet', 'text_encoder', ...(s.metric === 'clip' ? ['vae_decoder' as const] : [])] as ModelName[]) {
    const m = loadRecipeModel(c, r.recipe.model[c], s.log, r.locate(['model', c]));
    if (!m) return false;
    if (m.graphOnly) {
      s.log.error(
        Code.EvolveNoWeights,
        `the ${c.replace('_', ' ')}'s weights are absent (a graph-only model): evolve scores candidates by running it`,
        r.locate(['model', c]),
        [`model: ${m.source}`],
      );
      return false;
    }
    s.models[c] = m;
  }
  return true;
}

function recipeUnet(s: State): boolean {
  const r = s.recipe!;
  const m = s.models.unet!;
  const g = m.graph;
  const res = s.resolution!;
  // Static shapes for the one size evolve runs: a batch-2 call when guidance is on.
  const vaeScale = s.plan!.vaeScale;
  const dims: Record<string, number> = {
    ...targetDims(res, vaeScale),
    batch_size: r.recipe.guidance.scale > 1 ? 2 : 1,
    batch: r.recipe.guidance.scale > 1 ? 2 : 1,
  };
  const sample = g.inputs.find((v) => v.name === 'sample')?.type?.shape?.[1];
  const ehs = g.inputs.find((v) => v.name === 'encoder_hidden_states')?.type?.shape?.[1];
  if (typeof ehs === 'number') dims.sequence_length = ehs;
  if (!bindAndInfer(g, dims, s.log, m.source)) return false;
  const passes = recipePasses(s.plan!.models.unet, res, vaeScale);
  if (passes.length && !runPasses(g, passes, s.log, m.source)) return false;
  s.unet = g;
  s.slots = slotsOf(g);
  if (!s.slots.slots.length) {
    s.log.error(
      Code.EvolveNoCandidates,
      'the UNet has no cross-attention or ResNet block that can be removed: nothing to evolve',
      r.locate(['model', 'unet']),
      [`model: ${m.source}`],
    );
    return false;
  }
  const schedule = computeSchedule({ ...r.recipe.schedule, set_alpha_to_one: false });
  s.sampling = {
    schedule,
    scale: r.recipe.guidance.scale,
    latent: [typeof sample === 'number' ? sample : 4, res / vaeScale, res / vaeScale],
  };
  return true;
}

function gate(s: State): boolean {
  // Workers score every candidate: this process never runs the UNet.
  if (s.o.queue) return true;
  const m = s.models.unet!;
  const { pass } = gateBlocks(s.slots!.gates);
  if (!runPasses(s.unet!, [pass], s.log, m.source)) return false;
  s.scratch = scratchDir('evolve');
  s.gatedFile = path.join(s.scratch, 'unet-gated.onnx');
  s.o.onProgress?.(
    `gated UNet: ${s.slots!.gates.remove.length} remove and ${s.slots!.gates.copy.length} copy gates over ${s.slots!.slots.length} blocks`,
  );
  return writeGraph(s.unet!, s.gatedFile, s.log);
}

async function latency(s: State): Promise<boolean> {
  s.latency = await EvolveLatency.create(s.plan!, s.profile!, s.slots!, s.o.objective, s.log);
  // Before any model is run: a budget under the floor is known from the cost model alone.
  return !!s.latency && checkFloor(startArch(s.slots!), (a) => s.latency!.of(a), s.o.budget, s.log) !== undefined;
}

async function scorer(s: State): Promise<boolean> {
  const r = s.recipe!;
  const te = s.models.text_encoder!;
  const texts = s.prompts!.map((p) => p.text);
  const enc = await encodePrompts(
    te.source,
    te.graph,
    texts,
    contextWidth(s.unet!),
    s.log,
    r.locate(['model', 'text_encoder']),
  );
  if (!enc) return false;
  // A recipe that bakes its unconditional embedding guides with it, as its artifact will.
  const baked = r.recipe.guidance.uncond;
  let empty = enc.empty;
  if (typeof baked === 'object') {
    const at = r.locate(['guidance', 'uncond', 'baked']);
    const e = readEmbedding(baked.baked, s.log, at);
    if (!e) return false;
    if (e.dims[1] !== empty.tokens || e.dims[2] !== empty.hidden) {
      s.log.error(
        Code.RecipeValue,
        `the baked unconditional embedding is [${e.dims.join(', ')}], the text encoder's [1, ${empty.tokens}, ${empty.hidden}]`,
        at,
      );
      return false;
    }
    empty = { data: e.data, tokens: e.dims[1], hidden: e.dims[2] };
  }
  let clip: ClipScorer | undefined;
  if (s.metric === 'clip') {
    clip = await ClipScorer.open(
      { text: s.o.clipText!, vision: s.o.clipVision!, vae: s.models.vae_decoder!.source },
      texts,
      s.log,
    );
    if (!clip) return false;
    s.closers.push(() => clip!.release());
  }
  let opened: Promise<UnetRunner> | undefined;
  const unet = () => {
    if (!opened) {
      opened = UnetRunner.open(s.gatedFile!, s.unet!, s.o.threads);
      s.closers.push(async () => (await opened!).release());
    }
    return opened;
  };
  const slots = s.slots!;
  const plan = s.plan!.models.unet;
  const edited = !!(plan.edits.remove?.length || plan.edits.duplicate?.length || plan.widths.length);
  const sampling = s.sampling!;
  const samples = s.samples!;
  // The teacher is the unmodified source UNet: the gated one at rest when the recipe does not edit it.
  const teacher = async (): Promise<Float32Array[]> => {
    const src = s.models.unet!;
    const runner = edited ? await UnetRunner.open(src.source, s.unet!, s.o.threads) : undefined;
    const out: Float32Array[] = [];
    try {
      const rest = gateVector(slots, startArch(slots));
      for (const smp of samples)
        out.push(
          await (runner ?? (await unet())).sample(
            sampling,
            smp.seed,
            enc.prompts[smp.prompt],
            empty,
            runner ? undefined : rest,
          ),
        );
    } finally {
      await runner?.release();
    }
    return out;
  };
  s.o.onProgress?.('hashing the models for the score cache');
  const files = MODEL_NAMES.flatMap((c) => (s.models[c] ? [modelFiles(s.models[c]!.source, s.models[c]!.graph)] : []));
  if (clip) files.push([s.o.clipText!], [s.o.clipVision!]);
  if (typeof baked === 'object') files.push([baked.baked]);
  const context = hashJson({
    version: TOOL_VERSION,
    // Each model's files, read in chunks (weights files can be gigabytes).
    models: files.map((group) => group.map((f) => hashFile(f).sha256)),
    edits: {
      remove: plan.edits.remove?.map(({ at: _a, ...e }) => e),
      duplicate: plan.edits.duplicate?.map(({ at: _a, ...e }) => e),
      widths: plan.widths.map(({ at: _a, ...w }) => w),
    },
    gates: slots.gates,
    sampling: {
      timesteps: sampling.schedule.timesteps,
      scheduler: r.recipe.schedule,
      scale: sampling.scale,
      latent: sampling.latent,
    },
    metric: s.metric,
  });
  const dir = s.o.cache ?? path.join('out', '.evolve-cache');
  s.cache = new ScoreCache(dir === false ? undefined : path.join(dir, `${context.slice(0, 24)}.jsonl`));
  s.scorer = new Scorer({
    slots,
    unet,
    teacher,
    metric: s.metric!,
    clip,
    sampling,
    samples,
    prompts: s.prompts!.map((p, i) => ({ text: p.text, cond: enc.prompts[i] })),
    empty,
    cache: s.cache,
    context,
    onRemote: (done, total) => s.o.onProgress?.(`  jobs: ${done}/${total} finished`),
  });
  return true;
}

async function queue(s: State): Promise<boolean> {
  if (!s.o.queue) return true;
  const q = await QueueScoring.connect(s.o.queue, jobData(s.scorer!.context, scoringSetup(s)), s.log);
  if (!q) return false;
  s.closers.push(() => q.close());
  s.scorer!.remote = q;
  return true;
}

async function runSearch(s: State): Promise<boolean> {
  const slots = s.slots!;
  const lat = s.latency!;
  s.result = await search(
    slots,
    startArch(slots),
    {
      quality: (a, l) => s.scorer!.quality(a, l),
      prefetch: (a, l) => s.scorer!.prefetch(a, l),
      latency: (a) => lat.of(a),
    },
    {
      budget: s.o.budget,
      group: s.o.group,
      onRound: (r) =>
        s.o.onProgress?.(
          `round ${r.round}: scoring ${r.candidates} ${r.phase === 'remove' ? 'removals' : 'additions'}`,
        ),
      onCandidate: (done, total, block, kind) => s.o.onProgress?.(`  [${done}/${total}] ${kind} ${block}`),
    },
    s.log,
  );
  return !!s.result;
}

async function write(s: State): Promise<boolean> {
  const r = s.recipe!;
  const res = s.result!;
  const out =
    s.o.out ??
    path.relative(
      process.cwd(),
      path.join(path.dirname(r.file), `${path.basename(r.file).replace(/\.ya?ml$/i, '')}-evolved.yaml`),
    );
  const stem = out.replace(/\.ya?ml$/i, '');
  const files = { recipe: out, log: `${stem}.log.json`, report: `${stem}.html` };
  const measured =
    s.metric === 'latent'
      ? `Quality: −‖x − x_teacher‖/‖x_teacher‖ of the final latents against the unmodified UNet, mean of ${s.samples!.length} sample${s.samples!.length === 1 ? '' : 's'} at ${s.resolution} px.`
      : `Quality: CLIP score (100·cos of image and text embeddings) of the decoded images, mean of ${s.samples!.length} sample${s.samples!.length === 1 ? '' : 's'} at ${s.resolution} px.`;
  const yaml = evolvedRecipe({
    loaded: r,
    out,
    slots: s.slots!,
    result: res,
    device: s.o.device,
    budget: s.o.budget,
    objective: s.o.objective,
    resolution: s.resolution!,
    measured,
  });
  const summary = evolveLog({
    recipe: path.basename(r.file),
    evolved: path.basename(out),
    device: s.o.device,
    objective: s.o.objective,
    budget: s.o.budget,
    resolution: s.resolution!,
    metric: s.metric!,
    measured,
    steps: s.sampling!.schedule.timesteps.length,
    scale: s.sampling!.scale,
    samples: s.samples!.map((x) => ({ prompt: s.prompts![x.prompt].text, seed: x.seed })),
    slots: s.slots!,
    result: res,
  });
  const texts: [string, string][] = [
    [files.recipe, yaml],
    [files.log, JSON.stringify(summary, null, 2) + '\n'],
    [files.report, evolveHtml(summary)],
  ];
  // All three or none: a reader never sees a recipe without its log and report.
  const failed = writeTogether(texts);
  if (failed) {
    s.log.error(Code.WriteFailed, `cannot write the evolved recipe: ${failed}`, { file: out });
    return false;
  }
  // The evolved recipe, read back and priced as compile will price it.
  const back = loadRecipe(files.recipe, s.log);
  const price =
    back && (await priceRecipe({ ...planRecipe(back, s.o.device), resolution: s.resolution! }, s.profile!, s.log));
  if (!price) return false;
  const predicted =
    s.o.objective === 'image' ? price.prediction.total_ms : price.prediction.components.unet.ms_per_step;
  s.written = {
    ...files,
    met: res.met,
    predicted_ms: predicted,
    summary,
    scores: { reused: s.cache!.reused, computed: s.cache!.computed },
  };
  return true;
}

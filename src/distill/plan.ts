// `distill plan`: a recipe's student (its UNet with its edits, at its step
// count) and a teacher at 2^k times the steps, turned into the exact plan the
// user's PyTorch trains from: per student step the timesteps, the noise
// levels, the loss weight and the target's coefficients, every value read off
// the schedule module; the guidance and loss terms; and each choice the paper
// leaves open, recorded as one rather than left as a silent default.
import path from 'node:path';
import { InputHashes } from '../artifact/inputs.ts';
import { defaultConfig } from '../builder/default-model.ts';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { LoadedRecipe } from '../recipe/load.ts';
import { loadRecipeModel } from '../steps/models.ts';
import { VAE_SCALING_FACTOR } from '../run/latents.ts';
import { TOOL_VERSION } from '../version.ts';
import { distillGrid, offGridTeacherSteps, type Grid } from './grid.ts';
import type { DistillPlan, PlanStage, PlanStep } from './plan-schema.ts';

/** A value and whether the user gave it (else the paper's or pocketdiff's, as the choice says). */
type Given<T> = { value: T; given: boolean };

export interface PlanOptions {
  /** 2^k × the recipe's steps, k ≥ 1 (default 2×: one stage). */
  teacherSteps?: number;
  seed?: number;
  gamma?: number;
  cfgProbability?: number;
  guidanceRange?: [number, number];
  /** Who teaches stages after the first. */
  stageTeacher?: 'previous-student' | 'source';
  /** The guidance of the teacher samples a distilled decoder trains on: one scale or a range drawn from per sample. */
  vaeGuidance?: number | [number, number];
  vaeCount?: number;
}

// SnapFusion's values (Li et al. 2023, Sec. 4), as issue #18 lists them.
const PAPER = { guidanceRange: [2, 14] as [number, number], cfgProbability: 0.1, gamma: 0.2 };

export function buildPlan(r: LoadedRecipe, o: PlanOptions, log: DiagnosticLog): DistillPlan | undefined {
  const sc = r.recipe.schedule;
  if (sc.scheduler !== 'ddim') {
    log.error(
      Code.DistillScheduler,
      `step distillation targets are DDIM steps; this recipe samples with ${sc.scheduler} (set schedule.scheduler: ddim)`,
      r.locate(['schedule', 'scheduler']),
    );
    return undefined;
  }
  const n = sc.steps;
  const teacherSteps = o.teacherSteps ?? 2 * n;
  const k = Math.log2(teacherSteps / n);
  if (!Number.isInteger(teacherSteps) || !(k >= 1) || !Number.isInteger(k)) {
    log.error(
      Code.DistillTeacherSteps,
      `--teacher-steps ${teacherSteps} is not ${n} × 2, 4, 8, …: each stage halves the steps, down to the recipe's ${n}`,
      r.locate(['schedule', 'steps']),
    );
    return undefined;
  }
  const cfg = { ...sc, set_alpha_to_one: false };
  const grids: Grid[] = [];
  for (let j = 0; j < k; j++) {
    const res = distillGrid(cfg, teacherSteps / 2 ** (j + 1));
    if ('error' in res) {
      const code = res.error === 'nest' ? Code.DistillGridNotNested : Code.RecipeConflict;
      log.error(code, res.message, r.locate(['schedule', res.error === 'nest' ? 'spacing' : 'steps']));
      return undefined;
    }
    grids.push(res.grid);
  }
  const teacherFiles = modelFiles(r, log);
  if (!teacherFiles) return undefined;

  const pick = <T>(v: T | undefined, fallback: T): Given<T> =>
    v === undefined ? { value: fallback, given: false } : { value: v, given: true };
  const seed = pick(o.seed, 0);
  const gamma = pick(o.gamma, PAPER.gamma);
  const p = pick(o.cfgProbability, PAPER.cfgProbability);
  const range = pick(o.guidanceRange, PAPER.guidanceRange);
  const stageTeacher = pick(o.stageTeacher, 'previous-student' as const);
  const vaeGuidance = pick<number | [number, number]>(o.vaeGuidance, r.recipe.guidance.scale);
  const vaeCount = pick(o.vaeCount, 100_000);
  const src = (g: Given<unknown>, otherwise: 'paper' | 'recorded choice') =>
    g.given ? ('command line' as const) : otherwise;

  const stages: PlanStage[] = grids.map((g, j) => ({
    stage: j + 1,
    teacher: { network: j === 0 ? 'source' : stageTeacher.value, steps: g.teacher.steps },
    student: { network: 'recipe', steps: g.student.steps },
    steps: g.steps.map(stepRow),
    off_grid: offGridTeacherSteps(g, sc.train_timesteps),
  }));
  const removed = r.recipe.unet.remove.map((x) => (typeof x === 'string' ? x : x.block));
  return {
    format: 'pocketdiff-distill-plan/1',
    tool_version: TOOL_VERSION,
    seed: seed.value,
    recipe: { file: path.basename(r.file), name: r.name, sha256: r.hash },
    schedule: {
      scheduler: 'ddim',
      spacing: 'trailing',
      train_timesteps: sc.train_timesteps,
      beta_schedule: sc.beta_schedule,
      beta_start: sc.beta_start,
      beta_end: sc.beta_end,
      set_alpha_to_one: false,
      final_alpha_cumprod: grids[0]!.student.final_alpha_cumprod,
    },
    teacher: {
      model: r.recipe.model.unet,
      files: teacherFiles,
      prediction_type: sc.prediction_type,
      steps: teacherSteps,
    },
    student: { remove: removed, duplicate: r.recipe.unet.duplicate, prediction_type: sc.prediction_type, steps: n },
    stages,
    guidance: {
      formula:
        'ĝ = u + w·(c − u): u, c the unconditional and conditional outputs at the same z_t and t (any prediction type: the combination is linear)',
      range: range.value,
      distribution: 'uniform',
      cfg_probability: p.value,
      teacher_calls: { vanilla: 2, cfg: 4 },
    },
    loss: {
      target:
        "x̂ = (z_t″ − (σ″/σ)·z_t) / (α″ − σ″·α/σ), from the teacher's two DDIM sub-steps z_t → z_t′ → z_t″; computed in float64",
      weight: 'ϖ(t) = max(ᾱ_t / (1 − ᾱ_t), 1), the truncated SNR',
      distill:
        "L_dstl = ϖ(t)·‖x_θ(z_t) − x̂‖²: vanilla, the student's conditional output against the conditional teacher; with probability p, CFG-aware: both apply ĝ with one w ~ U[range]",
      original: 'L_ori = ϖ(t)·‖x_θ(z_t) − x‖²: the ordinary denoising loss against the clean latent',
      gamma: gamma.value,
      total: 'L = L_dstl + γ·L_ori',
    },
    conversions: {
      noising: 'z_t = α·x + σ·ε, α = √ᾱ_t, σ = √(1 − ᾱ_t); x = VAE latent × latent_scale',
      'x from epsilon': 'x = (z_t − σ·ε̂) / α',
      'x from v_prediction': 'x = α·z_t − σ·v̂',
      'epsilon from v_prediction': 'ε = α·v̂ + σ·z_t',
      'v from x and epsilon': 'v = α·ε − σ·x',
      'ddim step': "z_s = α_s·x̂₀ + σ_s·ε̂ (η = 0), x̂₀ and ε̂ from the model's output as above",
    },
    latent_scale: VAE_SCALING_FACTOR,
    choices: [
      {
        name: 'teacher steps',
        value: `${teacherSteps} → ${n}`,
        source: o.teacherSteps === undefined ? 'paper' : 'command line',
        why: 'SnapFusion distills a 16-step teacher to its 8-step student; each stage halves the steps',
      },
      {
        name: 'prediction type',
        value: sc.prediction_type,
        source: 'recorded choice',
        why: "the recipe's schedule.prediction_type, for teacher and student alike: it is what the recipe's model.unet is declared to predict (SnapFusion trains v-prediction)",
      },
      {
        name: 'guidance range',
        value: range.value,
        source: src(range, 'paper'),
        why: 'w ~ U[2, 14] per CFG-aware sample',
      },
      {
        name: 'CFG probability',
        value: p.value,
        source: src(p, 'paper'),
        why: 'the CFG-aware loss replaces the plain one in this share of iterations',
      },
      { name: 'gamma', value: gamma.value, source: src(gamma, 'paper'), why: 'weight of the original denoising loss' },
      {
        name: 'gamma scaling',
        value: 'constant',
        source: 'recorded choice',
        why: 'the paper scales γ dynamically without a rule to reproduce; this plan keeps it constant',
      },
      {
        name: 'later stages teacher',
        value: stageTeacher.value,
        source: src(stageTeacher, 'recorded choice'),
        why:
          k > 1
            ? "the teacher of stage 2 onwards (the paper leaves it open): the stage before's student (progressive distillation) or the source UNet at that step count"
            : 'one stage: not used',
      },
      {
        name: 'sub-step landing',
        value: 't → t′ → t″',
        source: 'recorded choice',
        why: "the teacher's first sub-step lands on t′, where it is evaluated next, and the second where the student's DDIM step lands (t − ⌊T/n⌋), so one student step from z_t reproduces z_t″; off_grid lists where diffusers' own 2n-step DDIM lands elsewhere",
      },
      {
        name: 'seed',
        value: seed.value,
        source: src(seed, 'recorded choice'),
        why: 'per sample, the student step, ε (rounded to the stored dtype) and w come from (seed, shard, index)',
      },
      {
        name: 'VAE pair guidance',
        value: vaeGuidance.value,
        source: src(vaeGuidance, 'recorded choice'),
        why: "the teacher pipeline's guidance for the decoder's latent → image pairs (the paper leaves it open): the recipe's guidance.scale",
      },
      {
        name: 'VAE pair count',
        value: vaeCount.value,
        source: src(vaeCount, 'recorded choice'),
        why: 'how many latent → image pairs the decoder distillation draws (the paper leaves it open)',
      },
    ],
  };
}

function stepRow(s: Grid['steps'][number]): PlanStep {
  const alpha = s.alpha_bar.map(Math.sqrt) as [number, number, number];
  const sigma = s.alpha_bar.map((a) => Math.sqrt(1 - a)) as [number, number, number];
  const denominator = alpha[2] - (sigma[2] * alpha[0]) / sigma[0];
  const zt2 = 1 / denominator;
  return {
    i: s.i,
    teacher_steps: s.teacher_steps,
    t: s.t,
    t1: s.t1,
    t2: s.t2,
    alpha_bar: s.alpha_bar,
    alpha,
    sigma,
    snr_weight: Math.max(s.alpha_bar[0] / (1 - s.alpha_bar[0]), 1),
    denominator,
    target: { z_t2: zt2, z_t: -(sigma[2] / sigma[0]) * zt2 },
  };
}

/** sha256 of what the teacher is read from: its graph and weights files, or the embedded default's config. */
function modelFiles(r: LoadedRecipe, log: DiagnosticLog): Record<string, string> | undefined {
  const ref = r.recipe.model.unet;
  const hashes = new InputHashes(path.dirname(r.file));
  if (ref === 'default') return hashes.record([defaultConfig('unet')]);
  const m = loadRecipeModel('unet', ref, log, r.locate(['model', 'unet']));
  return m && hashes.record(m.inputs);
}

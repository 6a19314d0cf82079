// plan.json: the exact step-distillation plan for a recipe's UNet, for the
// user's PyTorch training and for `distill targets` / `distill check`. The zod
// schema is the source of truth; schemas/distill-plan.schema.json is generated
// from it, and a plan is validated against that file before it is written.
import { z } from 'zod';
import type { SchemaFile } from '../schema/json-schema.ts';

const triple = z.tuple([z.number(), z.number(), z.number()]);

const stepRow = z.strictObject({
  i: z.number().int().describe('Student step index, in run order'),
  teacher_steps: z
    .tuple([z.number().int(), z.number().int()])
    .describe('The teacher steps that make this student step: 2i and 2i + 1'),
  t: z.number().int().describe('Timestep the student (and the first teacher call) is evaluated at'),
  t1: z.number().int().describe("t′: timestep of the teacher's second call, where its first sub-step lands"),
  t2: z
    .number()
    .int()
    .nullable()
    .describe("t″: where the student's DDIM step lands (t − ⌊T/n⌋); null past the end (final ᾱ)"),
  alpha_bar: triple.describe('ᾱ at t, t′, t″ (float32 schedule values)'),
  alpha: triple.describe('α = √ᾱ at t, t′, t″'),
  sigma: triple.describe('σ = √(1 − ᾱ) at t, t′, t″'),
  snr_weight: z.number().describe('Loss weight at t: max(ᾱ/(1 − ᾱ), 1)'),
  denominator: z.number().describe('α″ − σ″·α/σ: small at t = 999, so targets are computed in float64'),
  target: z
    .strictObject({ z_t2: z.number(), z_t: z.number() })
    .describe('x̂ = z_t2 · z_t″ + z_t · z_t, i.e. (z_t″ − (σ″/σ) z_t) / (α″ − σ″ α/σ)'),
});

const offGrid = z.strictObject({
  teacher_step: z.number().int(),
  from: z.number().int(),
  diffusers: z.number().int().describe("Where diffusers' 2n-step DDIMScheduler would land (t − ⌊T/2n⌋; -1: final)"),
  plan: z.number().int().nullable().describe('Where the plan lands (t′ or t″; null: final)'),
});

const stage = z.strictObject({
  stage: z.number().int().min(1),
  teacher: z.strictObject({
    network: z
      .enum(['source', 'previous-student'])
      .describe("source: the recipe's model.unet, unedited; previous-student: the student the stage before trained"),
    steps: z.number().int(),
  }),
  student: z.strictObject({
    network: z.literal('recipe').describe("The recipe's UNet with its edits (what compile emits)"),
    steps: z.number().int(),
  }),
  steps: z.array(stepRow),
  off_grid: z
    .array(offGrid)
    .describe(
      "Teacher sub-steps that land elsewhere than diffusers' own 2n-step DDIM would (when 2n does not divide T)",
    ),
});

const choice = z.strictObject({
  name: z.string(),
  value: z.unknown(),
  source: z
    .enum(['paper', 'recorded choice', 'command line'])
    .describe(
      "paper: SnapFusion's value; recorded choice: the paper leaves it open and this is pocketdiff's; command line: the user's",
    ),
  why: z.string(),
});

export const distillPlanSchema = z.strictObject({
  $schema: z.string().optional(),
  format: z.literal('pocketdiff-distill-plan/1'),
  tool_version: z.string(),
  seed: z
    .number()
    .int()
    .min(0)
    .describe('Every per-sample random draw (student step, ε, w) comes from (seed, shard, index)'),
  recipe: z.strictObject({
    file: z.string(),
    name: z.string(),
    sha256: z.string().describe('The recipe hash compile records'),
  }),
  schedule: z.strictObject({
    scheduler: z.literal('ddim'),
    spacing: z.literal('trailing'),
    train_timesteps: z.number().int(),
    beta_schedule: z.string(),
    beta_start: z.number(),
    beta_end: z.number(),
    set_alpha_to_one: z.boolean(),
    final_alpha_cumprod: z.number(),
  }),
  teacher: z.strictObject({
    model: z.string().describe("The recipe's model.unet as written"),
    files: z
      .record(z.string(), z.string())
      .describe(
        'sha256 of every file it is read from (the graph and its weights; the configs of the embedded default)',
      ),
    prediction_type: z.enum(['epsilon', 'v_prediction']),
    steps: z.number().int(),
  }),
  student: z.strictObject({
    remove: z.array(z.string()),
    duplicate: z.array(z.string()),
    prediction_type: z.enum(['epsilon', 'v_prediction']),
    steps: z.number().int(),
  }),
  stages: z.array(stage).min(1),
  guidance: z.strictObject({
    formula: z.string(),
    range: z.tuple([z.number(), z.number()]),
    distribution: z.literal('uniform'),
    cfg_probability: z
      .number()
      .min(0)
      .max(1)
      .describe('Chance per iteration that the CFG-aware loss is used instead of the plain one'),
    teacher_calls: z
      .strictObject({ vanilla: z.number().int(), cfg: z.number().int() })
      .describe('Teacher UNet calls per training sample'),
  }),
  loss: z.strictObject({
    target: z.string(),
    weight: z.string(),
    distill: z.string(),
    original: z.string(),
    gamma: z.number().min(0),
    total: z.string(),
  }),
  conversions: z
    .record(z.string(), z.string())
    .describe('Between the latent x, noise ε, velocity v and the noised z_t, per prediction type'),
  latent_scale: z.number().describe('VAE latents are multiplied by it before noising (SD: 0.18215)'),
  choices: z.array(choice),
});

export type DistillPlan = z.output<typeof distillPlanSchema>;
export type PlanStage = DistillPlan['stages'][number];
export type PlanStep = PlanStage['steps'][number];

export const DISTILL_PLAN_SCHEMA: SchemaFile = {
  file: 'distill-plan.schema.json',
  schema: distillPlanSchema,
  title: 'pocketdiff distillation plan',
  io: 'output',
};

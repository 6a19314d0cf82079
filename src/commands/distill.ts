// pocketdiff distill plan RECIPE.yaml [--teacher-steps N] [--out DIR] [--json] [choices…]
// pocketdiff distill vae-pairs TEACHER_ARTIFACT --prompts FILE --count N --out DIR [options…]
// pocketdiff distill targets PLAN --teacher ARTIFACT --data 'SHARDS' --out DIR [--modes vanilla,cfg] [--stage N]
// pocketdiff distill check STUDENT --plan PLAN [--heldout 'SHARDS'] [--teacher ARTIFACT --prompts FILE --seeds K]
// What is trained, not compiled: the exact plan the user's PyTorch trains
// from, and the data it trains on.
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { renderPlanMd } from '../distill/plan-md.ts';
import { DISTILL_PLAN_SCHEMA } from '../distill/plan-schema.ts';
import { buildPlan, type PlanOptions } from '../distill/plan.ts';
import { checkStudent, type CheckReport } from '../distill/check.ts';
import { expandBraces, writeTargets, type TargetMode } from '../distill/targets.ts';
import { writeVaePairs } from '../distill/vae-pairs.ts';
import { loadPrompts } from '../evolve/prompts.ts';
import { loadRecipe } from '../recipe/load.ts';
import { validateAgainst } from '../schema/validate.ts';
import { writeTogether } from '../scratch.ts';
import { shownPath } from '../text/paths.ts';
import { parse, usageError } from './args.ts';
import { Exit, type Command, type CommandContext } from './command.ts';

const usage = [
  'pocketdiff distill plan RECIPE.yaml [--teacher-steps N] [--out DIR] [--json] [--seed N] [--gamma G] [--cfg-probability P]',
  '                        [--guidance-range LO,HI] [--stage-teacher previous-student|source] [--vae-guidance W|LO,HI] [--vae-count N]',
  '       pocketdiff distill vae-pairs TEACHER_ARTIFACT --prompts FILE --count N --out DIR [--steps N] [--guidance W | --guidance-range LO,HI]',
  '                        [--images] [--seed N] [--per-shard N] [--json]',
  "       pocketdiff distill targets PLAN.json --teacher ARTIFACT --data 'latents-{0000..0099}.tar' --out DIR [--modes vanilla,cfg]",
  '                        [--per-shard N] [--batch B] [--size PX] [--stage N] [--teacher-outputs] [--queue redis://HOST:PORT[/DB]] [--json]',
  "       pocketdiff distill check STUDENT_ARTIFACT --plan PLAN.json [--heldout 'targets-{000000..000009}.tar'] [--stage N]",
  '                        [--teacher ARTIFACT --prompts FILE [--seeds K] [--images DIR]] [--json]',
].join('\n');

const checkFlags = {
  plan: { type: 'string' },
  heldout: { type: 'string', multiple: true },
  stage: { type: 'string' },
  teacher: { type: 'string' },
  prompts: { type: 'string' },
  seeds: { type: 'string' },
  images: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const targetFlags = {
  teacher: { type: 'string' },
  data: { type: 'string', multiple: true },
  out: { type: 'string' },
  modes: { type: 'string' },
  stage: { type: 'string' },
  'teacher-outputs': { type: 'boolean' },
  queue: { type: 'string' },
  'per-shard': { type: 'string' },
  batch: { type: 'string' },
  size: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const pairFlags = {
  prompts: { type: 'string' },
  count: { type: 'string' },
  out: { type: 'string' },
  steps: { type: 'string' },
  guidance: { type: 'string' },
  'guidance-range': { type: 'string' },
  images: { type: 'boolean' },
  seed: { type: 'string' },
  'per-shard': { type: 'string' },
  json: { type: 'boolean' },
} as const;

const planFlags = {
  'teacher-steps': { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  seed: { type: 'string' },
  gamma: { type: 'string' },
  'cfg-probability': { type: 'string' },
  'guidance-range': { type: 'string' },
  'stage-teacher': { type: 'string' },
  'vae-guidance': { type: 'string' },
  'vae-count': { type: 'string' },
} as const;

export const distill: Command = {
  name: 'distill',
  usage,
  summary:
    "what training needs around the compiler: step distillation's exact plan, the decoder's latent → image pairs, the teacher's targets, and how well a trained student agrees",
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === 'plan') return plan(rest, ctx);
    if (sub === 'vae-pairs') return vaePairs(rest, ctx);
    if (sub === 'targets') return targets(rest, ctx);
    if (sub === 'check') return check(rest, ctx);
    ctx.log.error(Code.Usage, `${sub ? `unknown subcommand '${sub}'` : 'expected a subcommand'}\nusage: ${usage}`);
    return Exit.Usage;
  },
};

function plan(argv: string[], { log, stdout }: CommandContext): number {
  const args = parse(argv, planFlags, usage, log);
  if (!args) return Exit.Usage;
  const bad = usageError(log, usage, Exit.Usage);
  const [file, ...extra] = args.positionals;
  if (!file || extra.length) return bad('expected one RECIPE.yaml');
  const opts = planOptions(args.values, log);
  if (!opts) return Exit.Usage;
  const r = loadRecipe(file, log);
  if (!r) return Exit.Error;
  const p = buildPlan(r, opts, log);
  if (!p) return Exit.Error;
  if (!validateAgainst(DISTILL_PLAN_SCHEMA, p, log, 'plan.json')) return Exit.Internal;
  const out = args.values.out ?? path.join('out', r.name, 'distill');
  const files = { json: path.join(out, 'plan.json'), md: path.join(out, 'plan.md') };
  const failed = writeTogether([
    [
      files.json,
      JSON.stringify({ $schema: `https://pocketdiff.dev/schemas/${DISTILL_PLAN_SCHEMA.file}`, ...p }, null, 2) + '\n',
    ],
    [files.md, renderPlanMd(p)],
  ]);
  if (failed) {
    log.error(Code.WriteFailed, `cannot write the plan: ${failed}`, { file: out });
    return Exit.Error;
  }
  if (args.values.json) stdout(JSON.stringify(p, null, 2));
  else {
    const stages = p.stages.map((s) => `${s.teacher.steps} → ${s.student.steps}`).join(', ');
    stdout(
      `wrote ${shownPath(files.json)} and ${shownPath(files.md)}: ${p.stages.length} stage${p.stages.length > 1 ? 's' : ''} (${stages} steps), ${p.student.prediction_type}`,
    );
  }
  return Exit.Ok;
}

type Flags = { [K in keyof typeof planFlags]?: (typeof planFlags)[K]['type'] extends 'boolean' ? boolean : string };

function planOptions(v: Flags, log: DiagnosticLog): PlanOptions | undefined {
  const bad = (m: string) => (log.error(Code.Usage, `${m}\nusage: ${usage}`), undefined);
  const teacherSteps = numberFlag(log, 'teacher-steps', v['teacher-steps'], whole(2), 'a whole number of steps');
  const seed = numberFlag(log, 'seed', v.seed, whole(0), 'a whole number ≥ 0');
  const gamma = numberFlag(log, 'gamma', v.gamma, nonNegative, 'a number ≥ 0');
  const p = numberFlag(
    log,
    'cfg-probability',
    v['cfg-probability'],
    (x) => x >= 0 && x <= 1,
    'a probability in [0, 1]',
  );
  const vaeCount = numberFlag(log, 'vae-count', v['vae-count'], whole(1), 'a whole number ≥ 1');
  const guidanceRange = rangeFlag(log, 'guidance-range', v['guidance-range'], any, 'LO,HI with LO ≤ HI');
  const vg = v['vae-guidance'];
  const vaeGuidance = vg?.includes(',')
    ? rangeFlag(log, 'vae-guidance', vg, any, 'LO,HI with LO ≤ HI')
    : numberFlag(log, 'vae-guidance', vg, nonNegative, 'a guidance scale ≥ 0 or LO,HI');
  const st = v['stage-teacher'];
  if (st !== undefined && st !== 'previous-student' && st !== 'source')
    return bad(`--stage-teacher must be previous-student or source, not '${st}'`);
  if ([teacherSteps, seed, gamma, p, vaeCount, guidanceRange, vaeGuidance].includes(null)) return undefined;
  return {
    teacherSteps: teacherSteps ?? undefined,
    seed: seed ?? undefined,
    gamma: gamma ?? undefined,
    cfgProbability: p ?? undefined,
    vaeCount: vaeCount ?? undefined,
    guidanceRange: guidanceRange ?? undefined,
    vaeGuidance: vaeGuidance ?? undefined,
    stageTeacher: st,
  };
}

async function vaePairs(argv: string[], { log, stdout, stderr }: CommandContext): Promise<number> {
  const args = parse(argv, pairFlags, usage, log);
  if (!args) return Exit.Usage;
  const bad = usageError(log, usage, Exit.Usage);
  const v = args.values;
  const [teacher, ...extra] = args.positionals;
  if (!teacher || extra.length) return bad('expected one TEACHER_ARTIFACT (an artifact folder, out/<recipe>/<device>)');
  if (!v.prompts) return bad('--prompts FILE is required: one prompt per line');
  if (!v.out) return bad('--out DIR is required: the folder that receives the shards and index.json');
  const count = numberFlag(log, 'count', v.count, whole(1), 'a whole number ≥ 1');
  const steps = numberFlag(log, 'steps', v.steps, whole(1), 'a whole number ≥ 1');
  const seed = numberFlag(log, 'seed', v.seed, whole(0), 'a whole number ≥ 0');
  const perShard = numberFlag(log, 'per-shard', v['per-shard'], whole(1), 'a whole number ≥ 1');
  if (count === undefined) return bad('--count N is required: how many pairs');
  if (v.guidance !== undefined && v['guidance-range'] !== undefined)
    return bad('--guidance and --guidance-range: choose one');
  const scale = numberFlag(log, 'guidance', v.guidance, nonNegative, 'a scale ≥ 0');
  const range = rangeFlag(log, 'guidance-range', v['guidance-range'], nonNegative, 'LO,HI with 0 ≤ LO ≤ HI');
  if ([count, steps, seed, perShard, scale, range].includes(null)) return Exit.Usage;
  const guidance = scale ?? range ?? undefined;
  const prompts = loadPrompts(v.prompts, log)?.map((x) => x.text);
  if (!prompts) return Exit.Error;
  const index = await writeVaePairs(
    teacher,
    {
      prompts,
      count: count!,
      steps: steps ?? undefined,
      guidance,
      images: !!v.images,
      seed: seed ?? 0,
      perShard: perShard ?? 1000,
      out: v.out,
      onShard: (done, all) => stderr(`shard ${done}/${all}`),
    },
    log,
  );
  if (!index) return Exit.Error;
  if (v.json) stdout(JSON.stringify(index, null, 2));
  else {
    const g =
      'scale' in index.guidance
        ? `guidance ${index.guidance.scale}`
        : `guidance drawn from [${index.guidance.range.join(', ')}]`;
    stdout(
      `wrote ${index.count} pairs in ${index.shards.length} shard${index.shards.length > 1 ? 's' : ''} and index.json to ${shownPath(v.out)} (${index.steps} steps, ${g}${v.images ? ', with images' : ''})`,
    );
  }
  return Exit.Ok;
}

async function targets(argv: string[], { log, stdout, stderr }: CommandContext): Promise<number> {
  const args = parse(argv, targetFlags, usage, log);
  if (!args) return Exit.Usage;
  const bad = usageError(log, usage, Exit.Usage);
  const v = args.values;
  const [plan, ...extra] = args.positionals;
  if (!plan || extra.length) return bad('expected one PLAN.json (from `pocketdiff distill plan`)');
  if (!v.teacher) return bad('--teacher ARTIFACT is required: the compiled teacher (an artifact folder)');
  if (!v.data?.length)
    return bad(
      "--data is required: webdataset shards of {key}.latent.npy and {key}.ids.npy ('latents-{0000..0099}.tar')",
    );
  if (!v.out) return bad('--out DIR is required: the folder that receives the target shards and index.json');
  const modes = (v.modes ?? 'vanilla,cfg').split(',').map((m) => m.trim());
  const unknown = modes.filter((m) => m !== 'vanilla' && m !== 'cfg');
  if (unknown.length || !modes.length) return bad(`--modes takes vanilla, cfg or both, not '${v.modes}'`);
  const stage = numberFlag(log, 'stage', v.stage, whole(1), 'a stage number (1, 2, …)');
  const perShard = numberFlag(log, 'per-shard', v['per-shard'], whole(1), 'a whole number of samples ≥ 1');
  const batch = numberFlag(log, 'batch', v.batch, whole(1), 'a whole number of samples ≥ 1');
  const size = numberFlag(log, 'size', v.size, whole(1), 'a whole number of pixels');
  if ([stage, perShard, batch, size].includes(null)) return Exit.Usage;
  const index = await writeTargets(
    {
      plan,
      teacher: v.teacher,
      data: v.data,
      out: v.out,
      modes: [...new Set(modes)] as TargetMode[],
      stage: stage ?? undefined,
      teacherOutputs: !!v['teacher-outputs'],
      queue: v.queue,
      perShard: perShard ?? undefined,
      batch: batch ?? undefined,
      size: size ?? undefined,
      onShard: (file, kept) => stderr(`${shownPath(file)}${kept ? ' (already there)' : ''}`),
    },
    log,
  );
  if (!index) return Exit.Error;
  if (v.json) stdout(JSON.stringify(index, null, 2));
  else
    stdout(
      `wrote ${index.count} samples' targets (${index.modes.join(', ')}) in ${index.shards.length} shard${index.shards.length > 1 ? 's' : ''} and index.json to ${shownPath(v.out)}`,
    );
  return Exit.Ok;
}

async function check(argv: string[], { log, stdout }: CommandContext): Promise<number> {
  const args = parse(argv, checkFlags, usage, log);
  if (!args) return Exit.Usage;
  const bad = usageError(log, usage, Exit.Usage);
  const v = args.values;
  const [student, ...extra] = args.positionals;
  if (!student || extra.length) return bad('expected one STUDENT_ARTIFACT (the compiled student, an artifact folder)');
  if (!v.plan) return bad('--plan PLAN.json is required (from `pocketdiff distill plan`)');
  if (v.prompts && !v.teacher) return bad('--prompts goes with --teacher: the end-to-end agreement samples both');
  const stage = numberFlag(log, 'stage', v.stage, whole(1), 'a stage number (1, 2, …)');
  const seeds = numberFlag(log, 'seeds', v.seeds, whole(1), 'a whole number ≥ 1');
  if (stage === null || seeds === null) return Exit.Usage;
  const prompts = v.prompts === undefined ? undefined : loadPrompts(v.prompts, log)?.map((x) => x.text);
  if (v.prompts !== undefined && !prompts) return Exit.Error;
  const report = await checkStudent(
    student,
    {
      plan: v.plan,
      heldout: v.heldout?.flatMap(expandBraces),
      stage,
      teacher: v.teacher,
      prompts,
      seeds,
      images: v.images,
    },
    log,
  );
  if (!report) return Exit.Error;
  stdout(v.json ? JSON.stringify(report, null, 2) : checkText(report));
  return Exit.Ok;
}

function checkText(r: CheckReport): string {
  const out: string[] = [];
  const n = (x: number | null) => (x === null ? '–' : x.toPrecision(4));
  if (r.heldout) {
    out.push(
      `held-out loss on ${r.heldout.samples} samples (weighted x-space MSE): vanilla ${n(r.heldout.vanilla)}, cfg ${n(r.heldout.cfg)}`,
    );
    for (const s of r.heldout.steps)
      out.push(`  step ${s.i} (t=${s.t}): ${s.count} samples, vanilla ${n(s.vanilla)}, cfg ${n(s.cfg)}`);
  }
  if (r.agreement) {
    const a = r.agreement;
    const db = (x: number | null) => (x === null ? '∞ (identical)' : `${x.toFixed(2)} dB`);
    out.push(
      `student ${a.student_steps} steps against teacher ${a.teacher_steps} steps on ${a.samples} samples: latent MSE ${n(a.latent_mse)}, image PSNR ${db(a.image_psnr)}; the student decoder on the teacher's latents: ${db(a.decoder_psnr)}`,
    );
    if (a.images)
      out.push(`images: ${a.images}/teacher and ${a.images}/student (feed both folders to your FID or CLIP tool)`);
  }
  return out.join('\n');
}

/** A numeric flag's value: undefined when absent; null, with a usage error, when `ok` refuses it. */
function numberFlag(
  log: DiagnosticLog,
  name: string,
  text: string | undefined,
  ok: (x: number) => boolean,
  what: string,
): number | undefined | null {
  if (text === undefined) return undefined;
  const x = Number(text);
  if (Number.isFinite(x) && ok(x)) return x;
  log.error(Code.Usage, `--${name} must be ${what}, not '${text}'\nusage: ${usage}`);
  return null;
}

/** A LO,HI flag's value, both ends accepted by `ok` and LO ≤ HI; undefined when absent, null with a usage error. */
function rangeFlag(
  log: DiagnosticLog,
  name: string,
  text: string | undefined,
  ok: (x: number) => boolean,
  what: string,
): [number, number] | undefined | null {
  if (text === undefined) return undefined;
  const r = text.split(',').map(Number);
  if (r.length === 2 && r.every((x) => Number.isFinite(x) && ok(x)) && r[0]! <= r[1]!) return [r[0]!, r[1]!];
  log.error(Code.Usage, `--${name} must be ${what}, not '${text}'\nusage: ${usage}`);
  return null;
}

const whole = (min: number) => (x: number) => Number.isInteger(x) && x >= min;
const any = () => true;
const nonNegative = (x: number) => x >= 0;

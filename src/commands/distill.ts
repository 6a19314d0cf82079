// pocketdiff distill plan RECIPE.yaml [--teacher-steps N] [--out DIR] [--json] [choices…]
// What is trained, not compiled: the exact plan the user's PyTorch trains from.
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { renderPlanMd } from '../distill/plan-md.ts';
import { DISTILL_PLAN_SCHEMA } from '../distill/plan-schema.ts';
import { buildPlan, type PlanOptions } from '../distill/plan.ts';
import { loadRecipe } from '../recipe/load.ts';
import { validateAgainst } from '../schema/validate.ts';
import { writeTogether } from '../scratch.ts';
import { shownPath } from '../text/paths.ts';
import { parse, usageError } from './args.ts';
import { Exit, type Command, type CommandContext } from './command.ts';

const usage = [
  'pocketdiff distill plan RECIPE.yaml [--teacher-steps N] [--out DIR] [--json] [--seed N] [--gamma G] [--cfg-probability P]',
  '                        [--guidance-range LO,HI] [--stage-teacher previous-student|source] [--vae-guidance W|LO,HI] [--vae-count N]',
].join('\n');

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
    "step distillation's exact plan for a recipe's UNet: timesteps, noise levels, targets' coefficients, losses and choices",
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === 'plan') return plan(rest, ctx);
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
  const num = (name: keyof Flags, ok: (x: number) => boolean, what: string): number | undefined | null => {
    const text = v[name];
    if (text === undefined) return undefined;
    const x = Number(text);
    return Number.isFinite(x) && ok(x) ? x : (bad(`--${name} must be ${what}, not '${text}'`), null);
  };
  const range = (name: keyof Flags, text: string | undefined): [number, number] | undefined | null => {
    if (text === undefined) return undefined;
    const parts = String(text).split(',').map(Number);
    return parts.length === 2 && parts.every(Number.isFinite) && parts[0]! <= parts[1]!
      ? [parts[0]!, parts[1]!]
      : (bad(`--${name} must be LO,HI with LO ≤ HI, not '${text}'`), null);
  };
  const teacherSteps = num('teacher-steps', (x) => Number.isInteger(x) && x >= 2, 'a whole number of steps');
  const seed = num('seed', (x) => Number.isInteger(x) && x >= 0, 'a whole number ≥ 0');
  const gamma = num('gamma', (x) => x >= 0, 'a number ≥ 0');
  const p = num('cfg-probability', (x) => x >= 0 && x <= 1, 'a probability in [0, 1]');
  const vaeCount = num('vae-count', (x) => Number.isInteger(x) && x >= 1, 'a whole number ≥ 1');
  const guidanceRange = range('guidance-range', v['guidance-range']);
  const vg = v['vae-guidance'];
  const vaeGuidance =
    vg === undefined
      ? undefined
      : vg.includes(',')
        ? range('vae-guidance', vg)
        : num('vae-guidance', (x) => x >= 0, 'a guidance scale ≥ 0 or LO,HI');
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

// `distill plan`: the grids nest only with trailing spacing; every value is the
// schedule module's; one student DDIM step to the plan's target lands exactly
// where the teacher's two sub-steps do; the command writes a plan that
// validates against the published schema, with a plan.md whose reference loss
// is valid Python reading keys the plan has.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as ajv2020 from 'ajv/dist/2020.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { distillGrid } from '../src/distill/grid.ts';
import { renderPlanMd } from '../src/distill/plan-md.ts';
import { DISTILL_PLAN_SCHEMA, type DistillPlan, type PlanStage } from '../src/distill/plan-schema.ts';
import { buildPlan, type PlanOptions } from '../src/distill/plan.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import { renderSchema } from '../src/schema/json-schema.ts';
import { computeSchedule, DEFAULT_SCHEDULE, schedulerStep, type Schedule } from '../src/schedule/index.ts';
import { checkGolden, GOLDENS } from './support/golden.ts';
import { cli } from './support/cli.ts';
import { tempDir } from './support/temp.ts';

const Ajv2020 = ajv2020.default as unknown as typeof ajv2020.Ajv2020;
const work = tempDir('distill-plan');
const SNAPFUSION = 'recipes/snapfusion-iphone14pro.yaml';

/** A recipe extending the SnapFusion one with another schedule (its UNet is the embedded default: nothing is built). */
function recipe(name: string, schedule: string): string {
  const file = path.join(work, `${name}.yaml`);
  fs.writeFileSync(file, `extends: ${path.resolve(SNAPFUSION)}\nschedule:\n${schedule}`);
  return file;
}

function plan(file: string, o: PlanOptions = {}): { plan?: DistillPlan; log: DiagnosticLog } {
  const log = new DiagnosticLog();
  const r = loadRecipe(file, log);
  return { plan: r && buildPlan(r, o, log), log };
}

test('trailing spacing nests 16 → 8, 32 → 16 and 64 → 32 (goldens: the step tables)', () => {
  for (const n of [8, 16, 32]) {
    const res = distillGrid({ ...DEFAULT_SCHEDULE, spacing: 'trailing' }, n);
    assert.ok('grid' in res, `trailing ${2 * n} → ${n}`);
    const { plan: p, log } = plan(recipe(`trailing-${n}`, `  steps: ${n}\n`));
    assert.ok(p, log.items.map(formatDiagnostic).join('\n'));
    checkGolden(path.join(GOLDENS, `distill-${2 * n}-${n}.txt`), stepTable(p!.stages[0]!));
  }
});

function stepTable(s: PlanStage): string {
  const e = (x: number) => x.toExponential(9);
  const lines = [
    `# ${s.teacher.steps} → ${s.student.steps}: i, teacher steps, t, t′, t″, ᾱ ᾱ′ ᾱ″, weight, x̂ = a·z_t″ + b·z_t (a b)`,
  ];
  for (const r of s.steps)
    lines.push(
      `${r.i} ${r.teacher_steps.join(',')} ${r.t} ${r.t1} ${r.t2 ?? 'final'}  ${r.alpha_bar.map(e).join(' ')}  ${e(r.snr_weight)}  ${e(r.target.z_t2)} ${e(r.target.z_t)}`,
    );
  lines.push(
    `# off grid (teacher step: from → diffusers, plan): ${s.off_grid.map((o) => `${o.teacher_step}: ${o.from} → ${o.diffusers}, ${o.plan ?? 'final'}`).join('; ') || 'none'}`,
  );
  return lines.join('\n') + '\n';
}

test('leading and linspace grids do not nest: PD11001 names the timesteps, at schedule.spacing', () => {
  const { plan: p, log } = plan(recipe('leading', '  spacing: leading\n'));
  assert.is(p, undefined);
  assert.equal(log.codes(), ['PD11001']);
  const text = formatDiagnostic(log.items[0]!);
  assert.match(text, /leading spacing does not nest the 8-step student in the 16-step teacher/);
  assert.match(text, /timestep 876, the teacher's step 0 at 931/);
  assert.match(text, /leading\.yaml:3:\d+/);
  assert.equal(plan(recipe('linspace', '  spacing: linspace\n')).log.codes(), ['PD11001']);
});

test('a teacher that is not 2^k × the steps, and an Euler recipe, are refused with their codes', () => {
  assert.equal(plan(SNAPFUSION, { teacherSteps: 24 }).log.codes(), ['PD11002']);
  assert.equal(plan(SNAPFUSION, { teacherSteps: 8 }).log.codes(), ['PD11002']);
  assert.equal(plan(recipe('euler', '  scheduler: euler\n')).log.codes(), ['PD11003']);
});

test("every ᾱ, t and t″ in the plan is the schedule module's, stage by stage", () => {
  const { plan: p } = plan(SNAPFUSION, { teacherSteps: 32 });
  assert.equal(
    p!.stages.map((s) => [s.teacher.steps, s.student.steps, s.teacher.network]),
    [
      [32, 16, 'source'],
      [16, 8, 'previous-student'],
    ],
  );
  for (const s of p!.stages) {
    const teacher = computeSchedule({
      ...DEFAULT_SCHEDULE,
      spacing: 'trailing',
      scheduler: 'ddim',
      steps: s.teacher.steps,
      set_alpha_to_one: false,
    });
    const student = computeSchedule({
      ...DEFAULT_SCHEDULE,
      spacing: 'trailing',
      scheduler: 'ddim',
      steps: s.student.steps,
      set_alpha_to_one: false,
    });
    s.steps.forEach((r, i) => {
      assert.is(r.t, student.timesteps[i]);
      assert.is(r.t, teacher.timesteps[2 * i]);
      assert.is(r.t1, teacher.timesteps[2 * i + 1]);
      assert.equal(r.alpha_bar, [
        student.alphas_cumprod[i],
        teacher.alphas_cumprod[2 * i + 1],
        student.prev_alphas_cumprod[i],
      ]);
      assert.is(r.t2, i === s.steps.length - 1 ? null : r.t - Math.floor(1000 / s.student.steps));
    });
    assert.is(p!.schedule.final_alpha_cumprod, student.final_alpha_cumprod);
  }
});

/** A DDIM step from ᾱ to ᾱ_next by the schedule module's own step (prediction `kind`). */
function ddim(
  kind: Schedule['prediction_type'],
  a: number,
  aNext: number,
  out: Float32Array,
  z: Float32Array,
): Float32Array {
  const s: Schedule = {
    scheduler: 'ddim',
    steps: 1,
    spacing: 'trailing',
    prediction_type: kind,
    timesteps: [0],
    alphas_cumprod: [a],
    final_alpha_cumprod: aNext,
    prev_alphas_cumprod: [aNext],
    init_noise_sigma: 1,
  };
  return schedulerStep(s, 0, out, z);
}

test("one student DDIM step to x̂ reproduces the teacher's z_t″ (float32, ≤ 1e-6), every step of 16 → 8 and 32 → 16", () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const n = 4 * 8 * 8;
  for (const steps of [8, 16]) {
    const { plan: p } = plan(recipe(`exact-${steps}`, `  steps: ${steps}\n`));
    const student = computeSchedule({
      ...DEFAULT_SCHEDULE,
      spacing: 'trailing',
      scheduler: 'ddim',
      steps,
      set_alpha_to_one: false,
      prediction_type: 'sample',
    });
    for (const r of p!.stages[0]!.steps) {
      const z = Float32Array.from({ length: n }, rand);
      const [v1, v2] = [Float32Array.from({ length: n }, rand), Float32Array.from({ length: n }, rand)];
      const [a, a1, a2] = r.alpha_bar;
      const z2 = ddim('v_prediction', a1, a2, v2, ddim('v_prediction', a, a1, v1, z));
      const x = Float32Array.from(z, (zt, k) => r.target.z_t2 * z2[k]! + r.target.z_t * zt);
      // The student's own schedule (sample prediction: the model output is x̂) takes the step.
      const back = schedulerStep(student, r.i, x, z);
      const err = Math.max(...back.map((b, k) => Math.abs(b - z2[k]!)));
      assert.ok(err <= 1e-6, `${2 * steps} → ${steps} step ${r.i}: |student − teacher| = ${err}`);
    }
  }
});

test('the command writes plan.json (valid against schemas/distill-plan.schema.json, which is current) and plan.md; choices given are marked', async () => {
  const out = path.join(work, 'cmd');
  const res = await cli(['distill', 'plan', SNAPFUSION, '--out', out, '--gamma', '0.5', '--guidance-range', '3,9']);
  assert.is(res.code, 0, res.stderr);
  assert.match(res.stdout, /plan\.json and .*plan\.md: 1 stage \(16 → 8 steps\), v_prediction/);
  const written: DistillPlan = JSON.parse(fs.readFileSync(path.join(out, 'plan.json'), 'utf8'));
  const published = fs.readFileSync(`schemas/${DISTILL_PLAN_SCHEMA.file}`, 'utf8');
  assert.is(
    published,
    renderSchema(DISTILL_PLAN_SCHEMA),
    'schemas/distill-plan.schema.json is stale: run `npm run schemas`',
  );
  const validate = new Ajv2020({ allErrors: true, strict: false }).compile(JSON.parse(published));
  assert.ok(validate(JSON.parse(JSON.stringify(written))), JSON.stringify(validate.errors));
  assert.is(written.loss.gamma, 0.5);
  assert.equal(written.guidance.range, [3, 9]);
  const source = (name: string) => written.choices.find((c) => c.name === name)!.source;
  assert.is(source('gamma'), 'command line');
  assert.is(source('CFG probability'), 'paper');
  assert.is(source('VAE pair count'), 'recorded choice');
  assert.is(fs.readFileSync(path.join(out, 'plan.md'), 'utf8'), renderPlanMd(written));
  assert.equal(fs.readdirSync(out).sort(), ['plan.json', 'plan.md']);
  const again = await cli([
    'distill',
    'plan',
    SNAPFUSION,
    '--out',
    out,
    '--gamma',
    '0.5',
    '--guidance-range',
    '3,9',
    '--json',
  ]);
  assert.equal(
    JSON.parse(again.stdout),
    (({ $schema: _, ...rest }) => rest)(written),
    '--json prints the plan written',
  );
  const bad = await cli(['distill', 'plan', SNAPFUSION, '--guidance-range', '9,3']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--guidance-range must be LO,HI with LO ≤ HI/);
});

test("plan.md's reference loss is Python that reads only keys plan.json has", () => {
  const { plan: p } = plan(SNAPFUSION);
  const md = renderPlanMd(p!);
  const code = /```python\n([\s\S]*?)```/.exec(md)![1]!;
  const file = path.join(work, 'reference.py');
  fs.writeFileSync(file, code);
  execFileSync('/usr/bin/python3', ['-c', `import ast, sys; ast.parse(open(sys.argv[1]).read())`, file]);
  const keys = [...code.matchAll(/\["([a-z_0-9]+)"\]/g)].map((m) => m[1]!);
  const have = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (have.add(k), walk(x));
  };
  walk(p);
  for (const k of keys) assert.ok(have.has(k), `the reference reads plan["…"]["${k}"], which plan.json does not have`);
});

test.run();

// The denoising schedule against diffusers' (v0.27) DDIM and Euler schedulers:
// values read off the diffusers source and Stable Diffusion's known numbers,
// a numpy re-implementation of diffusers' formulas (test/tools/schedule_reference.py,
// run once with Debian's python3) for everything else, and two properties that hold
// whatever the rounding (a perfect model's trajectory ends at x0).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alphasCumprod, trainBetas } from '../src/schedule/betas.ts';
import {
  computeSchedule,
  DEFAULT_SCHEDULE,
  scaleModelInput,
  schedulerStep,
  type Schedule,
  type ScheduleConfig,
} from '../src/schedule/index.ts';

const PYTHON = '/usr/bin/python3';
const REFERENCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tools', 'schedule_reference.py');
/** The brief's bound; the implementation matches the reference exactly in practice. */
const REL = 1e-6;

const sd = (over: Partial<ScheduleConfig> & Pick<ScheduleConfig, 'scheduler' | 'steps'>): ScheduleConfig => ({
  ...DEFAULT_SCHEDULE,
  ...over,
});

/** Deterministic float32 test data in [-2, 2). */
function data(n: number, seed: number): Float32Array {
  let x = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return (x / 2 ** 32) * 4 - 2;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = REL): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= rel * Math.abs(expected[i]))) {
      assert.unreachable(`${what}[${i}]: ${actual[i]} vs ${expected[i]} (relative ${d / Math.abs(expected[i])})`);
    }
  }
}

// ─── values from the diffusers source and SD's config ──────────────────────────────

test('DDIM leading, 8 steps: (arange(8) * 125)[::-1] + steps_offset 1', () => {
  const s = computeSchedule(sd({ scheduler: 'ddim', steps: 8 }));
  assert.equal(s.timesteps, [876, 751, 626, 501, 376, 251, 126, 1]);
  // prev timestep is t - 125: the next one, and -124 < 0 → final_alpha_cumprod = alphas_cumprod[0].
  assert.equal(s.prev_alphas_cumprod.slice(0, -1), s.alphas_cumprod.slice(1));
  assert.is(s.prev_alphas_cumprod[7], s.final_alpha_cumprod);
  assert.is(s.init_noise_sigma, 1);
});

test('DDIM trailing, 8 steps: round(arange(1000, 0, -125)) - 1', () => {
  const s = computeSchedule(sd({ scheduler: 'ddim', steps: 8, spacing: 'trailing' }));
  assert.equal(s.timesteps, [999, 874, 749, 624, 499, 374, 249, 124]);
  assert.equal(s.prev_alphas_cumprod.slice(0, -1), s.alphas_cumprod.slice(1));
});

test('trailing rounds half to even like np.round (16 steps: 812.5 → 812)', () => {
  const s = computeSchedule(sd({ scheduler: 'ddim', steps: 16, spacing: 'trailing' }));
  assert.equal(s.timesteps, [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
});

test('DDIM linspace, 8 steps: steps still go back by 1000 // 8, not to the next timestep', () => {
  const s = computeSchedule(sd({ scheduler: 'ddim', steps: 8, spacing: 'linspace' }));
  assert.equal(s.timesteps, [999, 856, 714, 571, 428, 285, 143, 0]);
  const table = alphasCumprod(trainBetas('scaled_linear', 0.00085, 0.012, 1000));
  assert.is(s.prev_alphas_cumprod[0], table[874]); // 999 - 125, where the next timestep is 856
  assert.is(s.prev_alphas_cumprod[6], table[18]);
  assert.is(s.prev_alphas_cumprod[7], s.final_alpha_cumprod);
});

test("SD's alphas_cumprod: [0] = 1 - 0.00085, [999] = 0.0046601", () => {
  const table = alphasCumprod(trainBetas('scaled_linear', 0.00085, 0.012, 1000));
  assert.is(table[0], Math.fround(0.99915));
  assert.ok(Math.abs(table[999] - 0.0046601) < 1e-7, String(table[999]));
  const ddim = computeSchedule(sd({ scheduler: 'ddim', steps: 8, spacing: 'trailing' }));
  assert.is(ddim.alphas_cumprod[0], table[999]);
  assert.is(ddim.final_alpha_cumprod, table[0]); // set_alpha_to_one: false
  assert.is(computeSchedule(sd({ scheduler: 'ddim', steps: 8, set_alpha_to_one: true })).final_alpha_cumprod, 1);
});

test('Euler leading, 25 steps (SDXL config): integer timesteps, init sigma sqrt(max^2 + 1)', () => {
  const s = computeSchedule(sd({ scheduler: 'euler', steps: 25 }));
  assert.equal(
    s.timesteps,
    Array.from({ length: 25 }, (_, i) => 961 - 40 * i),
  );
  const sigmas = s.sigmas!;
  assert.is(sigmas.length, 26);
  assert.is(sigmas[25], 0);
  const table = alphasCumprod(trainBetas('scaled_linear', 0.00085, 0.012, 1000));
  const sigmaAt = (t: number) => Math.fround(Math.sqrt(Math.fround(Math.fround(1 - table[t]) / table[t])));
  assert.is(sigmas[0], sigmaAt(961)); // integer timestep: np.interp returns the table entry
  assert.is(sigmas[24], sigmaAt(1));
  assert.ok(Math.abs(s.init_noise_sigma - Math.sqrt(sigmas[0] ** 2 + 1)) < 1e-6);
});

test("Euler linspace, 25 steps (SD 1.x's config): fractional timesteps, sigma_max 14.6146", () => {
  const s = computeSchedule(sd({ scheduler: 'euler', steps: 25, spacing: 'linspace' }));
  assert.equal(s.timesteps.slice(0, 3), [999, 957.375, 915.75]); // 999 - 41.625 i, exact in float32
  assert.is(s.timesteps[24], 0);
  assert.ok(Math.abs(s.sigmas![0] - 14.6146) < 1e-4, String(s.sigmas![0]));
  assert.is(s.init_noise_sigma, s.sigmas![0]);
  assert.is(s.sigmas![25], 0);
});

// ─── against the numpy reference ───────────────────────────────────────────────────

interface Case {
  name: string;
  config: ScheduleConfig;
  step?: { index: number; model_output: number[]; sample: number[] };
}
type Reference = Omit<Schedule, 'scheduler' | 'steps' | 'spacing' | 'prediction_type'> & {
  name: string;
  table: number[];
  prev_sample?: number[];
  scaled?: number[];
};

const withStep = (name: string, config: ScheduleConfig, index: number): Case => ({
  name,
  config,
  step: { index, model_output: Array.from(data(16, index + 1)), sample: Array.from(data(16, index + 101)) },
});

const CASES: Case[] = [
  withStep('ddim leading 8', sd({ scheduler: 'ddim', steps: 8 }), 3),
  withStep('ddim trailing 8', sd({ scheduler: 'ddim', steps: 8, spacing: 'trailing' }), 7),
  withStep('ddim linspace 8', sd({ scheduler: 'ddim', steps: 8, spacing: 'linspace' }), 0),
  withStep('ddim leading 50', sd({ scheduler: 'ddim', steps: 50 }), 49),
  withStep('ddim leading 7 (1000 % 7 != 0)', sd({ scheduler: 'ddim', steps: 7 }), 2),
  withStep('ddim trailing 16', sd({ scheduler: 'ddim', steps: 16, spacing: 'trailing' }), 5),
  withStep(
    'ddim trailing 25 v_prediction (SD 2.x)',
    sd({ scheduler: 'ddim', steps: 25, spacing: 'trailing', prediction_type: 'v_prediction' }),
    4,
  ),
  withStep('ddim leading 20 sample', sd({ scheduler: 'ddim', steps: 20, prediction_type: 'sample' }), 10),
  withStep(
    'ddim linear betas, alpha to one',
    sd({
      scheduler: 'ddim',
      steps: 10,
      beta_schedule: 'linear',
      beta_start: 0.0001,
      beta_end: 0.02,
      set_alpha_to_one: true,
      steps_offset: 0,
    }),
    9,
  ),
  withStep('ddim squaredcos_cap_v2', sd({ scheduler: 'ddim', steps: 10, beta_schedule: 'squaredcos_cap_v2' }), 1),
  withStep('euler leading 25', sd({ scheduler: 'euler', steps: 25 }), 0),
  withStep('euler linspace 25', sd({ scheduler: 'euler', steps: 25, spacing: 'linspace' }), 24),
  withStep('euler trailing 25', sd({ scheduler: 'euler', steps: 25, spacing: 'trailing' }), 12),
  withStep(
    'euler linspace 30 v_prediction',
    sd({ scheduler: 'euler', steps: 30, spacing: 'linspace', prediction_type: 'v_prediction' }),
    7,
  ),
  withStep(
    'euler linspace 7 sample',
    sd({ scheduler: 'euler', steps: 7, spacing: 'linspace', prediction_type: 'sample' }),
    3,
  ),
];

function runReference(cases: Case[]): Reference[] {
  const r = spawnSync(PYTHON, [REFERENCE], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message} (apt-get install python3-numpy)`);
  if (r.status !== 0) throw new Error(`schedule_reference.py exited ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Reference[];
}

const references = runReference(CASES);

for (const [i, c] of CASES.entries()) {
  const ref = references[i];
  test(`reference: ${c.name}`, () => {
    const s = computeSchedule(c.config);
    assert.equal(s.timesteps, ref.timesteps, 'timesteps');
    assertClose(s.alphas_cumprod, ref.alphas_cumprod, 'alphas_cumprod');
    assertClose(s.prev_alphas_cumprod, ref.prev_alphas_cumprod, 'prev_alphas_cumprod');
    assertClose(
      [s.final_alpha_cumprod, s.init_noise_sigma],
      [ref.final_alpha_cumprod, ref.init_noise_sigma],
      'final alpha, init sigma',
    );
    if (c.config.scheduler === 'euler') assertClose(s.sigmas!, ref.sigmas!, 'sigmas');
    else assert.is(s.sigmas, undefined);
    const table = alphasCumprod(
      trainBetas(c.config.beta_schedule, c.config.beta_start, c.config.beta_end, c.config.train_timesteps),
    );
    assert.equal(Array.from(table), ref.table, 'alphas_cumprod table, bit for bit');
    const st = c.step!;
    const [m, x] = [Float32Array.from(st.model_output), Float32Array.from(st.sample)];
    assertClose(schedulerStep(s, st.index, m, x), ref.prev_sample!, 'prev_sample');
    assertClose(scaleModelInput(s, st.index, x), ref.scaled!, 'scaled sample');
  });
}

// ─── the step, by formula and by property ──────────────────────────────────────────

test('DDIM epsilon step = sqrt(a_prev) (x - sqrt(1-a) e) / sqrt(a) + sqrt(1 - a_prev) e', () => {
  const s = computeSchedule(sd({ scheduler: 'ddim', steps: 8 }));
  const [x, e] = [data(64, 7), data(64, 8)];
  const out = schedulerStep(s, 2, e, x);
  const [a, ap] = [s.alphas_cumprod[2], s.prev_alphas_cumprod[2]];
  const expected = Array.from(
    x,
    (xi, i) => Math.sqrt(ap) * ((xi - Math.sqrt(1 - a) * e[i]) / Math.sqrt(a)) + Math.sqrt(1 - ap) * e[i],
  );
  assertClose(out, expected, 'ddim step', 1e-6);
  assert.is(out.length, 64);
});

/** x0 and eps fixed; a perfect model predicts them at every step, so each step lands back on the forward process. */
function perfectRun(s: Schedule): Float32Array {
  const [x0, eps] = [data(32, 11), data(32, 12)];
  const a0 = s.alphas_cumprod[0];
  const sigma0 = s.sigmas ? s.sigmas[0] : 0;
  let x: Float32Array =
    s.scheduler === 'ddim'
      ? x0.map((v, i) => Math.sqrt(a0) * v + Math.sqrt(1 - a0) * eps[i])
      : x0.map((v, i) => v + sigma0 * eps[i]);
  for (let k = 0; k < s.timesteps.length; k++) {
    const a = s.alphas_cumprod[k];
    let m: Float32Array = eps;
    if (s.prediction_type === 'sample') m = x0;
    else if (s.prediction_type === 'v_prediction') {
      // v = sqrt(a) eps - sqrt(1-a) x0 for the unscaled sample sqrt(a) x0 + sqrt(1-a) eps
      m = eps.map((e, i) => Math.sqrt(a) * e - Math.sqrt(1 - a) * x0[i]);
    }
    x = schedulerStep(s, k, m, x);
  }
  return x.map((v, i) => v - x0[i]);
}

test('a perfect model ends at x0: DDIM (alpha to one) and Euler, each prediction type', () => {
  for (const prediction_type of ['epsilon', 'v_prediction', 'sample'] as const) {
    for (const scheduler of ['ddim', 'euler'] as const) {
      const s = computeSchedule(
        sd({ scheduler, steps: 10, spacing: 'trailing', prediction_type, set_alpha_to_one: true }),
      );
      const err = Math.max(...perfectRun(s).map(Math.abs));
      assert.ok(err < 1e-5, `${scheduler} ${prediction_type}: max |x - x0| = ${err}`);
    }
  }
});

test('DDIM scale_model_input is the identity; Euler divides by sqrt(sigma^2 + 1)', () => {
  const x = data(8, 3);
  assert.equal(scaleModelInput(computeSchedule(sd({ scheduler: 'ddim', steps: 8 })), 0, x), x);
  const e = computeSchedule(sd({ scheduler: 'euler', steps: 8 }));
  assertClose(
    scaleModelInput(e, 1, x),
    Array.from(x, (v) => v / Math.sqrt(e.sigmas![1] ** 2 + 1)),
    'euler scale',
  );
});

// ─── configs diffusers cannot run correctly ────────────────────────────────────────

test('impossible configs throw with the reason', () => {
  assert.throws(
    () => computeSchedule(sd({ scheduler: 'ddim', steps: 0 })),
    /steps must be an integer in \[1, train_timesteps=1000\]/,
  );
  assert.throws(() => computeSchedule(sd({ scheduler: 'ddim', steps: 1001 })), /steps must be/);
  assert.throws(
    () => computeSchedule(sd({ scheduler: 'euler', steps: 8, beta_end: 0 })),
    /beta_end must lie in \(0, 1\)/,
  );
  // np.arange(1000, 0, -1000/61) has 62 elements, the last rounding to timestep -1.
  assert.throws(
    () => computeSchedule(sd({ scheduler: 'ddim', steps: 61, spacing: 'trailing' })),
    /62 diffusers timesteps from 999 to -1, and -1 is outside \[0, 999\]/,
  );
  assert.throws(() => computeSchedule(sd({ scheduler: 'euler', steps: 61, spacing: 'trailing' })), /-1 is outside/);
  // leading + steps_offset 1 with 1000 steps reaches timestep 1000.
  assert.throws(() => computeSchedule(sd({ scheduler: 'ddim', steps: 1000 })), /1000 is outside \[0, 999\]/);
  const s = computeSchedule(sd({ scheduler: 'ddim', steps: 8 }));
  assert.throws(() => schedulerStep(s, 8, data(4, 1), data(4, 2)), /step index 8 is outside \[0, 7\]/);
  assert.throws(() => schedulerStep(s, 0, data(3, 1), data(4, 2)), /model output has 3 values, sample has 4/);
});

test.run();

// The denoising schedule: which timesteps a pipeline runs and the noise levels at
// each, computed as diffusers (v0.27) computes them for DDIMScheduler and
// EulerDiscreteScheduler, so a compiled graph with baked step constants matches
// the diffusers pipeline it replaces.
//
//   config ─ trainBetas ─ alphasCumprod (float32 table, torch CPU semantics)
//          └ ddimTimesteps / eulerTimesteps (numpy semantics)
//          → per-step alphas (DDIM) or interpolated sigmas (Euler)
//
// Settings diffusers has that SD's configs leave off are fixed here: DDIM eta = 0,
// clip_sample = false, no thresholding; Euler without churn, linear interpolation,
// no Karras sigmas, final sigma 0, discrete timesteps.

import { alphasCumprod, trainBetas, trainSigmas } from './betas.ts';
import { interpIntegerGrid } from './numpy.ts';
import { ddimTimesteps, eulerTimesteps } from './timesteps.ts';

export { scaleModelInput, schedulerStep } from './step.ts';

export type SchedulerName = 'ddim' | 'euler';
export type Spacing = 'leading' | 'trailing' | 'linspace';
export type BetaSchedule = 'scaled_linear' | 'linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

export interface ScheduleConfig {
  scheduler: SchedulerName;
  steps: number;
  spacing: Spacing;
  train_timesteps: number;
  beta_schedule: BetaSchedule;
  beta_start: number;
  beta_end: number;
  prediction_type: PredictionType;
  /** Added to leading timesteps only (diffusers ignores it for trailing and linspace). */
  steps_offset: number;
  /** DDIM: alpha_bar after the last step is 1 (true) or alphas_cumprod[0] (false). */
  set_alpha_to_one: boolean;
}

export interface Schedule {
  scheduler: SchedulerName;
  steps: number;
  spacing: Spacing;
  prediction_type: PredictionType;
  /** Run order, as diffusers' scheduler.timesteps after set_timesteps. Euler's are float32 values. */
  timesteps: number[];
  /**
   * alpha_bar at each timestep (float32 table values). For Euler, whose timesteps can
   * be fractional, it is 1 / (1 + sigma^2) of the interpolated sigma, the alpha_bar
   * the Euler step actually uses (equal to the table at integer timesteps, to 1e-7).
   */
  alphas_cumprod: number[];
  /** DDIM: alpha_bar after the last step. Euler: 1 (sigma 0). */
  final_alpha_cumprod: number;
  /**
   * DDIM: alpha_bar at t - train_timesteps // steps (final_alpha_cumprod when negative).
   * That is the next timestep for leading and trailing spacing, but not for linspace,
   * where DDIM still steps by N // steps. Euler: 1 / (1 + sigma_next^2).
   */
  prev_alphas_cumprod: number[];
  /** Euler only: float32 sigmas in run order, steps + 1 of them, the last 0. */
  sigmas?: number[];
  /** 1 for DDIM. Euler: max sigma (linspace, trailing) or sqrt(max^2 + 1) (leading). */
  init_noise_sigma: number;
}

/**
 * SD 1.x's scheduler_config.json. It names no timestep_spacing, so diffusers uses each
 * class's default: 'leading' for DDIMScheduler, 'linspace' for EulerDiscreteScheduler.
 * SDXL's config names 'leading'. We default to 'leading'.
 */
export const DEFAULT_SCHEDULE: Omit<ScheduleConfig, 'scheduler' | 'steps'> = {
  spacing: 'leading',
  train_timesteps: 1000,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  beta_end: 0.012,
  prediction_type: 'epsilon',
  steps_offset: 1,
  set_alpha_to_one: false,
};

const f32 = Math.fround;

/**
 * Throws on configs no diffusers run could produce (a programming error: the recipe
 * schema rejects them first), including diffusers' own spacing edge cases that
 * would give a timestep outside the training range (see checkTimesteps).
 */
export function computeSchedule(cfg: ScheduleConfig): Schedule {
  checkConfig(cfg);
  const n = cfg.train_timesteps;
  const table = alphasCumprod(trainBetas(cfg.beta_schedule, cfg.beta_start, cfg.beta_end, n));
  const base = {
    scheduler: cfg.scheduler,
    steps: cfg.steps,
    spacing: cfg.spacing,
    prediction_type: cfg.prediction_type,
  };

  if (cfg.scheduler === 'ddim') {
    const timesteps = ddimTimesteps(cfg.spacing, cfg.steps, n, cfg.steps_offset);
    checkTimesteps(cfg, timesteps);
    const final = cfg.set_alpha_to_one ? 1 : table[0];
    const ratio = Math.floor(n / cfg.steps);
    return {
      ...base,
      timesteps,
      alphas_cumprod: timesteps.map((t) => table[t]),
      final_alpha_cumprod: final,
      prev_alphas_cumprod: timesteps.map((t) => (t - ratio >= 0 ? table[t - ratio] : final)),
      init_noise_sigma: 1,
    };
  }

  const timesteps = eulerTimesteps(cfg.spacing, cfg.steps, n, cfg.steps_offset);
  checkTimesteps(cfg, timesteps);
  // np.interp over the float32 sigma table in float64, then .astype(np.float32); a final 0.
  const sigmaTable = trainSigmas(table);
  const sigmas = [...timesteps.map((t) => f32(interpIntegerGrid(t, sigmaTable))), 0];
  const alphaBar = (s: number) => 1 / (1 + s * s);
  const maxSigma = Math.max(...sigmas);
  return {
    ...base,
    timesteps,
    alphas_cumprod: sigmas.slice(0, -1).map(alphaBar),
    final_alpha_cumprod: 1,
    prev_alphas_cumprod: sigmas.slice(1).map(alphaBar),
    sigmas,
    // diffusers' init_noise_sigma property, in float32 torch ops on sigmas.max().
    init_noise_sigma: cfg.spacing === 'leading' ? f32(Math.sqrt(f32(f32(maxSigma * maxSigma) + 1))) : maxSigma,
  };
}

function checkConfig(cfg: ScheduleConfig): void {
  const n = cfg.train_timesteps;
  if (!Number.isInteger(n) || n < 1) throw new Error(`schedule: train_timesteps must be a positive integer, got ${n}`);
  if (!Number.isInteger(cfg.steps) || cfg.steps < 1 || cfg.steps > n) {
    throw new Error(`schedule: steps must be an integer in [1, train_timesteps=${n}], got ${cfg.steps}`);
  }
  if (!Number.isInteger(cfg.steps_offset) || cfg.steps_offset < 0) {
    throw new Error(`schedule: steps_offset must be a non-negative integer, got ${cfg.steps_offset}`);
  }
  if (cfg.beta_schedule !== 'squaredcos_cap_v2') {
    for (const [k, v] of [
      ['beta_start', cfg.beta_start],
      ['beta_end', cfg.beta_end],
    ] as const) {
      if (!(v > 0 && v < 1)) throw new Error(`schedule: ${k} must lie in (0, 1), got ${v}`);
    }
  }
}

/**
 * diffusers can step outside [0, N - 1] without complaint: leading spacing plus
 * steps_offset reaches N when steps = N, and trailing spacing yields steps + 1
 * timesteps ending at -1 for some step counts (61, 103, 121, … of 1000), because
 * np.arange(1000, 0, -1000/61) has 62 elements. DDIM would then index
 * alphas_cumprod[-1] (the last entry, in torch); Euler would clamp its sigma. We refuse.
 */
function checkTimesteps(cfg: ScheduleConfig, timesteps: number[]): void {
  const n = cfg.train_timesteps;
  const bad = timesteps.find((t) => !(t >= 0 && t <= n - 1));
  if (timesteps.length !== cfg.steps || bad !== undefined) {
    throw new Error(
      `schedule: ${cfg.spacing} spacing with ${cfg.steps} steps gives ${timesteps.length} diffusers timesteps ` +
        `from ${timesteps[0]} to ${timesteps[timesteps.length - 1]}` +
        (bad !== undefined ? `, and ${bad} is outside [0, ${n - 1}]` : '') +
        '; choose another step count or spacing',
    );
  }
}

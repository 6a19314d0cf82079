// One denoising step on the host, in float64 from the schedule's float32 constants:
// the reference the folded-step graphs and the TS pipeline are checked against.
// diffusers evaluates the same formulas in float32 torch ops, so it differs from
// this only by float32 rounding of the intermediate terms.

import type { Schedule } from './index.ts';

/**
 * DDIM (eta = 0, no clipping: SD's clip_sample is false) or Euler (no churn) step
 * from timesteps[stepIndex] to the next, per prediction_type:
 *
 *   DDIM   x0, eps from the model output, then  x' = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps
 *          epsilon: x0 = (x - sqrt(1-a) e) / sqrt(a)
 *          v:       x0 = sqrt(a) x - sqrt(1-a) v,    eps = sqrt(a) v + sqrt(1-a) x
 *          sample:  x0 = m,                          eps = (x - sqrt(a) x0) / sqrt(1-a)
 *   Euler  x0 from the model output, then  x' = x + (x - x0) / s * (s_next - s)
 *          epsilon: x0 = x - s e
 *          v:       x0 = v * (-s / sqrt(s^2+1)) + x / (s^2+1)
 *          sample:  x0 = m
 */
export function schedulerStep(
  s: Schedule,
  stepIndex: number,
  modelOutput: Float32Array,
  sample: Float32Array,
): Float32Array {
  checkStep(s, stepIndex, sample, modelOutput);
  const out = new Float32Array(sample.length);
  if (s.scheduler === 'ddim') {
    const a = s.alphas_cumprod[stepIndex];
    const aPrev = s.prev_alphas_cumprod[stepIndex];
    const [sa, sb] = [Math.sqrt(a), Math.sqrt(1 - a)];
    const [saPrev, sbPrev] = [Math.sqrt(aPrev), Math.sqrt(1 - aPrev)];
    for (let i = 0; i < out.length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      let x0: number;
      let eps: number;
      if (s.prediction_type === 'epsilon') [x0, eps] = [(x - sb * m) / sa, m];
      else if (s.prediction_type === 'v_prediction') [x0, eps] = [sa * x - sb * m, sa * m + sb * x];
      else [x0, eps] = [m, (x - sa * m) / sb];
      out[i] = saPrev * x0 + sbPrev * eps;
    }
    return out;
  }
  const sigmas = eulerSigmas(s);
  const sigma = sigmas[stepIndex];
  const dt = sigmas[stepIndex + 1] - sigma;
  const c = sigma * sigma + 1;
  for (let i = 0; i < out.length; i++) {
    const x = sample[i];
    const m = modelOutput[i];
    let x0: number;
    if (s.prediction_type === 'epsilon') x0 = x - sigma * m;
    else if (s.prediction_type === 'v_prediction') x0 = m * (-sigma / Math.sqrt(c)) + x / c;
    else x0 = m;
    out[i] = x + ((x - x0) / sigma) * dt;
  }
  return out;
}

/** Euler's scale_model_input, sample / sqrt(sigma^2 + 1); DDIM's is the identity (a copy). */
export function scaleModelInput(s: Schedule, stepIndex: number, sample: Float32Array): Float32Array {
  checkStep(s, stepIndex, sample);
  if (s.scheduler === 'ddim') return sample.slice();
  const sigma = eulerSigmas(s)[stepIndex];
  const scale = Math.sqrt(sigma * sigma + 1);
  return sample.map((x) => x / scale);
}

function eulerSigmas(s: Schedule): number[] {
  if (!s.sigmas) throw new Error('schedule: an euler schedule without sigmas (not made by computeSchedule?)');
  return s.sigmas;
}

function checkStep(s: Schedule, stepIndex: number, sample: Float32Array, modelOutput?: Float32Array): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= s.timesteps.length) {
    throw new Error(`schedule: step index ${stepIndex} is outside [0, ${s.timesteps.length - 1}]`);
  }
  if (modelOutput && modelOutput.length !== sample.length) {
    throw new Error(`schedule: model output has ${modelOutput.length} values, sample has ${sample.length}`);
  }
}

// The DDIM step (eta = 0) as per-step coefficient tables, computed on the host
// in float64 so the folded graph does two multiplies and an add in float32:
//
//   epsilon:       x0 = (x − √(1−a)·ε)/√a
//                  prev = √a'·x0 + √(1−a')·ε
//                       = √(a'/a)·x  +  (√(1−a') − √(a'(1−a)/a))·ε
//   v_prediction:  x0 = √a·x − √(1−a)·v,   ε = √a·v + √(1−a)·x
//                  prev = √a'·x0 + √(1−a')·ε
//                       = (√(a'a) + √((1−a')(1−a)))·x  +  (√((1−a')a) − √(a'(1−a)))·v
//
// with a = alphas_cumprod[i] and a' = prev_alphas_cumprod[i] for step i. So
// prev_sample = sample_coef[i]·x + model_coef[i]·model_output. The arrays are
// per inference step (timesteps[i] is the UNet timestep of step i), as the
// schedule module produces them; nothing here reads the training schedule.

export interface DdimStep {
  kind: 'ddim';
  prediction_type: 'epsilon' | 'v_prediction';
  /** ᾱ at each step's timestep. */
  alphas_cumprod: number[];
  /** ᾱ at the step after it (final_alpha_cumprod for the last step). */
  prev_alphas_cumprod: number[];
  /** The UNet timestep of each step. */
  timesteps: number[];
}

export interface DdimTables {
  sampleCoef: Float32Array;
  modelCoef: Float32Array;
}

/** What is wrong with a schedule, or undefined when it can be folded. */
export function checkDdim(s: DdimStep, integerTimesteps: boolean): string | undefined {
  if (s.kind !== 'ddim') return `scheduler kind '${String(s.kind)}' is not supported (only 'ddim')`;
  if (s.prediction_type !== 'epsilon' && s.prediction_type !== 'v_prediction') {
    return `prediction_type '${String(s.prediction_type)}' is not 'epsilon' or 'v_prediction'`;
  }
  const n = s.timesteps.length;
  if (n === 0) return 'the schedule has no timesteps';
  if (s.alphas_cumprod.length !== n || s.prev_alphas_cumprod.length !== n) {
    return `alphas_cumprod (${s.alphas_cumprod.length}) and prev_alphas_cumprod (${s.prev_alphas_cumprod.length}) need one entry per timestep (${n})`;
  }
  for (const [name, xs] of [
    ['alphas_cumprod', s.alphas_cumprod],
    ['prev_alphas_cumprod', s.prev_alphas_cumprod],
  ] as const) {
    const i = xs.findIndex((a) => !(a > 0 && a <= 1));
    if (i >= 0) return `${name}[${i}] = ${xs[i]} is outside (0, 1]`;
  }
  const bad = s.timesteps.findIndex(
    (t) => !Number.isFinite(t) || (integerTimesteps && (!Number.isInteger(t) || t < 0)),
  );
  if (bad >= 0)
    return `timesteps[${bad}] = ${s.timesteps[bad]} is not a${integerTimesteps ? ' non-negative integer' : ' finite number'}`;
  return undefined;
}

export function ddimTables(s: DdimStep): DdimTables {
  const n = s.timesteps.length;
  const sampleCoef = new Float32Array(n);
  const modelCoef = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = s.alphas_cumprod[i];
    const p = s.prev_alphas_cumprod[i];
    if (s.prediction_type === 'epsilon') {
      sampleCoef[i] = Math.sqrt(p / a);
      modelCoef[i] = Math.sqrt(1 - p) - Math.sqrt((p * (1 - a)) / a);
    } else {
      sampleCoef[i] = Math.sqrt(p * a) + Math.sqrt((1 - p) * (1 - a));
      modelCoef[i] = Math.sqrt((1 - p) * a) - Math.sqrt(p * (1 - a));
    }
  }
  return { sampleCoef, modelCoef };
}

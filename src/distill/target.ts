// One training sample's teacher target, in float64 from float32 inputs:
//
//   draws (sample-seed.ts, in this order): student step i, w ~ U[range], ε (Box–Muller)
//   z_t  = α·x + σ·ε                                    ε rounded to float32 first, as stored
//   z_t′ = DDIM(z_t, teacher(z_t, t), ᾱ → ᾱ′)
//   z_t″ = DDIM(z_t′, teacher(z_t′, t′), ᾱ′ → ᾱ″)
//   x̂    = a·z_t″ + b·z_t                               (the plan's coefficients)
//
// The teacher sees float32 inputs (what its graph takes); the DDIM arithmetic
// and the target stay in float64 until the target is stored: at t = 999 the
// target divides by about 0.068.
import { boxMuller, uniform53 } from '../random.ts';
import type { PlanStage, PlanStep } from './plan-schema.ts';
import { sampleRng } from './sample-seed.ts';
import type { UnetCall } from './unet-call.ts';

export interface Draws {
  step: PlanStep;
  w: number;
  eps: Float32Array;
}

export function draws(
  seed: number,
  shard: number,
  index: number,
  stage: PlanStage,
  range: readonly [number, number],
  size: number,
): Draws {
  const rng = sampleRng(seed, shard, index);
  const u = () => uniform53(rng);
  const step = stage.steps[Math.min(stage.steps.length - 1, Math.floor(u() * stage.steps.length))]!;
  const w = range[0] + (range[1] - range[0]) * u();
  const eps = new Float32Array(size);
  for (let k = 0; k < size; k += 2) {
    const [a, b] = boxMuller(u);
    eps[k] = a;
    if (k + 1 < size) eps[k + 1] = b;
  }
  return { step, w, eps };
}

/** z_t = α·x + σ·ε, in float64. */
export function noised(x: Float32Array, eps: Float32Array, step: PlanStep): Float64Array {
  const [a, s] = [step.alpha[0], step.sigma[0]];
  return Float64Array.from(x, (v, k) => a * v + s * eps[k]!);
}

/** x̂₀ and ε̂ from one value of a model output at noise level (a, s), read as `kind`. */
export function xAndEps(
  z: number,
  out: number,
  a: number,
  s: number,
  kind: 'epsilon' | 'v_prediction',
): [number, number] {
  return kind === 'epsilon' ? [(z - s * out) / a, out] : [a * z - s * out, a * out + s * z];
}

/** A DDIM step (η = 0) from noise level (a, s) to (an, sn), the model output read as `kind`. */
export function ddim64(
  z: Float64Array,
  out: Float32Array,
  a: number,
  s: number,
  an: number,
  sn: number,
  kind: 'epsilon' | 'v_prediction',
): Float64Array {
  const next = new Float64Array(z.length);
  for (let k = 0; k < z.length; k++) {
    const [x0, e] = xAndEps(z[k]!, out[k]!, a, s, kind);
    next[k] = an * x0 + sn * e;
  }
  return next;
}

export interface Target {
  /** x̂, stored float32. */
  x: Float32Array;
  /** The teacher's two outputs (its prediction type), for checking the arithmetic from outside. */
  outputs: [Float32Array, Float32Array];
}

/**
 * The teacher's two sub-steps from each z_t and the targets they give; guided
 * by each sample's w, or conditional when `w` is undefined. The samples go
 * through the teacher together (as many as its call takes at once).
 */
export async function teacherTargets(
  call: UnetCall,
  z: readonly Float64Array[],
  steps: readonly PlanStep[],
  kind: 'epsilon' | 'v_prediction',
  cond: readonly Float32Array[],
  uncond: Float32Array | undefined,
  w: readonly number[] | undefined,
): Promise<Target[]> {
  const o1 = await call(
    z.map((zk, k) => ({ z: Float32Array.from(zk), t: steps[k]!.t, cond: cond[k]! })),
    uncond,
    w,
  );
  const z1 = z.map((zk, k) => {
    const { alpha: a, sigma: s } = steps[k]!;
    return ddim64(zk, o1[k]!, a[0], s[0], a[1], s[1], kind);
  });
  const o2 = await call(
    z1.map((zk, k) => ({ z: Float32Array.from(zk), t: steps[k]!.t1, cond: cond[k]! })),
    uncond,
    w,
  );
  return z.map((zk, k) => {
    const { alpha: a, sigma: s, target } = steps[k]!;
    const z2 = ddim64(z1[k]!, o2[k]!, a[1], s[1], a[2], s[2], kind);
    return { x: Float32Array.from(z2, (v, j) => target.z_t2 * v + target.z_t * zk[j]!), outputs: [o1[k]!, o2[k]!] };
  });
}

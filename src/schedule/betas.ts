// The training noise table (betas → alphas_cumprod) exactly as diffusers builds it:
// with torch on the CPU in float32. Every float32 operation is written out with
// Math.fround, because a float64 table differs from diffusers' by up to ~1e-6
// relative, and the per-step constants we bake into graphs must match the
// reference pipeline bit for bit where possible.

import type { BetaSchedule } from './index.ts';

const f32 = Math.fround;

/**
 * torch.linspace(start, end, n, dtype=torch.float32) on the CPU (torch >= 2.0).
 *
 * The kernel (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp) converts start and
 * end to float, takes step = (end - start) / (n - 1) in float, and fills the first
 * half from the start and the second half from the end, so both endpoints are exact:
 *   i <  n/2:  start + step * i
 *   i >= n/2:  end - step * (n - 1 - i)
 * GCC contracts each of those into one fused multiply-add in the AVX2/AVX512 builds
 * that x86 machines dispatch to (and clang does on arm64), so each element is
 * rounded to float32 once, not twice. Evidence: SD's betas from Debian's torch 1.13
 * (AVX2 build) equal an FMA emulation of that version's kernel bit for bit, while the
 * unfused emulation misses 128 of 1000. Unfused, 145 of SD's 1000 betas would move by
 * 1 ulp and alphas_cumprod by <= 1.2e-7 relative. (torch 1.x vectorised this loop,
 * which changes other elements; diffusers 0.27 runs on torch 2.x.)
 */
export function torchLinspaceF32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const s = f32(start);
  const e = f32(end);
  if (n === 1) {
    out[0] = s; // torch special-cases steps == 1 (fill with start)
    return out;
  }
  const step = f32(f32(e - s) / (n - 1));
  const halfway = Math.floor(n / 2);
  for (let i = 0; i < n; i++) {
    out[i] = i < halfway ? fmaF32(step, i, s) : fmaF32(-step, n - 1 - i, e);
  }
  return out;
}

/**
 * float32(a * b + c) rounded once, for float32 a, c and a small integer b (so a * b
 * is exact in float64). The float64 sum can be inexact; rounding it to odd first
 * (keep the inexact result's last bit set) makes the final rounding to float32
 * correct, since float64 has more than 2 * 24 + 2 bits.
 */
function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const r = p + c;
  const bv = r - p;
  const err = p - (r - bv) + (c - bv); // TwoSum: p + c = r + err exactly
  if (err === 0) return f32(r);
  BITS.setFloat64(0, r);
  const bits = BITS.getBigUint64(0);
  if ((bits & 1n) === 1n) return f32(r); // already odd
  // Step one ulp toward the exact value: away from zero when err has r's sign.
  BITS.setBigUint64(0, err > 0 === r > 0 ? bits + 1n : bits - 1n);
  return f32(BITS.getFloat64(0));
}
const BITS = new DataView(new ArrayBuffer(8));

/** Betas as float32, one per training timestep. */
export function trainBetas(schedule: BetaSchedule, betaStart: number, betaEnd: number, n: number): Float32Array {
  switch (schedule) {
    case 'linear':
      return torchLinspaceF32(betaStart, betaEnd, n);
    case 'scaled_linear': {
      // `torch.linspace(beta_start**0.5, beta_end**0.5, n, dtype=float32) ** 2`: the square
      // roots are taken in Python (float64), the square is a float32 multiply.
      const roots = torchLinspaceF32(Math.sqrt(betaStart), Math.sqrt(betaEnd), n);
      return roots.map((r) => f32(r * r));
    }
    case 'squaredcos_cap_v2':
      return cosineBetas(n);
  }
}

/**
 * diffusers' betas_for_alpha_bar (Glide's cosine schedule): computed in Python floats,
 * then `torch.tensor(betas, dtype=torch.float32)`. beta_start/beta_end are ignored,
 * as in diffusers.
 */
function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2) ** 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  }
  return out;
}

/**
 * `torch.cumprod(1.0 - betas, dim=0)` on the CPU. `1.0 - betas` is a float32 op; the
 * CPU cumprod kernel accumulates in at::acc_type<float, is_cuda = false>, which is
 * double, and rounds each running product to float32 when it stores it. (A float32
 * accumulator, as on CUDA, would drift up to ~1e-6 relative.)
 */
export function alphasCumprod(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1; // float64, like torch's accumulator
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]);
    out[i] = acc; // Float32Array stores with round-to-nearest, as (float)acc does
  }
  return out;
}

/**
 * Euler's sigma table `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5`: torch float32
 * ops on the float32 table (pow 0.5 is sqrt, which is correctly rounded), in
 * training-timestep order (not reversed).
 */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

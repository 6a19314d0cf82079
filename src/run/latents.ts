// The host-side arithmetic of a Stable Diffusion pipeline, outside the models:
// seeded initial noise, guidance, and latents → VAE input → RGB pixels. All in
// float64 with float32 results, as Float32Array stores them.
//
// The noise is src/random.ts's: Mulberry32 draws, two to a 53-bit uniform, and
// Box–Muller's pair z0, z1 used in that order. It is not torch's generator:
// the same seed gives other noise than diffusers.
//
// It imports only src/random.ts: the generated pipeline.ts copies both
// verbatim, that one first.
import { boxMuller, mulberry32, uniform53 } from '../random.ts';

/** SD's VAE scaling_factor (SD 1.x and 2.x): latents are divided by it before decoding. */
export const VAE_SCALING_FACTOR = 0.18215;

/** `n` standard normal samples for a seed (an integer in [0, 2^32)). */
export function randn(seed: number, n: number): Float32Array {
  const next = mulberry32(seed);
  const uniform = () => uniform53(next);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const [z0, z1] = boxMuller(uniform);
    out[i] = z0;
    if (i + 1 < n) out[i + 1] = z1;
  }
  return out;
}

/** The first latents: seeded noise × the scheduler's init_noise_sigma. */
export function initialLatents(seed: number, n: number, initNoiseSigma: number): Float32Array {
  return randn(seed, n).map((x) => x * initNoiseSigma);
}

/** Classifier-free guidance on the host: uncond + scale·(cond − uncond). */
export function guide(uncond: Float32Array, cond: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = uncond[i] + scale * (cond[i] - uncond[i]);
  return out;
}

/** The VAE decoder's input: latents / scaling_factor. */
export function vaeInput(latents: Float32Array): Float32Array {
  return latents.map((x) => x / VAE_SCALING_FACTOR);
}

export interface RgbImage {
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes a pixel. */
  pixels: Uint8Array;
}

/** The VAE's [1, 3, H, W] output in [-1, 1] → 8-bit RGB: round(clamp(x/2 + 0.5, 0, 1)·255), as diffusers does. */
export function toRgb(decoded: Float32Array, dims: readonly number[]): RgbImage {
  const [, channels, height, width] = dims;
  if (dims.length !== 4 || channels !== 3 || decoded.length !== 3 * height * width) {
    throw new Error(`the VAE decoder's output is [${dims.join(', ')}]; an image needs [1, 3, height, width]`);
  }
  const plane = height * width;
  const pixels = new Uint8Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) {
      const v = Math.min(1, Math.max(0, decoded[c * plane + p] / 2 + 0.5));
      pixels[3 * p + c] = Math.round(v * 255);
    }
  }
  return { width, height, pixels };
}

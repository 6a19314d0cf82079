// What the evolve tests share: a recipe over the narrow SD-topology fixture
// on the Galaxy S23 at 128 px, evolve's options for it, and a run's three
// output files as text (compared byte for byte).
import fs from 'node:fs';
import path from 'node:path';
import type { EvolveOptions, EvolveResult } from '../../src/evolve/run.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const NARROW = path.join(ROOT, 'test/fixtures/unet-sd15shape-narrow/model.onnx');
export const TINY_VAE = path.join(ROOT, 'test/fixtures/vae-decoder-tiny/model.onnx');
export const DEVICE = 'galaxy-s23';

/** `dir/narrow.yaml`: DDIM at `steps` (2), guidance `scale` (1: none), the S23 at 128 px. */
export function narrowRecipe(
  dir: string,
  o: { textEncoder: string; unet?: string; scale?: number; steps?: number },
): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'narrow.yaml');
  fs.writeFileSync(
    file,
    [
      'model:',
      `  unet: ${o.unet ?? NARROW}`,
      `  vae_decoder: ${TINY_VAE}`,
      `  text_encoder: ${o.textEncoder}`,
      `schedule: {scheduler: ddim, steps: ${o.steps ?? 2}}`,
      `guidance: {scale: ${o.scale ?? 1}}`,
      'targets:',
      // The tiny decoder upsamples 2×: a 16×16 latent.
      `  - {device: ${DEVICE}, resolution: 32}`,
      '',
    ].join('\n'),
  );
  return file;
}

/** Two samples, seed 0, the latent metric, three removals a round; cache and output under `dir`. */
export const evolveOptions = (
  budget: number,
  dir: string,
  extra: Partial<Omit<EvolveOptions, 'cache' | 'out'>> = {},
): EvolveOptions & { cache: string; out: string } => ({
  device: DEVICE,
  budget,
  objective: 'image',
  samples: 2,
  seed: 0,
  metric: 'latent',
  group: 3,
  cache: path.join(dir, 'cache'),
  out: path.join(dir, 'out', 'narrow-evolved.yaml'),
  ...extra,
});

/** EVOLVED.yaml, its log and report, each named, as text. */
export const outputs = (r: EvolveResult) =>
  [r.recipe, r.log, r.report].map((f) => `${path.basename(f)}\n${fs.readFileSync(f, 'utf8')}`);

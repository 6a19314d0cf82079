// A tiny distillation setup for the distill tests: a teacher artifact
// compiled from the tiny fixtures (no blocks removed), its plan, and input
// shards of random latents and token ids as a user's data pipeline writes them.
import fs from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { compile } from '../../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../../src/diagnostics.ts';
import { encodeNpy, float32Npy } from '../../src/distill/npy.ts';
import { writeShard } from '../../src/distill/shard.ts';
import { mulberry32, uniform53 } from '../../src/random.ts';
import { prepareRun, sampleShape } from '../../src/run/run-artifact.ts';
import { tinyRecipe } from './ci.ts';
import { cli } from './cli.ts';

export const PROMPTS = ['a red bicycle', 'a lighthouse at dusk', 'two cats'];
/** The image size a generic teacher is run at (its dims are dynamic; 512 would make the tiny UNet's attention huge). */
export const GENERIC_SIZE = 64;

export interface DistillSetup {
  recipe: string;
  teacher: string;
  plan: string;
  /** The UNet's sample shape without the batch: [C, h, w]. */
  shape: number[];
  /** `<work>/data/latents-{0..K-1}.tar` */
  data: string;
}

/**
 * Builds everything under `work`; `shards[s]` samples in input shard s. A
 * `generic` teacher is compiled without targets and with guidance.fold: none:
 * the exported UNet with a dynamic batch, as `distill targets --batch` needs.
 */
export async function distillSetup(
  work: string,
  shards: number[],
  o: { generic?: boolean } = {},
): Promise<DistillSetup> {
  const log = new DiagnosticLog();
  const recipe = tinyRecipe(work, 'teacher', { remove: [] });
  if (o.generic) {
    const text = fs.readFileSync(recipe, 'utf8');
    fs.writeFileSync(recipe, text.slice(0, text.indexOf('targets:')) + 'guidance: {fold: none}\n');
  }
  const [a] = (await compile(recipe, { out: path.join(work, 'out') }, log)) ?? [];
  assert.ok(a, log.items.map(formatDiagnostic).join('\n'));
  const r = await cli(['distill', 'plan', recipe, '--out', path.join(work, 'plan'), '--seed', '3']);
  assert.is(r.code, 0, r.stderr);
  const p = prepareRun(a.dir, o.generic ? GENERIC_SIZE : undefined, log)!;
  const shape = sampleShape(p);
  const next = mulberry32(11);
  const size = shape.reduce((x, y) => x * y, 1);
  for (const [s, n] of shards.entries()) {
    const samples = Array.from({ length: n }, (_, k) => {
      const ids = BigInt64Array.from(p.tok.tokenizer.encode(PROMPTS[(s + k) % 3]!), BigInt);
      const latent = Float32Array.from({ length: size }, () => uniform53(next) * 2 - 1);
      return {
        key: `s${s}k${k}`,
        fields: {
          'latent.npy': encodeNpy(float32Npy(latent, shape)),
          'ids.npy': encodeNpy({ dtype: 'int64', shape: [ids.length], data: new Uint8Array(ids.buffer) }),
        },
      };
    });
    await writeShard(path.join(work, 'data', `latents-${s}.tar`), samples);
  }
  return {
    recipe,
    teacher: a.dir,
    plan: path.join(work, 'plan', 'plan.json'),
    shape,
    data: path.join(work, 'data', `latents-{0..${shards.length - 1}}.tar`),
  };
}

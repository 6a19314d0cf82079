// `distill vae-pairs`: what SnapFusion trains its 50%-channel decoder on (data
// distillation): the teacher pipeline's final latents for prompts, and with
// --images the teacher decoder's images of them, as webdataset shards.
//
//   pairs-000000.tar   000000.latent.npy  float32 [C, h, w], the UNet's final latent (the decoder gets it / latent_scale)
//                      000000.json        prompt, seed, guidance, steps
//                      000000.png         with --images: the teacher decoder's image
//   index.json         the teacher, the sampling, the guidance used, each shard's count and sha256
//
// Sample k uses prompt k mod P and draws from sampleRng(seed, shard, k) its
// noise seed and, with a guidance range, then its w: exactly what
// `pocketdiff run --seed <its seed> --guidance-scale <its w>` computes.
import path from 'node:path';
import { hashFile } from '../artifact/hash.ts';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { prepareRun, sampleLatents, sampleShape, type SampleRequest } from '../run/run-artifact.ts';
import { VAE_SCALING_FACTOR } from '../run/latents.ts';
import { encodePng } from '../run/png.ts';
import { writeTogether } from '../scratch.ts';
import { encodeNpy, float32Npy } from './npy.ts';
import { uniform53 } from '../random.ts';
import { sampleRng } from './sample-seed.ts';
import { writeShard } from './shard.ts';

export interface VaePairsOptions {
  prompts: string[];
  count: number;
  /** The teacher's steps: must be the artifact's (its schedule is compiled in). */
  steps?: number;
  /** One scale for every pair, or a range each pair's w is drawn from. */
  guidance?: number | [number, number];
  images: boolean;
  seed: number;
  perShard: number;
  out: string;
  onShard?: (done: number, shards: number) => void;
}

export interface VaePairsIndex {
  format: 'pocketdiff-vae-pairs/1';
  teacher: { artifact: string; manifest_sha256: string; recipe_sha256: string };
  steps: number;
  guidance: { scale: number } | { range: [number, number]; distribution: 'uniform' };
  latent_scale: number;
  seed: number;
  count: number;
  per_shard: number;
  fields: Record<string, string>;
  shards: { file: string; count: number; bytes: number; sha256: string }[];
}

export async function writeVaePairs(
  teacher: string,
  o: VaePairsOptions,
  log: DiagnosticLog,
): Promise<VaePairsIndex | undefined> {
  const p = prepareRun(teacher, undefined, log);
  if (!p) return undefined;
  const m = p.a.manifest;
  if (o.steps !== undefined && o.steps !== m.schedule.steps) {
    log.error(
      Code.DistillTeacherSteps,
      `the teacher artifact samples ${m.schedule.steps} steps (its schedule is compiled in); compile its recipe with schedule.steps: ${o.steps} for ${o.steps}`,
      { file: path.join(p.a.dir, 'manifest.json') },
    );
    return undefined;
  }
  if (!o.prompts.length) {
    log.error(Code.EvolveNoPrompts, 'no prompts to sample');
    return undefined;
  }
  const guidance = o.guidance ?? m.guidance.scale;
  const shards = Math.ceil(o.count / o.perShard);
  const shape = sampleShape(p);
  const index: VaePairsIndex = {
    format: 'pocketdiff-vae-pairs/1',
    teacher: {
      artifact: p.a.dir,
      manifest_sha256: hashFile(path.join(p.a.dir, 'manifest.json')).sha256,
      recipe_sha256: m.recipe.hash,
    },
    steps: m.schedule.steps,
    guidance: typeof guidance === 'number' ? { scale: guidance } : { range: guidance, distribution: 'uniform' },
    latent_scale: VAE_SCALING_FACTOR,
    seed: o.seed,
    count: o.count,
    per_shard: o.perShard,
    fields: {
      'latent.npy': "float32 [C, h, w]: the teacher UNet's final latent (the decoder's input × latent_scale)",
      json: 'prompt, seed (the noise seed `pocketdiff run --seed` takes), guidance, steps, index',
      ...(o.images ? { png: "the teacher decoder's image of the latent, RGB" } : {}),
    },
    shards: [],
  };
  for (let s = 0; s < shards; s++) {
    const first = s * o.perShard;
    const requests: (SampleRequest & { index: number })[] = [];
    for (let k = first; k < Math.min(o.count, first + o.perShard); k++) {
      const rng = sampleRng(o.seed, s, k);
      const seed = rng();
      const w = typeof guidance === 'number' ? guidance : guidance[0] + (guidance[1] - guidance[0]) * uniform53(rng);
      requests.push({ index: k, prompt: o.prompts[k % o.prompts.length]!, seed, guidanceScale: w });
    }
    const { samples } = await sampleLatents(p, requests, { images: o.images });
    const file = path.join(o.out, `pairs-${String(s).padStart(6, '0')}.tar`);
    let written: { sha256: string; bytes: number };
    try {
      written = await writeShard(
        file,
        samples.map((x, j) => {
          const r = requests[j]!;
          const meta = {
            index: r.index,
            prompt: r.prompt,
            seed: r.seed,
            guidance: r.guidanceScale,
            steps: m.schedule.steps,
          };
          return {
            key: String(r.index).padStart(6, '0'),
            fields: {
              'latent.npy': encodeNpy(float32Npy(x.latents, shape)),
              json: Buffer.from(JSON.stringify(meta)),
              ...(x.image ? { png: encodePng(x.image.width, x.image.height, x.image.pixels) } : {}),
            },
          };
        }),
      );
    } catch (e) {
      log.error(Code.WriteFailed, `cannot write ${file}: ${(e as Error).message}`, { file });
      return undefined;
    }
    index.shards.push({ file: path.basename(file), count: requests.length, ...written });
    o.onShard?.(s + 1, shards);
  }
  const failed = writeTogether([[path.join(o.out, 'index.json'), JSON.stringify(index, null, 2) + '\n']]);
  if (failed) {
    log.error(Code.WriteFailed, `cannot write index.json: ${failed}`, { file: o.out });
    return undefined;
  }
  return index;
}

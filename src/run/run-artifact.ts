// `pocketdiff run`: an artifact folder and a prompt in, an image out, with
// onnxruntime-node on this machine. The loop follows the manifest exactly:
//
//   prompt ─ tokenizer ─ text encoder ─ cond  (and "" ─ … ─ uncond, unless baked)
//   seed ─ randn × init_noise_sigma ─ latents
//   each step i:  x_in = scale_model_input(latents)            (Euler; DDIM: identity)
//                 fold 'batch':  UNet(x_in, t_i | i, cond, uncond, s) → noise_pred [, prev_sample]
//                 fold 'none':   UNet(x_in, t_i, uncond), UNet(x_in, t_i, cond) → uncond + s·(cond − uncond)
//                 latents = prev_sample (folded step) or scheduler_step(i, noise_pred, latents)
//   latents / 0.18215 ─ VAE decoder ─ clamp(x/2 + 0.5)·255 ─ RGB
//
// One session is open at a time, so peak memory is the largest model's.
// Timesteps go to the UNet in its input's dtype; an integer input gets Euler's
// fractional timesteps (linspace spacing) rounded, where diffusers would pass
// the float to a torch UNet.
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Manifest, ModelEntry } from '../artifact/manifest.ts';
import { targetDims } from '../ir/bind.ts';
import { SD_VAE_SCALE } from '../blocks/vae-scale.ts';
import { floats, tensor, withSession, type Data, type Feeds } from '../runtime/ort.ts';
import { scaleModelInput, schedulerStep, type Schedule } from '../schedule/index.ts';
import { concreteShape, hostSchedule, readArtifact, type Artifact } from './artifact.ts';
import { guide, initialLatents, toRgb, vaeInput, type RgbImage } from './latents.ts';
import { loadTokenizer, type LoadedTokenizer } from './tokenizer-files.ts';

export interface RunOptions {
  prompt: string;
  /** An integer in [0, 2^32). */
  seed: number;
  /** Overrides the manifest's guidance scale. */
  guidanceScale?: number;
  /** Image size in pixels for artifacts with dynamic dims (default 512); a target's artifact has its own. */
  size?: number;
  /** One line per stage (tokenizer, text encoder, VAE). */
  onInfo?: (line: string) => void;
  onStep?: (step: number, steps: number, timestep: number, seconds: number) => void;
}

export interface RunResult extends RgbImage {
  /** The final latents (before the VAE scaling). */
  latents: Float32Array;
  /** Token ids of the prompt as the text encoder saw them. */
  tokens: number[];
  generatedVocabulary: boolean;
  seconds: { text_encoder: number; unet: number; vae_decoder: number; total: number };
  /** The artifact that ran, and the image size its latents were made for (the decoder may upsample by other than 8). */
  artifact: { dir: string; manifest: Manifest };
  size: number;
}

export async function runArtifact(where: string, o: RunOptions, log: DiagnosticLog): Promise<RunResult | undefined> {
  const started = performance.now();
  const p = prepareRun(where, o.size, log);
  if (!p) return undefined;
  const info = o.onInfo ?? (() => {});
  info(`tokenizer: ${p.tok.description}`);
  const needUncond = needsUncond(p.a.manifest);
  const request = { prompt: o.prompt, seed: o.seed, guidanceScale: o.guidanceScale ?? p.a.manifest.guidance.scale };
  const { samples, seconds } = await sampleLatents(p, [request], {
    images: true,
    onStep: (_, i, n, t, sec) => o.onStep?.(i, n, t, sec),
    onStage: (stage, sec) => {
      if (stage === 'text_encoder')
        info(
          `text encoder: ${needUncond ? 'prompt and empty prompt' : 'prompt (unconditional embedding baked in)'} in ${sec.toFixed(2)} s`,
        );
    },
  });
  const [s] = samples;
  const image = s!.image!;
  info(`vae decoder: ${image.width}×${image.height} in ${seconds.vae_decoder.toFixed(2)} s`);
  return {
    ...image,
    latents: s!.latents,
    tokens: s!.tokens,
    generatedVocabulary: p.tok.generated,
    seconds: { ...seconds, total: (performance.now() - started) / 1000 },
    artifact: { dir: p.a.dir, manifest: p.a.manifest },
    size: p.px,
  };
}

/** An artifact read and checked for running, with its schedule, sizes and tokenizer. */
export interface PreparedRun {
  a: Artifact;
  schedule: Schedule;
  /** Image size in pixels, and the symbolic dims bound for it. */
  px: number;
  dims: Record<string, number>;
  tok: LoadedTokenizer;
}

export function prepareRun(where: string, size: number | undefined, log: DiagnosticLog): PreparedRun | undefined {
  const a = readArtifact(where, log);
  if (!a || !checkInterface(a, log)) return undefined;
  const sized = runDims(a, size, log);
  if (!sized) return undefined;
  const seq = concreteShape(a.models.text_encoder.inputs[0].shape, sized.dims, 'text encoder')[1];
  const tok = loadTokenizer(a.dir, path.join(a.dir, a.models.text_encoder.file), seq, log);
  return tok && { a, schedule: hostSchedule(a.manifest), px: sized.px, dims: sized.dims, tok };
}

export interface SampleRequest {
  prompt: string;
  /** An integer in [0, 2^32). */
  seed: number;
  guidanceScale: number;
}

export interface Sampled {
  /** The final latents (before the VAE scaling). */
  latents: Float32Array;
  /** Token ids of the prompt as the text encoder saw them. */
  tokens: number[];
  image?: RgbImage;
}

export interface SampleOptions {
  /** Decode each sample's latents to an image too. */
  images: boolean;
  onStep?: (request: number, step: number, steps: number, timestep: number, seconds: number) => void;
  onStage?: (stage: 'text_encoder' | 'unet' | 'vae_decoder', seconds: number) => void;
}

const needsUncond = (m: Manifest) => !(m.guidance.fold === 'batch' && m.guidance.uncond === 'baked');

/** Embeddings of token id rows through the artifact's text encoder (one session), and of "" unless the UNet has it baked in. */
export async function encodeTexts(
  p: PreparedRun,
  rows: readonly number[][],
): Promise<{ cond: Float32Array[]; uncond?: Float32Array }> {
  const te = p.a.models.text_encoder;
  return withComponent(p.a, 'text_encoder', async (run) => {
    const encode = async (ids: number[]) => (await run({ [te.inputs[0].name]: ids }, p.dims))[textOutput(te)].data;
    const cond: Float32Array[] = [];
    for (const ids of rows) cond.push(await encode(ids));
    return { cond, ...(needsUncond(p.a.manifest) ? { uncond: await encode(p.tok.tokenizer.encode('')) } : {}) };
  });
}

/** The UNet's sample shape without the batch, [C, h, w], at the run's image size. */
export function sampleShape(p: PreparedRun): number[] {
  return concreteShape(p.a.models.unet.inputs.find((i) => i.name === 'sample')!.shape, p.dims, 'unet sample').slice(1);
}

/**
 * The artifact's sampling loop for many requests, a model at a time: every
 * prompt (and "") through the text encoder, then every request's denoising,
 * then the decoder. Each request gets exactly what `run` computes for it.
 */
export async function sampleLatents(
  p: PreparedRun,
  requests: readonly SampleRequest[],
  o: SampleOptions,
): Promise<{ samples: Sampled[]; seconds: { text_encoder: number; unet: number; vae_decoder: number } }> {
  const { a, schedule, dims } = p;
  const tokens = requests.map((r) => p.tok.tokenizer.encode(r.prompt));

  // Text encoder: each distinct prompt once, and "" for the unconditional embedding.
  let t0 = performance.now();
  const prompts = [...new Set(requests.map((r) => r.prompt))];
  const encoded = await encodeTexts(
    p,
    prompts.map((text) => tokens[requests.findIndex((r) => r.prompt === text)]!),
  );
  const embeddings = new Map(prompts.map((text, k) => [text, encoded.cond[k]!]));
  const uncond = encoded.uncond;
  const teSeconds = (performance.now() - t0) / 1000;
  o.onStage?.('text_encoder', teSeconds);

  // Denoising.
  const latentSize = sampleShape(p).reduce((x, y) => x * y, 1);
  const latents: Float32Array[] = [];
  t0 = performance.now();
  await withComponent(a, 'unet', async (run) => {
    for (const [k, r] of requests.entries()) {
      let x = initialLatents(r.seed, latentSize, schedule.init_noise_sigma);
      for (let i = 0; i < schedule.timesteps.length; i++) {
        const stepStart = performance.now();
        x = await unetStep(run, a, schedule, i, x, embeddings.get(r.prompt)!, uncond, r.guidanceScale, dims);
        o.onStep?.(k, i + 1, schedule.timesteps.length, schedule.timesteps[i]!, (performance.now() - stepStart) / 1000);
      }
      latents.push(x);
    }
  });
  const unetSeconds = (performance.now() - t0) / 1000;
  o.onStage?.('unet', unetSeconds);

  // VAE decoder.
  t0 = performance.now();
  const images = o.images ? await decodeLatents(p, latents) : [];
  const vaeSeconds = (performance.now() - t0) / 1000;
  if (o.images) o.onStage?.('vae_decoder', vaeSeconds);
  return {
    samples: latents.map((x, k) => ({ latents: x, tokens: tokens[k]!, ...(images[k] ? { image: images[k] } : {}) })),
    seconds: { text_encoder: teSeconds, unet: unetSeconds, vae_decoder: vaeSeconds },
  };
}

/** Images of latents through the artifact's VAE decoder (one session for all). */
export async function decodeLatents(p: PreparedRun, latents: readonly Float32Array[]): Promise<RgbImage[]> {
  const vae = p.a.models.vae_decoder;
  const images: RgbImage[] = [];
  await withComponent(p.a, 'vae_decoder', async (run) => {
    for (const x of latents) {
      const out = (await run({ [vae.inputs[0].name]: vaeInput(x) }, p.dims))[vae.outputs[0].name];
      images.push(toRgb(out.data, out.dims));
    }
  });
  return images;
}

/** One denoising step: the next latents. */
async function unetStep(
  run: Runner,
  a: Artifact,
  s: Schedule,
  i: number,
  latents: Float32Array,
  cond: Float32Array,
  uncond: Float32Array | undefined,
  scale: number,
  dims: Record<string, number>,
): Promise<Float32Array> {
  const m = a.manifest;
  const x = scaleModelInput(s, i, latents);
  if (m.guidance.fold === 'batch') {
    const feeds: Record<string, Data> = {
      sample: x,
      encoder_hidden_states: cond,
      guidance_scale: [scale],
      ...(m.schedule.folded_step ? { step_index: [i] } : { timestep: [s.timesteps[i]] }),
      ...(uncond ? { uncond_encoder_hidden_states: uncond } : {}),
    };
    const out = await run(feeds, dims);
    return m.schedule.folded_step ? out.prev_sample.data : schedulerStep(s, i, out.noise_pred.data, latents);
  }
  // Unfolded: the exporter's interface, two batch-1 calls, guidance here.
  const call = async (e: Float32Array) =>
    (await run({ sample: x, timestep: [s.timesteps[i]], encoder_hidden_states: e }, dims)).out_sample.data;
  const noise = guide(await call(uncond!), await call(cond), scale);
  return schedulerStep(s, i, noise, latents);
}

type Runner = (
  feeds: Record<string, Data>,
  dims: Record<string, number>,
) => Promise<Record<string, { data: Float32Array; dims: number[] }>>;

/** Typed feeds for a model's inputs from host values, its symbolic dims bound by `dims`. */
export function componentFeeds(
  entry: ModelEntry,
  values: Record<string, Data>,
  dims: Record<string, number>,
  what: string,
): Feeds {
  const input: Feeds = {};
  for (const sig of entry.inputs) {
    const data = values[sig.name];
    if (data === undefined) throw new Error(`${what}: no feed for input '${sig.name}'`);
    input[sig.name] = tensor(sig.dtype, data, concreteShape(sig.shape, dims, `${what} input ${sig.name}`));
  }
  return input;
}

/** Opens a component's session (the runtime's default options), runs `body` with a typed runner, and releases the session. */
function withComponent<T>(
  a: Artifact,
  c: 'text_encoder' | 'unet' | 'vae_decoder',
  body: (run: Runner) => Promise<T>,
): Promise<T> {
  const entry = a.models[c];
  return withSession(path.join(a.dir, entry.file), {}, (session) =>
    body(async (feeds, dims) => {
      const result = await session.run(componentFeeds(entry, feeds, dims, c));
      return Object.fromEntries(Object.entries(result).map(([k, t]) => [k, { data: floats(t), dims: [...t.dims] }]));
    }),
  );
}

const textOutput = (e: ModelEntry) => (e.outputs.find((o) => o.name === 'last_hidden_state') ?? e.outputs[0]).name;

/** Symbolic dims: one image at `size` pixels (default 512), as compile's targets bind them. */
function runDims(
  a: Artifact,
  size: number | undefined,
  log: DiagnosticLog,
): { px: number; dims: Record<string, number> } | undefined {
  const res = a.manifest.resolution;
  if (size !== undefined && res !== undefined && size !== res) {
    log.error(
      Code.Usage,
      `the artifact is compiled for ${res}×${res} images (static shapes); --size ${size} cannot change that`,
    );
    return undefined;
  }
  const px = size ?? res ?? 512;
  // The latent is the image over the decoder's upsampling, and the UNet halves it three times.
  const scale = a.manifest.vae_scale_factor ?? SD_VAE_SCALE;
  if (!(Number.isInteger(px) && px > 0 && px % (8 * scale) === 0)) {
    log.error(
      Code.Usage,
      `--size must be a positive multiple of ${8 * scale} pixels for this artifact (its VAE decoder upsamples ${scale}×), not ${size}`,
    );
    return undefined;
  }
  return { px, dims: targetDims(px, scale) };
}

const KNOWN_INPUTS: Record<string, string[]> = {
  batch: [
    'sample',
    'timestep',
    'step_index',
    'encoder_hidden_states',
    'uncond_encoder_hidden_states',
    'guidance_scale',
  ],
  none: ['sample', 'timestep', 'encoder_hidden_states'],
};

/** The UNet's interface is the one fold-cfg (or the exporter) makes; anything else cannot be driven here. */
function checkInterface(a: Artifact, log: DiagnosticLog): boolean {
  const m = a.manifest;
  const names = a.models.unet.inputs.map((i) => i.name);
  const unknown = names.filter((n) => !KNOWN_INPUTS[m.guidance.fold].includes(n));
  const outputs = a.models.unet.outputs.map((o) => o.name);
  const want = m.guidance.fold === 'none' ? 'out_sample' : m.schedule.folded_step ? 'prev_sample' : 'noise_pred';
  const file = path.join(a.dir, 'manifest.json');
  if (unknown.length || !names.includes('sample') || !outputs.includes(want)) {
    log.error(
      Code.ArtifactInvalid,
      `the UNet's interface (inputs ${names.join(', ')}; outputs ${outputs.join(', ')}) is not one \`run\` drives for guidance.fold '${m.guidance.fold}'${m.schedule.folded_step ? ' with a folded step' : ''} (it needs input 'sample' and output '${want}')`,
      { file },
    );
    return false;
  }
  const te = a.models.text_encoder.inputs;
  if (te.length !== 1 || te[0].shape.length !== 2) {
    log.error(
      Code.ArtifactInvalid,
      `the text encoder should take one [1, tokens] input; it takes ${te.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')}`,
      { file },
    );
    return false;
  }
  return true;
}

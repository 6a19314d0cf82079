// The compiled pipeline against the models it came from. `pocketdiff run` on an
// artifact with guidance folded (one batch-2 UNet call per step, guidance and
// optionally the DDIM step in the graph) must give the image that a plain
// step-by-step loop gives with two batch-1 UNet calls per step and guidance on
// the host, for the same seed: max pixel difference ≤ 1/255.
//
// The reference loop is written out here, independent of src/run/run-artifact.ts:
// the schedule from computeSchedule (not the manifest), ORT sessions opened
// directly, guidance and pixels computed inline. It shares only what defines
// "the same input": the tokenizer and the seeded noise.
//
//   (a) remove + duplicate, DDIM epsilon    vs the same recipe compiled with guidance.fold: none
//   (b) remove + duplicate, folded v step   vs the same recipe compiled with guidance.fold: none
//   (c) no structural change, Euler         vs the original fixture models
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ort from 'onnxruntime-node';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { DEFAULT_BUILD, planModel, writeModel } from '../src/builder/build.ts';
import {
  computeSchedule,
  DEFAULT_SCHEDULE,
  scaleModelInput,
  schedulerStep,
  type ScheduleConfig,
} from '../src/schedule/index.ts';
import { initialLatents } from '../src/run/latents.ts';
import { runArtifact } from '../src/run/run-artifact.ts';
import { ClipTokenizer } from '../src/run/tokenizer.ts';
import { tempDir } from './support/ort.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const work = tempDir('pocketdiff-equivalence-');
const UNET = path.join(ROOT, 'test/fixtures/unet-tiny/model.onnx');
const VAE = path.join(ROOT, 'test/fixtures/vae-decoder-tiny/model.onnx');
const TEXT = (() => {
  const log = new DiagnosticLog();
  return writeModel(
    planModel(path.join(ROOT, 'models/test/text-encoder-tiny.json'), log)!,
    path.join(work, 'text-encoder-tiny'),
    { ...DEFAULT_BUILD },
    log,
  )!;
})();
const PROMPT = 'a red bicycle leaning against a brick wall';
const SEED = 1234;
const VAE_SCALE = 2; // the tiny VAE decoder upsamples 2×
const SIZE = 32; // pixels: a 16×16 latent, decoded to the 32×32 image asked for

async function compileRecipe(name: string, body: string): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  fs.writeFileSync(file, `model:\n  unet: ${UNET}\n  vae_decoder: ${VAE}\n  text_encoder: ${TEXT}\n${body}`);
  const log = new DiagnosticLog();
  const [a] = (await compile(file, { out: path.join(work, 'out') }, log)) ?? [];
  assert.ok(a, log.items.map(formatDiagnostic).join('\n'));
  return a.dir;
}

interface Models {
  text_encoder: string;
  unet: string;
  vae_decoder: string;
}

/** The reference: diffusers' loop written out, two UNet calls per step, guidance here. */
async function reference(
  models: Models,
  tokenizerDir: string,
  cfg: ScheduleConfig,
  scale: number,
): Promise<{ pixels: Uint8Array; latents: Float32Array }> {
  const schedule = computeSchedule(cfg);
  const tok = new ClipTokenizer(
    JSON.parse(fs.readFileSync(path.join(tokenizerDir, 'vocab.json'), 'utf8')),
    fs.readFileSync(path.join(tokenizerDir, 'merges.txt'), 'utf8'),
  );
  const open = (f: string) => ort.InferenceSession.create(f);
  const te = await open(models.text_encoder);
  const embed = async (text: string) => {
    const ids = new ort.Tensor('int64', BigInt64Array.from(tok.encode(text), BigInt), [1, 77]);
    return (await te.run({ input_ids: ids })).last_hidden_state.data as Float32Array;
  };
  const cond = await embed(PROMPT);
  const uncond = await embed('');
  await te.release();

  const lat = SIZE / VAE_SCALE;
  let latents = initialLatents(SEED, 4 * lat * lat, schedule.init_noise_sigma);
  const unet = await open(models.unet);
  for (let i = 0; i < schedule.timesteps.length; i++) {
    const x = scaleModelInput(schedule, i, latents);
    const call = async (e: Float32Array) =>
      (
        await unet.run({
          sample: new ort.Tensor('float32', x, [1, 4, lat, lat]),
          timestep: new ort.Tensor('int64', BigInt64Array.of(BigInt(Math.round(schedule.timesteps[i]))), [1]),
          encoder_hidden_states: new ort.Tensor('float32', e, [1, 77, e.length / 77]),
        })
      ).out_sample.data as Float32Array;
    const u = await call(uncond);
    const c = await call(cond);
    const noise = u.map((uv, k) => uv + scale * (c[k] - uv));
    latents = schedulerStep(schedule, i, noise, latents);
  }
  await unet.release();

  const vae = await open(models.vae_decoder);
  const out = (
    await vae.run({
      latent_sample: new ort.Tensor(
        'float32',
        latents.map((v) => v / 0.18215),
        [1, 4, lat, lat],
      ),
    })
  ).sample;
  await vae.release();
  const [, , h, w] = out.dims;
  const data = out.data as Float32Array;
  const pixels = new Uint8Array(3 * h * w);
  for (let p = 0; p < h * w; p++)
    for (let ch = 0; ch < 3; ch++)
      pixels[3 * p + ch] = Math.round(255 * Math.min(1, Math.max(0, data[ch * h * w + p] / 2 + 0.5)));
  return { pixels, latents };
}

async function runImage(dir: string): Promise<{ pixels: Uint8Array; latents: Float32Array }> {
  const log = new DiagnosticLog();
  const r = await runArtifact(dir, { prompt: PROMPT, seed: SEED, size: SIZE }, log);
  assert.ok(r, log.items.map(formatDiagnostic).join('\n'));
  return r!;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

const artifactModels = (dir: string): Models => ({
  text_encoder: path.join(dir, 'text_encoder.onnx'),
  unet: path.join(dir, 'unet.onnx'),
  vae_decoder: path.join(dir, 'vae_decoder.onnx'),
});
const STRUCTURAL =
  'unet:\n  remove: [down_blocks.1.attentions.0, up_blocks.1.resnets.1]\n  duplicate: [up_blocks.0.attentions.1]\n';

const cases: {
  name: string;
  schedule: string;
  cfg: Partial<ScheduleConfig> & Pick<ScheduleConfig, 'scheduler' | 'steps'>;
  structural: boolean;
}[] = [
  {
    name: 'ddim-epsilon',
    schedule: 'schedule: {steps: 4, spacing: trailing}',
    cfg: { scheduler: 'ddim', steps: 4, spacing: 'trailing' },
    structural: true,
  },
  {
    name: 'ddim-v-folded-step',
    schedule: 'schedule: {steps: 5, fold_step: true, prediction_type: v_prediction}',
    cfg: { scheduler: 'ddim', steps: 5, prediction_type: 'v_prediction' },
    structural: true,
  },
  {
    name: 'euler',
    schedule: 'schedule: {scheduler: euler, steps: 4}',
    cfg: { scheduler: 'euler', steps: 4 },
    structural: false,
  },
];

for (const c of cases) {
  test(`compiled vs step by step: ${c.name}${c.structural ? ' (remove + duplicate)' : ' (original models)'}`, async () => {
    const scale = 6.5;
    const body = `${c.structural ? STRUCTURAL : ''}${c.schedule}\n`;
    const folded = await compileRecipe(`${c.name}-folded`, `${body}guidance: {scale: ${scale}}\n`);
    const m = JSON.parse(fs.readFileSync(path.join(folded, 'manifest.json'), 'utf8'));
    assert.is(m.guidance.fold, 'batch');
    assert.ok(m.models.unet.passes.includes('fold-cfg'));
    const models = c.structural
      ? artifactModels(
          await compileRecipe(
            `${c.name}-unfolded`,
            `${body.replace(/fold_step: true, /, '')}guidance: {scale: ${scale}, fold: none}\n`,
          ),
        )
      : { text_encoder: TEXT, unet: UNET, vae_decoder: VAE };
    const ours = await runImage(folded);
    const theirs = await reference(models, folded, { ...DEFAULT_SCHEDULE, ...c.cfg, set_alpha_to_one: false }, scale);
    const d = maxDiff(ours.pixels, theirs.pixels);
    const dl = maxDiff(ours.latents, theirs.latents);
    console.log(
      `  ${c.name}: max pixel difference ${d}/255 over ${ours.pixels.length / 3} pixels; max final-latent difference ${dl.toExponential(2)}`,
    );
    assert.ok(d <= 1, `max pixel difference ${d}/255`);
    // Pixels round away small errors (a 5% wrong guidance scale moves them by only 2/255); the latents do not.
    assert.ok(dl <= 1e-4, `max final-latent difference ${dl}`);
    assert.ok(new Set(ours.pixels).size > 20, 'a noise-like image, not a flat one');
  });
}

test('the unfolded artifact runs too (two calls per step in `run`) and matches the reference exactly', async () => {
  const dir = await compileRecipe(
    'unfolded-run',
    `${STRUCTURAL}schedule: {steps: 3}\nguidance: {scale: 4, fold: none}\n`,
  );
  const ours = await runImage(dir);
  const theirs = await reference(artifactModels(dir), dir, { ...DEFAULT_SCHEDULE, scheduler: 'ddim', steps: 3 }, 4);
  assert.is(maxDiff(ours.pixels, theirs.pixels), 0);
  assert.is(maxDiff(ours.latents, theirs.latents), 0);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.run();

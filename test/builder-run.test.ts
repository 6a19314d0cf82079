// Built models on disk: random weights are deterministic and keep activations
// finite (onnxruntime-node runs every tiny model, and the narrow SD-shaped
// UNet); `--weights none` writes the graph alone; external data, opset 17 and
// float16 builds run; the default model is built once and then reused.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { toHalf } from '../src/onnx/half.ts';
import { ProgressBar } from '../src/builder/progress.ts';
import { randomWeights } from '../src/builder/weights.ts';
import { Exit } from '../src/commands/command.ts';
import { inspectModel } from '../src/commands/inspect.ts';
import { models } from '../src/commands/models.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { loadModel } from '../src/onnx/model.ts';
import { ROOT, runModel, TEST_CONFIGS, uniform, values, type Feeds } from './support/builder-fixtures.ts';
import { tempDir } from './support/temp.ts';

const test = suite('builder run');
const tmp = tempDir('pd-builder-run-');
const config = (name: string) => path.join(TEST_CONFIGS, `${name}.json`);

async function build(name: string, out: string, ...flags: string[]): Promise<string> {
  const log = new DiagnosticLog();
  const status = await models.run(['build', config(name), '--out', out, ...flags], {
    log,
    stdout: () => {},
    stderr: () => {},
  });
  assert.is(status, Exit.Ok, log.items.map(formatDiagnostic).join('\n'));
  return path.join(out, 'model.onnx');
}

const unetFeeds = (batch: number, h: number, w: number, cross: number, half = false): Feeds => {
  const f = (n: number, seed: number) => (half ? new Uint16Array(uniform(n, seed).map(toHalf)) : uniform(n, seed));
  const type = half ? 'float16' : 'float32';
  return {
    sample: new ort.Tensor(type, f(batch * 4 * h * w, 1), [batch, 4, h, w]),
    timestep: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: batch }, (_, i) => BigInt(1 + 499 * i)),
      [batch],
    ),
    encoder_hidden_states: new ort.Tensor(type, f(batch * 77 * cross, 2), [batch, 77, cross]),
  };
};
const vaeFeeds = (batch: number, h: number, w: number, half = false): Feeds => {
  const x = uniform(batch * 4 * h * w, 3);
  return {
    latent_sample: half
      ? new ort.Tensor('float16', new Uint16Array(x.map(toHalf)), [batch, 4, h, w])
      : new ort.Tensor('float32', x, [batch, 4, h, w]),
  };
};
/** Two prompts: token ids below 1000 (the tiny vocab), an end-of-text token (the largest id) at different places. */
const textFeeds = (): Feeds => {
  const ids = BigInt64Array.from({ length: 2 * 77 }, (_, i) => {
    const [row, col] = [Math.floor(i / 77), i % 77];
    if (col === 0) return 998n;
    if (col === 5 + 10 * row) return 999n;
    return BigInt((i * 37) % 900);
  });
  return { input_ids: new ort.Tensor('int64', ids, [2, 77]) };
};

/** Every value finite, and the output not constant. */
function assertLive(t: ort.Tensor, what: string): number[] {
  const v = values(t);
  assert.ok(v.every(Number.isFinite), `${what}: non-finite values`);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  assert.ok(std > 1e-3, `${what}: constant output (std ${std})`);
  return v;
}

test('tiny UNet, VAE decoder and CLIP text encoder with random weights run with finite, varying outputs', async () => {
  const unet = await runModel(await build('unet-tiny', path.join(tmp, 'unet')), unetFeeds(2, 16, 24, 32));
  assert.equal(unet.out_sample.dims, [2, 4, 16, 24]);
  assertLive(unet.out_sample, 'unet-tiny');
  const vae = await runModel(await build('vae-decoder-tiny', path.join(tmp, 'vae')), vaeFeeds(2, 8, 12));
  assert.equal(vae.sample.dims, [2, 3, 16, 24]);
  assertLive(vae.sample, 'vae-decoder-tiny');
  const text = await runModel(await build('text-encoder-tiny', path.join(tmp, 'text')), textFeeds());
  assert.equal(text.last_hidden_state.dims, [2, 77, 32]);
  const last = assertLive(text.last_hidden_state, 'text-encoder-tiny');
  const pooled = assertLive(text.pooler_output, 'pooler');
  // eos_token_id 2: pooled = the hidden state at each row's largest token id (999 at 5 and 15).
  for (const [row, col] of [
    [0, 5],
    [1, 15],
  ]) {
    assert.equal(pooled.slice(row * 32, row * 32 + 32), last.slice((row * 77 + col) * 32, (row * 77 + col) * 32 + 32));
  }
});

test('the SD-shaped narrow UNet (4 blocks, 16 transformers) runs finite at 16×16', async () => {
  const out = await runModel(await build('unet-sd15shape-narrow', path.join(tmp, 'narrow')), unetFeeds(1, 16, 16, 64));
  assertLive(out.out_sample, 'unet-sd15shape-narrow');
});

test('same seed, byte-identical files; another seed, other weights', async () => {
  const a = await build('unet-tiny', path.join(tmp, 'seed-a'), '--seed', '7', '--external-data', 'w.bin');
  const b = await build('unet-tiny', path.join(tmp, 'seed-b'), '--seed', '7', '--external-data', 'w.bin');
  const c = await build('unet-tiny', path.join(tmp, 'seed-c'), '--seed', '8', '--external-data', 'w.bin');
  const bytes = (f: string) => fs.readFileSync(f);
  assert.ok(bytes(a).equals(bytes(b)), 'model.onnx differs between two builds with seed 7');
  const wa = bytes(path.join(path.dirname(a), 'w.bin'));
  assert.ok(wa.equals(bytes(path.join(path.dirname(b), 'w.bin'))), 'weights differ between two builds with seed 7');
  assert.not.ok(wa.equals(bytes(path.join(path.dirname(c), 'w.bin'))), 'seed 8 gave the same weights');
  // External data runs and computes what the inline build computes.
  const feeds = unetFeeds(1, 8, 8, 32);
  const inline = await runModel(await build('unet-tiny', path.join(tmp, 'seed-inline'), '--seed', '7'), feeds);
  const external = await runModel(a, feeds);
  assert.equal(values(external.out_sample), values(inline.out_sample));
});

test('--weights none: the graph alone, every initializer declared external in weights.pb, which is not written', async () => {
  const dir = path.join(tmp, 'none');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'weights.pb'), 'stale weights from an earlier build');
  const file = await build('unet-tiny', dir, '--weights', 'none');
  assert.equal(fs.readdirSync(dir), ['model.onnx']);
  const log = new DiagnosticLog();
  const m = loadModel(file, log);
  assert.ok(m, log.items.map(formatDiagnostic).join('\n'));
  const inits = m.proto.graph!.initializer!;
  assert.is(inits.length, 304);
  for (const t of inits) {
    const d = m.data.get(t)!;
    assert.ok(d.kind === 'external' && d.ref.location === 'weights.pb' && !d.ref.exists, t.name ?? '');
  }
  const report = inspectModel(file, [], log);
  assert.ok(report, log.items.map(formatDiagnostic).join('\n'));
  assert.is(report.params, 1_427_012);
});

test('opset 17 (LayerNormalization) computes what opset 14 (decomposed LayerNorm) computes', async () => {
  const feeds = unetFeeds(2, 8, 8, 32);
  const o14 = await runModel(await build('unet-tiny', path.join(tmp, 'op14'), '--seed', '3'), feeds);
  const o17 = await runModel(await build('unet-tiny', path.join(tmp, 'op17'), '--seed', '3', '--opset', '17'), feeds);
  const a = values(o14.out_sample);
  const b = values(o17.out_sample);
  assert.ok(
    a.every((x, i) => Math.abs(x - b[i]) < 1e-4),
    'opset 14 and 17 outputs differ',
  );
});

test('float16 builds hold half-precision weights and run (onnxruntime with its graph optimizations)', async () => {
  const unet = await build('unet-tiny', path.join(tmp, 'fp16-unet'), '--dtype', 'float16');
  const fp32 = await build('unet-tiny', path.join(tmp, 'fp32-unet'));
  const ratio = fs.statSync(unet).size / fs.statSync(fp32).size;
  assert.ok(ratio > 0.45 && ratio < 0.6, `fp16 model is ${ratio} of the fp32 one`);
  const out = await runModel(unet, unetFeeds(1, 8, 8, 32, true), true);
  assert.is(out.out_sample.type, 'float16');
  assertLive(out.out_sample, 'fp16 unet');
  const vae = await runModel(
    await build('vae-decoder-tiny', path.join(tmp, 'fp16-vae'), '--dtype', 'float16'),
    vaeFeeds(1, 8, 8, true),
  );
  assertLive(vae.sample, 'fp16 vae');
  const text = await runModel(
    await build('text-encoder-tiny', path.join(tmp, 'fp16-text'), '--dtype', 'float16'),
    textFeeds(),
  );
  assertLive(text.last_hidden_state, 'fp16 text encoder');
});

test('random weights: per-tensor streams, torch-like scale, chunked', () => {
  const source = randomWeights(42, 1);
  const read = (name: string, dims: number[], init = { center: 0, bound: 0.1 }) => {
    const d = source(name, dims, init);
    assert.is(d.kind, 'stream');
    const parts: Uint8Array[] = [];
    if (d.kind === 'stream') d.write((c) => parts.push(Buffer.from(c)));
    const buf = Buffer.concat(parts);
    return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  };
  const big = read('a.weight', [3, 1 << 20]);
  assert.is(big.length, 3 << 20);
  assert.ok(big.every((x) => x >= -0.1 && x < 0.1));
  const mean = big.reduce((s, x) => s + x, 0) / big.length;
  assert.ok(Math.abs(mean) < 1e-3);
  assert.equal(
    read('a.weight', [16]),
    big.slice(0, 16),
    "a tensor's values do not depend on its size or on other tensors",
  );
  assert.not.equal(read('b.weight', [16]), big.slice(0, 16));
  const scale = read('n.weight', [1000], { center: 1, bound: 0.05 });
  assert.ok(scale.every((x) => x > 0.94 && x < 1.06));
  assert.equal([1, -2, 65504, 1e-8, 0.1, 70000].map(toHalf), [0x3c00, 0xc000, 0x7bff, 0x0000, 0x2e66, 0x7c00]);
});

test('progress bar: one redrawn line on a terminal, quarter lines in logs, nothing for small writes', () => {
  const lines: string[] = [];
  const log = new ProgressBar('building unet', { write: (t) => lines.push(t) });
  for (let i = 1; i <= 8; i++) log.update(i * 2 ** 30, 8 * 2 ** 30);
  assert.is(lines.length, 4);
  assert.match(lines[0], /^building unet: 25% \(2\.15\/8\.59 GB, \d+\.\d s\)\n$/);
  const tty: string[] = [];
  const bar = new ProgressBar('building unet', { write: (t) => tty.push(t), isTTY: true, columns: 100 });
  bar.update(2 ** 30, 4 * 2 ** 30);
  bar.update(4 * 2 ** 30, 4 * 2 ** 30);
  bar.finish();
  assert.match(tty[0], /^\rbuilding unet \[#{10}\.{30}\]  25% 1\.07\/4\.29 GB/);
  assert.match(tty[tty.length - 2], /\[#{40}\] 100%/);
  assert.is(tty[tty.length - 1], '\n');
  const quiet: string[] = [];
  new ProgressBar('small', { write: (t) => quiet.push(t) }).update(1000, 1000);
  assert.equal(quiet, []);
});

// ensureDefaultModel builds whatever models/sd15/ holds, so its cache is proved on a copy of the
// project whose models/sd15/ holds the tiny test configs: src/ is imported from the copy, where
// PROJECT_ROOT, and so the default configs, are the copy's. That models/sd15/ builds SD v1.5
// (859,520,964 UNet parameters) is builder-fidelity.test.ts's to prove.
async function tinyDefaultModels(): Promise<typeof import('../src/builder/default-model.ts')> {
  const p = path.join(tmp, 'project');
  fs.cpSync(path.join(ROOT, 'src'), path.join(p, 'src'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'package.json'), path.join(p, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(p, 'node_modules'), 'dir');
  for (const [file, tiny] of [
    ['unet.json', 'unet-tiny'],
    ['vae.json', 'vae-decoder-tiny'],
    ['text_encoder.json', 'text-encoder-tiny'],
  ]) {
    fs.cpSync(config(tiny), path.join(p, 'models', 'sd15', file));
  }
  const copy: typeof import('../src/builder/default-model.ts') = await import(
    pathToFileURL(path.join(p, 'src', 'builder', 'default-model.ts')).href
  );
  assert.is(copy.defaultConfig('unet'), path.join(p, 'models', 'sd15', 'unet.json'), 'the copy reads its own models/');
  return copy;
}

test('the default model is built once into its folder, then reused until its inputs change', async () => {
  const { ensureDefaultModel } = await tinyDefaultModels();
  const root = path.join(tmp, 'built');
  const log = new DiagnosticLog();
  const quiet = { write: () => true };
  const first = (['unet', 'vae_decoder', 'text_encoder'] as const).map((part) =>
    ensureDefaultModel(part, log, { root, build: { weights: 'none' }, progress: quiet }),
  );
  assert.not.ok(log.hasErrors, log.items.map(formatDiagnostic).join('\n'));
  assert.equal(
    first.map((r) => r?.built),
    [true, true, true],
  );
  assert.equal(
    first.map((r) => path.relative(root, r!.file)),
    ['sd15/unet/model.onnx', 'sd15/vae_decoder/model.onnx', 'sd15/text_encoder/model.onnx'],
  );
  assert.is(ensureDefaultModel('unet', log, { root, build: { weights: 'none' }, progress: quiet })?.built, false);
  fs.appendFileSync(first[1]!.file, 'damage');
  assert.is(ensureDefaultModel('vae_decoder', log, { root, build: { weights: 'none' }, progress: quiet })?.built, true);
  assert.is(
    ensureDefaultModel('unet', log, { root, build: { weights: 'none', seed: 1 }, progress: quiet })?.built,
    true,
  );
  assert.is(
    ensureDefaultModel('unet', log, { root, build: { weights: 'none', seed: 1 }, force: true, progress: quiet })?.built,
    true,
  );
  // Each part from its own config: as many parameters as that config's fixture (the UNet's and VAE's exported by torch).
  const params = (files: string[]) => files.map((f) => inspectModel(f, [], log)?.params);
  assert.equal(
    params(first.map((r) => r!.file)),
    params(
      ['unet-tiny', 'vae-decoder-tiny', 'text-encoder-tiny'].map((f) =>
        path.join(ROOT, 'test', 'fixtures', f, 'model.onnx'),
      ),
    ),
  );
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();

// `pocketdiff run` and its parts: the CLIP tokenizer, the demo vocabulary,
// the seeded noise, the PNG codec, the schedule a manifest gives the host, and
// the command end to end on a tiny compiled artifact.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.ts';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { DEFAULT_BUILD, planModel, writeModel } from '../src/builder/build.ts';
import type { Manifest } from '../src/artifact/manifest.ts';
import { computeSchedule, DEFAULT_SCHEDULE } from '../src/schedule/index.ts';
import { hostSchedule } from '../src/run/artifact.ts';
import { demoVocabulary, learnMerges } from '../src/run/demo-vocab.ts';
import { initialLatents, randn, toRgb } from '../src/run/latents.ts';
import { crc32, decodePng, encodePng } from '../src/run/png.ts';
import { bytesToUnicode, cleanText, ClipTokenizer } from '../src/run/tokenizer.ts';
import { demoFiles } from '../src/run/tokenizer-files.ts';
import { tempDir } from './support/ort.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const work = tempDir('pocketdiff-run-');

test('bytes_to_unicode: 256 distinct printable characters, printable ASCII kept, space → Ġ', () => {
  const map = bytesToUnicode();
  assert.is(map.length, 256);
  assert.is(new Set(map.map(([, c]) => c)).size, 256);
  const m = new Map(map);
  assert.is(m.get('a'.charCodeAt(0)), 'a');
  assert.is(m.get(32), '\u0120');
  assert.is(m.get(10), '\u010a');
  assert.ok(map.every(([, c]) => !/\s/.test(c)));
});

test('text cleanup: HTML entities, whitespace runs, lowercase', () => {
  assert.is(cleanText('  A&amp;amp;B\n\t C &#65; '), 'a&b c a');
});

test('BPE merges by rank, every occurrence, with </w> on the last symbol', () => {
  // Rank 0 'l o', rank 1 'lo w</w>', rank 2 'h e'.
  const merges = '#version: 0.2\nl o\nlo w</w>\nh e\n';
  const vocab: Record<string, number> = {};
  const chars = bytesToUnicode().map(([, c]) => c);
  [...chars, ...chars.map((c) => c + '</w>'), 'lo', 'low</w>', 'he', '<|startoftext|>', '<|endoftext|>'].forEach(
    (t, i) => (vocab[t] = i),
  );
  const tok = new ClipTokenizer(vocab, merges, { maxLength: 8 });
  assert.equal(tok.bpe('low'), ['low</w>']);
  assert.equal(tok.bpe('lolow'), ['lo', 'low</w>']);
  assert.equal(tok.bpe('hello'), ['he', 'l', 'l', 'o</w>']);
  assert.equal(tok.bpe('x'), ['x</w>']);
  const ids = tok.encode('Low, LOW!');
  assert.equal(ids, [
    tok.sot,
    vocab['low</w>'],
    vocab[',</w>'],
    vocab['low</w>'],
    vocab['!</w>'],
    tok.eot,
    tok.eot,
    tok.eot,
  ]);
  assert.is(tok.sot, 515);
  // Truncation keeps SOT, maxLength - 2 tokens and EOT.
  const long = tok.encode('a b c d e f g h i');
  assert.is(long.length, 8);
  assert.equal([long[0], long[7]], [tok.sot, tok.eot]);
  // Another pad token (SD 2.x pads with '!').
  assert.is(new ClipTokenizer(vocab, merges, { maxLength: 8, padToken: '!' }).encode('low')[7], vocab['!']);
});

test('the demo vocabulary: CLIP layout, deterministic, every token decodes back to the text', () => {
  const v = demoVocabulary(1000);
  const ids = Object.values(v.vocab);
  assert.ok(Math.max(...ids) < 1000);
  assert.is(v.vocab['!'], 0);
  assert.is(v.vocab['!</w>'], 256);
  assert.is(v.vocab['<|endoftext|>'], Math.max(...ids));
  assert.is(v.vocab['<|startoftext|>'], Math.max(...ids) - 1);
  assert.ok(v.merges.length > 200);
  assert.equal(demoVocabulary(1000), v);
  // Capped by the text encoder's vocabulary.
  assert.is(demoVocabulary(600).merges.length, 600 - 514);
  assert.throws(() => demoVocabulary(300), /at least 514/);
  const tok = new ClipTokenizer(v.vocab, v.merges);
  const inverse = new Map(Object.entries(v.vocab).map(([t, i]) => [i, t]));
  const text = 'A red bicycle, leaning on a wall — café ☕ 42!';
  const bytes = new Map(bytesToUnicode().map(([b, c]) => [c, b]));
  const decoded = tok
    .tokenize(text)
    .map((i) => inverse.get(i)!)
    .join('')
    .split('</w>')
    .filter(Boolean);
  const words = decoded.map((w) => Buffer.from(Array.from(w, (c) => bytes.get(c)!)).toString('utf8'));
  assert.is(words.join(' '), 'a red bicycle , leaning on a wall — café ☕ 4 2 !');
  // Frequent corpus words are single tokens.
  assert.is(tok.tokenize('bicycle').length, 1);
  const files = demoFiles(1000);
  assert.ok(files['merges.txt'].startsWith('#version: 0.2\n'));
  assert.is(JSON.parse(files['tokenizer_config.json']).pocketdiff_generated, true);
  assert.equal(learnMerges('aa aa', 10), [['a', 'a</w>']]);
});

test('seeded noise: Mulberry32 + Box-Muller, fixed values, standard normal', () => {
  assert.equal(
    Array.from(randn(0, 4)),
    [0.1315770447254181, 0.7761120200157166, -0.8407233357429504, -0.7435606718063354],
  );
  assert.equal(Array.from(randn(42, 3)), [0.8137977123260498, -1.0843620300292969, -0.09015291929244995]);
  const z = randn(7, 100_000);
  const mean = z.reduce((s, x) => s + x, 0) / z.length;
  const variance = z.reduce((s, x) => s + (x - mean) ** 2, 0) / z.length;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
  assert.equal(Array.from(initialLatents(0, 2, 2)), [Math.fround(2 * randn(0, 2)[0]), Math.fround(2 * randn(0, 2)[1])]);
});

test('pixels: round(clamp(x/2 + 0.5)·255), CHW → RGB', () => {
  const img = toRgb(Float32Array.of(-1, 1, 0, 3, -3, 0.5), [1, 3, 1, 2]);
  assert.equal([img.width, img.height], [2, 1]);
  assert.equal(Array.from(img.pixels), [0, 128, 0, 255, 255, 191]);
});

test('PNG: CRC-32, round trip, same pixels give the same bytes', () => {
  assert.is((crc32(Buffer.from('IEND')) ^ 0xffffffff) >>> 0, 0xae426082);
  const pixels = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) & 0xff);
  const png = encodePng(5, 3, pixels);
  assert.equal(decodePng(png), { width: 5, height: 3, pixels });
  assert.ok(encodePng(5, 3, pixels).equals(png));
});

test('the host schedule is the schedule compile computed, read back from the manifest', () => {
  for (const [scheduler, spacing, steps] of [
    ['ddim', 'leading', 7],
    ['ddim', 'trailing', 8],
    ['ddim', 'linspace', 8],
    ['euler', 'linspace', 5],
  ] as const) {
    const computed = computeSchedule({ ...DEFAULT_SCHEDULE, scheduler, steps, spacing });
    const manifest = { schedule: { ...computed, train_timesteps: 1000, folded_step: false } } as unknown as Manifest;
    assert.equal(hostSchedule(manifest), computed, `${scheduler} ${spacing} ${steps}`);
  }
});

// ── the command, on a tiny artifact ──

const textEncoder = (() => {
  const log = new DiagnosticLog();
  const plan = planModel(path.join(ROOT, 'models/test/text-encoder-tiny.json'), log)!;
  return writeModel(plan, path.join(work, 'text-encoder-tiny'), { ...DEFAULT_BUILD }, log)!;
})();

async function artifact(name: string, body: string): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `model:\n  unet: ${path.join(ROOT, 'test/fixtures/unet-tiny/model.onnx')}\n  vae_decoder: ${path.join(ROOT, 'test/fixtures/vae-decoder-tiny/model.onnx')}\n  text_encoder: ${textEncoder}\n${body}`,
  );
  const log = new DiagnosticLog();
  const [a] = (await compile(file, { out: path.join(work, 'out') }, log)) ?? [];
  assert.ok(a, log.items.map(formatDiagnostic).join('\n'));
  return a.dir;
}

async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(args, { log: new DiagnosticLog(), stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { status, stdout: out.join('\n'), stderr: err.join('\n') };
}

test('run: prompt → PNG, progress per step on stderr, deterministic for a seed', async () => {
  const dir = await artifact('tiny', 'schedule: {steps: 3}\nguidance: {scale: 6}\n');
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'pipeline.ts', 'report.html'])
    assert.ok(fs.existsSync(path.join(dir, f)), f);
  const png = (n: string) => path.join(work, n);
  const r = await cli(['run', dir, '--prompt', 'a red bicycle', '--seed', '3', '--size', '16', '--out', png('a.png')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /tokenizer: using the generated demo vocabulary/);
  assert.match(r.stderr, /step 1\/3  t=\d+/);
  assert.match(r.stderr, /step 3\/3/);
  assert.match(r.stdout, /wrote .*a\.png \(16×16, seed 3/);
  const image = decodePng(fs.readFileSync(png('a.png')));
  assert.equal([image.width, image.height], [16, 16]);
  assert.ok(new Set(image.pixels).size > 20, 'random weights give noise, not a flat image');
  await cli(['run', dir, '--prompt', 'a red bicycle', '--seed', '3', '--size', '16', '--out', png('b.png')]);
  assert.ok(fs.readFileSync(png('a.png')).equals(fs.readFileSync(png('b.png'))), 'same seed, same bytes');
  await cli(['run', dir, '--prompt', 'a red bicycle', '--seed', '4', '--size', '16', '--out', png('c.png')]);
  assert.not.ok(fs.readFileSync(png('a.png')).equals(fs.readFileSync(png('c.png'))), 'another seed, another image');
  const json = await cli(['run', dir, '--prompt', 'a red bicycle', '--size', '16', '--out', png('d.png'), '--json']);
  const j = JSON.parse(json.stdout);
  assert.is(j.tokens.length, 77);
  // Beside the measured seconds, what the local-cpu profile predicts for this artifact here.
  assert.is(j.predicted.device, 'local-cpu');
  assert.ok(
    j.predicted.seconds > 0 &&
      j.predicted.interval_80[0] <= j.predicted.seconds &&
      j.predicted.seconds <= j.predicted.interval_80[1],
    JSON.stringify(j.predicted),
  );
  assert.match(
    r.stdout,
    /^predicted on local-cpu: [\d.]+ s \(80%: [\d.]+–[\d.]+ s\) with one onnxruntime thread \(this run: [\d.]+ s with onnxruntime's default threads\)$/m,
  );
});

test('resolution is the image: a 2× decoder at resolution 128 denoises a 64×64 latent and gives a 128×128 image; manifest, pipeline.ts and report agree', async () => {
  const dir = await artifact(
    'scale-2',
    'schedule: {steps: 2}\nguidance: {scale: 1}\ntargets:\n  - {device: galaxy-s23, resolution: 128}\n',
  );
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  assert.is(m.vae_scale_factor, 2);
  assert.is(m.resolution, 128);
  assert.equal(m.models.unet.inputs.find((i: { name: string }) => i.name === 'sample').shape, [1, 4, 64, 64]);
  assert.equal(m.models.vae_decoder.outputs[0].shape, [1, 3, 128, 128]);
  const r = await cli(['run', dir, '--prompt', 'a red bicycle', '--out', path.join(work, 'scale-2.png')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*scale-2\.png \(128×128, seed 0/);
  const image = decodePng(fs.readFileSync(path.join(work, 'scale-2.png')));
  assert.equal([image.width, image.height], [128, 128]);
  // A generic artifact of the same models: the runner's sizes divide by 2, not 8.
  const generic = await artifact('scale-2-generic', 'schedule: {steps: 2}\nguidance: {scale: 1}\n');
  const code = fs.readFileSync(path.join(generic, 'pipeline.ts'), 'utf8');
  assert.match(code, /latents are size \/ 2: the VAE decoder upsamples 2×/);
  assert.match(code, /height: size \/ 2/);
  const md = fs.readFileSync(path.join(generic, 'report.md'), 'utf8');
  assert.match(md, /at a 512×512 image \(256×256 latent\)/);
  const bad = await cli(['run', generic, '--prompt', 'x', '--size', '24']);
  assert.match(
    bad.stderr,
    /--size must be a positive multiple of 16 pixels for this artifact \(its VAE decoder upsamples 2×\), not 24/,
  );
});

test('run: errors are coded diagnostics with exit 2', async () => {
  const missing = await cli(['run', path.join(work, 'nowhere'), '--prompt', 'x']);
  assert.is(missing.status, 2);
  assert.match(missing.stderr, /error PD1001: no artifact folder at .*nowhere/);
  fs.mkdirSync(path.join(work, 'empty'), { recursive: true });
  assert.match(
    (await cli(['run', path.join(work, 'empty'), '--prompt', 'x'])).stderr,
    /error PD1001: no manifest\.json in .*empty/,
  );
  assert.match((await cli(['run', path.join(work, 'nowhere')])).stderr, /PD3001: --prompt is required/);
  assert.match((await cli(['run', path.join(work, 'nowhere'), '--prompt', 'x', '--seed', '-1'])).stderr, /PD3001/);
  // A graph-only artifact (as the embedded default compiles with --graph-only) has no weights to run.
  const graphOnly = await artifact('graph-only', 'schedule: {steps: 2}\n');
  const m = JSON.parse(fs.readFileSync(path.join(graphOnly, 'manifest.json'), 'utf8'));
  fs.writeFileSync(path.join(graphOnly, 'manifest.json'), JSON.stringify({ ...m, graph_only: true }));
  assert.match((await cli(['run', graphOnly, '--prompt', 'x'])).stderr, /PD7015: the artifact holds graphs only/);
  fs.rmSync(path.join(graphOnly, 'unet.onnx.data'));
  fs.writeFileSync(path.join(graphOnly, 'manifest.json'), JSON.stringify(m));
  assert.match(
    (await cli(['run', graphOnly, '--prompt', 'x'])).stderr,
    /PD1001: the artifact is incomplete: unet\.onnx\.data listed/,
  );
  // A weights file changed after compile: named, with what differs.
  const changed = await artifact('changed', 'schedule: {steps: 2}\n');
  const data = path.join(changed, 'vae_decoder.onnx.data');
  const bytes = fs.readFileSync(data);
  bytes[bytes.length >> 1] ^= 1;
  fs.writeFileSync(data, bytes);
  const flipped = await cli(['run', changed, '--prompt', 'x']);
  assert.is(flipped.status, 2);
  assert.match(
    flipped.stderr,
    /vae_decoder\.onnx\.data.*error PD7015: vae_decoder\.onnx\.data is not the file compile wrote \(sha256 [0-9a-f]{16}…, manifest\.json says [0-9a-f]{16}…\)/,
  );
  fs.truncateSync(data, 100);
  assert.match(
    (await cli(['run', changed, '--prompt', 'x'])).stderr,
    /vae_decoder\.onnx\.data is not the file compile wrote \(100 bytes, manifest\.json says \d+\)/,
  );
  const target = await artifact(
    'target',
    'schedule: {steps: 2}\ntargets:\n  - {device: iphone-14-pro, resolution: 64}\n',
  );
  const size = await cli(['run', target, '--prompt', 'x', '--size', '128', '--out', path.join(work, 'e.png')]);
  assert.is(size.status, 2);
  assert.match(size.stderr, /compiled for 64×64 images/);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.run();

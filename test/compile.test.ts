// The compile pipeline end to end on real exports (the tiny fixtures, and a
// tiny CLIP text encoder built from its config): artifacts, manifests,
// determinism, atomic output, targets, and the SnapFusion recipe at full scale
// (graph only).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ort from 'onnxruntime-node';
import { main } from '../src/cli.ts';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { validateAgainst } from '../src/schema/validate.ts';
import { computeSchedule, DEFAULT_SCHEDULE } from '../src/schedule/index.ts';
import { inspectModel } from '../src/commands/inspect.ts';
import { MANIFEST_SCHEMA, type Manifest } from '../src/artifact/manifest.ts';
import { buildConfigFile, tinyTextEncoder } from './support/builder-fixtures.ts';
import { tempDir } from './support/ort.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const work = tempDir('pocketdiff-compile-');
const textEncoder = tinyTextEncoder(work);

function recipe(name: string, body: string, unet = 'test/fixtures/unet-tiny/model.onnx'): string {
  const file = path.join(work, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `model:\n  unet: ${path.join(ROOT, unet)}\n  vae_decoder: ${path.join(ROOT, 'test/fixtures/vae-decoder-tiny/model.onnx')}\n  text_encoder: ${unet.includes('narrow') ? path.join(ROOT, 'test/fixtures/text-encoder-narrow/model.onnx') : textEncoder}\n${body}`,
  );
  return file;
}

async function mustCompile(file: string, out: string) {
  const log = new DiagnosticLog();
  const artifacts = await compile(file, { out }, log);
  assert.ok(artifacts, log.items.map(formatDiagnostic).join('\n'));
  return artifacts!;
}

/** Whether any process of the group `pgid` still runs. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const readManifest = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

const TINY = `unet:
  remove: [down_blocks.1.attentions.0]
  duplicate: [up_blocks.0.attentions.1]
schedule: {steps: 4, spacing: trailing}
guidance: {scale: 5}
`;

test('a recipe without targets gives one generic artifact with dynamic dims', async () => {
  const out = path.join(work, 'out-generic');
  const [a] = await mustCompile(recipe('tiny', TINY), out);
  assert.is(a.device, 'generic');
  assert.is(a.dir, path.join(out, 'tiny', 'generic'));
  const m = readManifest(a.dir);
  assert.ok(validateAgainst(MANIFEST_SCHEMA, m, new DiagnosticLog(), 'manifest'));
  assert.equal(
    m.models.unet!.inputs.map((i) => i.name),
    ['sample', 'timestep', 'encoder_hidden_states', 'uncond_encoder_hidden_states', 'guidance_scale'],
  );
  assert.equal(
    m.models.unet!.outputs.map((o) => o.name),
    ['noise_pred'],
  );
  assert.equal(m.models.unet!.inputs[0].shape, [1, 4, 'height', 'width']);
  assert.equal(m.models.unet!.passes, ['remove-blocks', 'duplicate-blocks', 'fold-cfg']);
  const expected = computeSchedule({ ...DEFAULT_SCHEDULE, scheduler: 'ddim', steps: 4, spacing: 'trailing' });
  assert.equal(m.schedule.timesteps, expected.timesteps);
  assert.equal(m.schedule.alphas_cumprod, expected.alphas_cumprod);
  assert.is(m.schedule.final_alpha_cumprod, expected.final_alpha_cumprod);
  assert.equal(m.guidance, { scale: 5, fold: 'batch', uncond: 'input' });
  // every file listed, with its real hash; nothing unlisted but the manifest
  const files = fs
    .readdirSync(a.dir)
    .filter((f) => f !== 'manifest.json')
    .sort();
  assert.equal(Object.keys(m.files).sort(), files);
  for (const f of files) assert.is(m.files[f].sha256, sha(path.join(a.dir, f)), f);
  assert.match(fs.readFileSync(path.join(a.dir, 'report.md'), 'utf8'), /down_blocks\.1\.attentions\.0/);
  // the dynamic artifact runs at a size of the caller's choosing
  const session = await ort.InferenceSession.create(path.join(a.dir, 'unet.onnx'));
  const f32 = (dims: number[], fill = (i: number) => Math.sin(i)) =>
    new ort.Tensor(
      'float32',
      Float32Array.from({ length: dims.reduce((x, y) => x * y) }, (_, i) => fill(i)),
      dims,
    );
  const r = await session.run({
    sample: f32([1, 4, 16, 24]),
    timestep: new ort.Tensor('int64', BigInt64Array.of(500n), [1]),
    encoder_hidden_states: f32([1, 77, 32]),
    uncond_encoder_hidden_states: f32([1, 77, 32], () => 0),
    guidance_scale: f32([1], () => 7.5),
  });
  assert.equal(r.noise_pred.dims, [1, 4, 16, 24]);
  assert.ok((r.noise_pred.data as Float32Array).every(Number.isFinite));
});

test('a target gets static shapes and its own folder; fold_step adds step_index and prev_sample', async () => {
  const out = path.join(work, 'out-target');
  const body = TINY.replace(
    'schedule: {steps: 4, spacing: trailing}',
    'schedule: {steps: 4, fold_step: true, prediction_type: v_prediction}',
  );
  // The tiny decoder upsamples 2×: a 64-pixel image is a 32×32 latent.
  const file = recipe(
    'target',
    `${body}targets:\n  - {device: iphone-14-pro, resolution: 64}\n  - {device: galaxy-s23, resolution: 128}\n`,
  );
  const artifacts = await mustCompile(file, out);
  assert.equal(
    artifacts.map((a) => a.device),
    ['iphone-14-pro', 'galaxy-s23'],
  );
  const m = readManifest(artifacts[0].dir);
  assert.is(m.resolution, 64);
  assert.equal(m.models.unet!.inputs.find((i) => i.name === 'sample')!.shape, [1, 4, 32, 32]);
  assert.equal(
    m.models.unet!.inputs.map((i) => i.name),
    ['sample', 'step_index', 'encoder_hidden_states', 'uncond_encoder_hidden_states', 'guidance_scale'],
  );
  assert.equal(
    m.models.unet!.outputs.map((o) => o.name),
    ['noise_pred', 'prev_sample'],
  );
  assert.equal(m.models.vae_decoder!.inputs[0].shape, [1, 4, 32, 32]);
  assert.equal(m.models.text_encoder!.inputs[0].shape, [1, 77]);
  assert.is(m.schedule.folded_step, true);
  assert.equal(readManifest(artifacts[1].dir).models.unet!.inputs[0].shape, [1, 4, 64, 64]);
  const session = await ort.InferenceSession.create(path.join(artifacts[0].dir, 'unet.onnx'));
  assert.equal(session.inputNames, [
    'sample',
    'step_index',
    'encoder_hidden_states',
    'uncond_encoder_hidden_states',
    'guidance_scale',
  ]);
});

test('widths and quantize are applied per model and recorded in the manifest', async () => {
  const out = path.join(work, 'out-quant');
  const file = recipe(
    'quant',
    `widths:\n  vae_decoder: {"*": 0.5}\nquantize:\n  unet: fp16\n  vae_decoder: int8\nschedule: {steps: 4}\n`,
  );
  const [a] = await mustCompile(file, out);
  const m = readManifest(a.dir);
  assert.is(m.models.unet!.quantization, 'fp16');
  assert.is(m.models.vae_decoder!.quantization, 'int8');
  assert.equal(m.models.vae_decoder!.widths, { '*': 0.5 });
  assert.equal(m.models.vae_decoder!.passes, ['prune-channels', 'quantize']);
  assert.is(m.models.text_encoder!.quantization, undefined);
  // fp16 weights: about half the bytes of the fp32 fixture's
  const fp32 = fs.statSync(path.join(ROOT, 'test/fixtures/unet-tiny/model.onnx')).size;
  const fp16 = m.files['unet.onnx'].bytes + (m.files['unet.onnx.data']?.bytes ?? 0);
  assert.ok(fp16 < 0.6 * fp32, `fp16 UNet ${fp16} bytes vs fp32 ${fp32}`);
  // the quantized, pruned decoder still runs
  const session = await ort.InferenceSession.create(path.join(a.dir, 'vae_decoder.onnx'));
  const latent = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.cos(i)),
    [1, 4, 8, 8],
  );
  const r = await session.run({ latent_sample: latent });
  assert.equal(r.sample.dims, [1, 3, 16, 16]);
  assert.ok((r.sample.data as Float32Array).every(Number.isFinite));
});

test('int4 keeps the model ends at int8 by default, and the manifest says int4+int8', async () => {
  const file = recipe(
    'int4',
    `quantize:\n  vae_decoder: int4\n  text_encoder: {scheme: int4, keep_int8: []}\nschedule: {steps: 4}\n`,
  );
  const [a] = await mustCompile(file, path.join(work, 'out-int4'));
  const m = readManifest(a.dir);
  assert.is(m.models.vae_decoder!.quantization, 'int4+int8');
  assert.is(m.models.text_encoder!.quantization, 'int4');
  assert.is(m.models.unet!.quantization, undefined);
  const session = await ort.InferenceSession.create(path.join(a.dir, 'vae_decoder.onnx'));
  const r = await session.run({
    latent_sample: new ort.Tensor(
      'float32',
      Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.cos(i)),
      [1, 4, 8, 8],
    ),
  });
  assert.ok((r.sample.data as Float32Array).every(Number.isFinite));
});

test('the same recipe and models give byte-identical artifacts', async () => {
  const file = recipe('same', TINY);
  const [a] = await mustCompile(file, path.join(work, 'out-a'));
  const [b] = await mustCompile(file, path.join(work, 'out-b'));
  const list = (d: string) => fs.readdirSync(d).sort();
  assert.equal(list(a.dir), list(b.dir));
  for (const f of list(a.dir))
    assert.ok(fs.readFileSync(path.join(a.dir, f)).equals(fs.readFileSync(path.join(b.dir, f))), f);
});

test('a compile killed midway never leaves a folder that looks complete', async () => {
  const file = recipe(
    'killed',
    'unet:\n  remove: [down_blocks.1.attentions.0]\n',
    'test/fixtures/unet-sd15shape-narrow/model.onnx',
  );
  const out = path.join(work, 'out-killed');
  const final = path.join(out, 'killed', 'generic');
  let sawPartial = false;
  const partial = path.join(out, 'killed', '.generic.partial');
  // Kill at several moments after the artifact folder has started to be written.
  for (const delay of [0, 40, 120, 300, 700, 1500]) {
    fs.rmSync(out, { recursive: true, force: true });
    // Its own process group, killed whole: the CLI runs compile in a child it supervises.
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/pocketdiff.js'), 'compile', file, '--out', out], {
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((r) => child.on('exit', r));
    let running = true;
    void exited.then(() => (running = false));
    while (running && !fs.existsSync(partial)) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, delay));
    if (running && fs.existsSync(partial)) sawPartial = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
    // The group's other process (the compile itself) is gone too before the folder is looked at.
    while (groupAlive(child.pid!)) await new Promise((r) => setTimeout(r, 10));
    if (!fs.existsSync(final)) continue;
    // If the final folder exists, it is complete: a valid manifest whose hashes all hold.
    const m = readManifest(final);
    for (const [f, h] of Object.entries(m.files))
      assert.is(sha(path.join(final, f)), h.sha256, `${f} after a kill at +${delay} ms`);
  }
  assert.ok(sawPartial, 'some kill landed while the artifact was being written');
});

test('a model without its weights stops the compile (PD7021 at its recipe line); --graph-only writes graphs only, as asked', async () => {
  const dir = path.join(work, 'weightless');
  const unet = path.join(dir, 'unet.onnx');
  assert.is(
    await main(
      ['convert', path.join(ROOT, 'test/fixtures/unet-tiny/model.onnx'), unet, '--external-data', 'unet.onnx.data'],
      { log: new DiagnosticLog(), stdout: () => {}, stderr: () => {} },
    ),
    0,
  );
  fs.rmSync(path.join(dir, 'unet.onnx.data'));
  const file = path.join(dir, 'weightless.yaml');
  fs.writeFileSync(
    file,
    fs.readFileSync(recipe('weightless-src', TINY), 'utf8').replace(/^  unet: .*$/m, `  unet: ${unet}`),
  );
  const out = path.join(work, 'out-weightless');
  const log = new DiagnosticLog();
  assert.is(await compile(file, { out }, log), undefined);
  assert.equal(log.codes(), ['PD7021']);
  assert.match(
    formatDiagnostic(log.items[0]),
    /weightless\.yaml:2:9: error PD7021: model\.unet \(.*unet\.onnx\) has no weights: its weights file 'unet\.onnx\.data' is missing beside it\n  note: an artifact of graphs only .* `pocketdiff compile --graph-only`/,
  );
  assert.not.ok(fs.existsSync(out), 'nothing written');

  // Asked for: every model's graph, no model's weights, and the JSON says so.
  const lines: string[] = [];
  const status = await main(['compile', file, '--out', out, '--graph-only', '--json'], {
    log: new DiagnosticLog(),
    stdout: (t) => lines.push(t),
    stderr: () => {},
  });
  assert.is(status, 0);
  const [a] = JSON.parse(lines.join('\n')).artifacts;
  assert.is(a.graph_only, true);
  const m = readManifest(a.dir);
  assert.is(m.graph_only, true);
  assert.equal(
    Object.keys(m.files).filter((f) => f.endsWith('.data')),
    [],
  );
  assert.equal(
    fs.readdirSync(a.dir).filter((f) => f.endsWith('.data')),
    [],
  );
  // The same recipe with the weights there compiles them all.
  const full = await mustCompile(recipe('weighted', TINY), out);
  assert.is(full[0].graph_only, false);
  assert.ok(
    fs.existsSync(path.join(full[0].dir, 'unet.onnx.data')) &&
      fs.existsSync(path.join(full[0].dir, 'vae_decoder.onnx.data')),
  );
});

test("check is compile without the writing: a target over its budget exits 3 (PD7019); the default's widths are checked without a weights warning", async () => {
  const run = async (file: string, ...more: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const status = await main(['check', file, ...more], {
      log: new DiagnosticLog(),
      stdout: (t) => out.push(t),
      stderr: (t) => err.push(t),
    });
    return { status, out: out.join('\n'), err: err.join('\n') };
  };
  const over = await run(path.join(ROOT, 'recipes/snapfusion-galaxy-s23.yaml'));
  assert.is(over.status, 3, over.err);
  assert.match(
    over.out,
    /snapfusion-galaxy-s23\.yaml: over budget on galaxy-s23\n  galaxy-s23: predicted [\d,]+ ms \(80%: [\d,]+–[\d,]+\) of a 2,000 ms budget: OVER/,
  );
  assert.match(over.err, /warning PD7019: galaxy-s23: predicted [\d,]+ ms exceeds budget_ms 2000$/m);
  const json = JSON.parse((await run(path.join(ROOT, 'recipes/snapfusion-galaxy-s23.yaml'), '--json')).out);
  assert.equal(json.budget_exceeded, ['galaxy-s23']);
  assert.ok(json.targets[0].predicted_ms > json.targets[0].budget_ms && json.targets[0].within_budget === false);
  // The same prediction compile makes (the recipe plan, priced the same way).
  const priced = await run(path.join(ROOT, 'recipes/snapfusion-iphone14pro.yaml'), '--json');
  assert.is(priced.status, 0, priced.err);
  assert.is(JSON.parse(priced.out).targets[0].predicted_ms > 0, true);
  // vae_decoder widths on the weightless default: checked, and no 'no weights to rank channels by' warning.
  assert.not.match(priced.err, /PD9004/);
  assert.is((await run(path.join(ROOT, 'recipes/example.yaml'))).status, 0);
});

test('models that do not fit together stop check and compile at the recipe line (PD7022), naming both sides', async () => {
  // A 64-wide text encoder for the UNet that cross-attends to 32.
  const wide = recipe('mismatch-te', TINY).replace(/\.yaml$/, '.yaml');
  fs.writeFileSync(
    wide,
    fs
      .readFileSync(wide, 'utf8')
      .replace(
        /^  text_encoder: .*$/m,
        `  text_encoder: ${path.join(ROOT, 'test/fixtures/text-encoder-narrow/model.onnx')}`,
      ),
  );
  let log = new DiagnosticLog();
  assert.is(await compile(wide, { out: path.join(work, 'out-mismatch') }, log), undefined);
  assert.equal(log.codes(), ['PD7022']);
  assert.match(
    formatDiagnostic(log.items[0]),
    /mismatch-te\.yaml:4:17: error PD7022: model\.text_encoder \(.*text-encoder-narrow\/model\.onnx\) gives hidden states 64 wide, but model\.unet \(.*unet-tiny\/model\.onnx\) cross-attends to 32: the text encoder's hidden size must be the UNet's cross_attention_dim\n  note: model\.unet is .*unet-tiny\/model\.onnx \(.*mismatch-te\.yaml:2:9\)/,
  );
  assert.not.ok(fs.existsSync(path.join(work, 'out-mismatch')));
  const errors: string[] = [];
  assert.is(
    await main(['check', wide], { log: new DiagnosticLog(), stdout: () => {}, stderr: (t) => errors.push(t) }),
    2,
  );
  assert.match(errors.join('\n'), /error PD7022/);

  // A decoder of 8-channel latents for the UNet's 4.
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'models/test/vae-decoder-tiny.json'), 'utf8'));
  const cfg = path.join(work, 'vae-8', 'config.json');
  fs.mkdirSync(path.dirname(cfg), { recursive: true });
  fs.writeFileSync(cfg, JSON.stringify({ ...config, latent_channels: 8 }));
  const vae8 = buildConfigFile(cfg, path.join(work, 'vae-8', 'built'));
  const latents = recipe('mismatch-vae', TINY);
  fs.writeFileSync(latents, fs.readFileSync(latents, 'utf8').replace(/^  vae_decoder: .*$/m, `  vae_decoder: ${vae8}`));
  log = new DiagnosticLog();
  assert.is(await compile(latents, { out: path.join(work, 'out-mismatch') }, log), undefined);
  assert.equal(log.codes(), ['PD7022']);
  assert.match(
    log.items[0].message,
    /^model\.vae_decoder \(.*\) decodes latents of 8 channels, but model\.unet \(.*unet-tiny\/model\.onnx\) takes latents of 4$/,
  );
  assert.is(log.items[0].location?.line, 3);
});

test("reports compare like with like: before and after at the target's resolution, per call and per step said, the batch of a folded call, plain paths, the description; report.html has no raw Markdown", async () => {
  const file = recipe(
    'report-64',
    `description: two blocks out, for the report\n${TINY.replace(/  duplicate: .*\n/, '')}targets:\n  - {device: galaxy-s23, resolution: 64}\n`,
  );
  const [a] = await mustCompile(file, path.join(work, 'out-report'));
  const md = fs.readFileSync(path.join(a.dir, 'report.md'), 'utf8');
  assert.match(md, /^> two blocks out, for the report$/m);
  assert.match(
    md,
    /\| model \| source \| params before \| params after \| GMACs per call before \| GMACs per call after \| blocks after \|/,
  );
  // The decoder is not edited: at one resolution its MACs before and after are the same number.
  const vae = md
    .split('\n')
    .find((l) => l.startsWith('| vae_decoder |'))!
    .split('|')
    .map((x) => x.trim());
  assert.is(vae[5], vae[6], `before ${vae[5]} vs after ${vae[6]}`);
  assert.match(
    md,
    /MACs are per call of each model, before and after alike at 64×64\. Per denoising step the UNet costs [\d.]+ GMACs before \(two batch-1 calls for guidance\) and [\d.]+ GMACs after \(one batch-2 call\)\./,
  );
  assert.match(md, /^\| UNet \| [\d.]+ ms \| 4 steps × 1 call of batch 2 × [\d.]+ ms per call \|$/m);
  // What the recipe saves against its source models run the same way (and the manifest keeps the number).
  const m = readManifest(a.dir);
  assert.ok(
    m.prediction!.baseline_ms! > m.prediction!.total_ms,
    `${m.prediction!.baseline_ms} vs ${m.prediction!.total_ms}`,
  );
  assert.match(
    md,
    /^Against the source models unedited \(no removals or copies, every channel, float weights\) with the same steps and guidance, [\d.]+ ms per image: the recipe saves [\d.]+ ms \(−[\d.]+%\)\.$/m,
  );
  // A path outside the working directory is shown whole, not as ../../…
  assert.ok(
    !path.relative(process.cwd(), work).startsWith('..') || md.includes(`Recipe \`${file}\``),
    md.split('\n')[4],
  );
  assert.not.match(md, /\.\.\/\.\.\//);
  const html = fs.readFileSync(path.join(a.dir, 'report.html'), 'utf8');
  assert.not.match(html, /\| --- \|/);
  assert.match(html, /<h2[^>]*>Prediction details<\/h2>[^]*<th>component<\/th><th>ms per image<\/th><th>how<\/th>/);
  assert.match(html, /two blocks out, for the report/);
});

test('Ctrl-C mid-compile stops within a second or two, removes what the run half-wrote, says so and exits 130; SIGTERM to the CLI alone, 143', async () => {
  const out = path.join(work, 'out-interrupt');
  const partial = path.join(out, 'snapfusion-iphone14pro', '.iphone-14-pro.partial');
  for (const [signal, group, status] of [
    ['SIGINT', true, 130],
    ['SIGTERM', false, 143],
  ] as const) {
    fs.rmSync(out, { recursive: true, force: true });
    // The README's main job, writing 3.4 GB of weights: long enough to be interrupted mid-write.
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin/pocketdiff.js'),
        'compile',
        path.join(ROOT, 'recipes/snapfusion-iphone14pro.yaml'),
        '--out',
        out,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    while (!fs.existsSync(partial)) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    // A terminal's Ctrl-C signals the whole foreground group; `kill PID` only the CLI.
    process.kill(group ? -child.pid! : child.pid!, signal);
    const code = await exited;
    const seconds = (performance.now() - t0) / 1000;
    while (groupAlive(child.pid!)) await new Promise((r) => setTimeout(r, 10));
    assert.is(code, status, err);
    assert.ok(seconds < 2, `stopped ${seconds.toFixed(2)} s after ${signal}`);
    assert.match(
      err,
      new RegExp(
        `interrupted \\(${signal}\\): removed .*\\.iphone-14-pro\\.partial \\([\\d.]+ [KMG]iB\\), which the run had half-written; nothing else was changed`,
      ),
    );
    assert.not.ok(fs.existsSync(partial), 'the half-written folder is gone');
    assert.not.ok(fs.existsSync(path.join(out, 'snapfusion-iphone14pro', 'iphone-14-pro')), 'no artifact');
    console.log(
      `    ${signal}${group ? ' to the group' : ' to the CLI'}: stopped in ${seconds.toFixed(2)} s, exit ${code}`,
    );
  }
});

test('compile --json prints the artifacts; errors exit 2', async () => {
  const lines: string[] = [];
  const out = path.join(work, 'out-json');
  const status = await main(['compile', recipe('json', TINY), '--out', out, '--json'], {
    log: new DiagnosticLog(),
    stdout: (t) => lines.push(t),
    stderr: () => {},
  });
  assert.is(status, 0);
  const printed = JSON.parse(lines.join('\n'));
  assert.equal(
    printed.artifacts.map((a: { device: string }) => a.device),
    ['generic'],
  );
  assert.ok(fs.existsSync(printed.artifacts[0].manifest));
  const errors: string[] = [];
  const bad = recipe('bad', 'unet:\n  remove: [down_blocks.9.resnets.0]\n');
  assert.is(
    await main(['compile', bad, '--out', out], {
      log: new DiagnosticLog(),
      stdout: () => {},
      stderr: (t) => errors.push(t),
    }),
    2,
  );
  assert.match(errors.join('\n'), /bad\.yaml:6:12: error PD5001: no block matches 'down_blocks\.9\.resnets\.0'/);
  assert.not.ok(fs.existsSync(path.join(out, 'bad')));
});

test('the SnapFusion recipe compiles against the embedded default: 14 cross-attention and 17 ResNet blocks', async () => {
  const log = new DiagnosticLog();
  const out = path.join(work, 'out-snapfusion');
  // Graph only: its quantize: entries need weights, so this copy leaves them out (the rest is the recipe).
  const text = fs
    .readFileSync(path.join(ROOT, 'recipes/snapfusion-iphone14pro.yaml'), 'utf8')
    .replace(/\nquantize:\n(  .*\n)+/, '\n');
  assert.not.match(text, /quantize:/);
  const file = path.join(work, 'snapfusion-iphone14pro.yaml');
  fs.writeFileSync(file, text);
  const artifacts = await compile(file, { out, graphOnly: true }, log);
  assert.ok(artifacts, log.items.map(formatDiagnostic).join('\n'));
  const report = inspectModel(path.join(artifacts![0].dir, 'unet.onnx'), [], log)!;
  assert.ok(report, log.items.map(formatDiagnostic).join('\n'));
  const count = (kind: string) => report.blocks.filter((b) => b.kind === kind).length;
  assert.is(count('cross_attention'), 14);
  assert.is(count('resnet'), 17);
  const m = readManifest(artifacts![0].dir);
  assert.equal(m.schedule.timesteps, [999, 874, 749, 624, 499, 374, 249, 124]);
  assert.is(m.schedule.prediction_type, 'v_prediction');
  assert.is(m.graph_only, true);
  // SnapFusion's decoder: half of every layer's channels.
  assert.equal(m.models.vae_decoder!.widths, { '*': 0.5 });
  const vae = inspectModel(path.join(artifacts![0].dir, 'vae_decoder.onnx'), [], log)!;
  assert.ok(vae.params < 0.3 * 49490199, `${vae.params}`);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.run();

// One recipe plan: `whatif` and `compile` price a recipe through the same code
// (steps/recipe-cost.ts), so they agree on every target, with widths on any
// model, quantization, removals and duplications; widths and precision move
// the price; guidance.fold: auto picks per target and compile emits what it
// picked. Real files and real passes throughout: the test fixtures (with
// weights) and a tiny CLIP text encoder built from its config.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Manifest } from '../src/artifact/manifest.ts';
import { main } from '../src/cli.ts';
import { predictModel } from '../src/cost/predict-model.ts';
import { whatIf } from '../src/steps/whatif.ts';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { loadDevice } from '../src/devices/index.ts';
import { planRecipe, priceRecipe } from '../src/steps/recipe-cost.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import { tempDir } from './support/temp.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const work = tempDir('pocketdiff-recipe-cost-');
const textEncoder = path.join(import.meta.dirname, 'fixtures', 'text-encoder-narrow', 'model.onnx');
const fixture = (name: string) => path.join(ROOT, 'test/fixtures', name, 'model.onnx');

function recipe(name: string, body: string): string {
  const file = path.join(work, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `model:\n  unet: ${fixture('unet-sd15shape-narrow')}\n  vae_decoder: ${fixture('vae-decoder-tiny')}\n  text_encoder: ${textEncoder}\n${body}`,
  );
  return file;
}

const EDITS = `unet:
  remove: [down_blocks.0.attentions.*, mid_block.attentions.0]
  duplicate: [up_blocks.1.attentions.0]
schedule: {steps: 4, spacing: trailing}
`;
const TARGETS = `targets:
  - {device: galaxy-s23, resolution: 256}
  - {device: local-cpu, resolution: 256}
`;
const FULL = recipe(
  'full',
  `${EDITS}widths:
  vae_decoder: {"*": 0.5}
quantize:
  unet: w8a16
  vae_decoder: int8
${TARGETS}`,
);
// The Neural Engine takes 8-bit weights but no quantized activations (w8a16 there is PD7014).
const IPHONE = recipe(
  'iphone',
  `${EDITS}widths:
  vae_decoder: {"*": 0.5}
  unet: {"up_blocks.*.resnets.*": 0.5}
quantize: {unet: int8, vae_decoder: int8, text_encoder: int8}
guidance: {fold: auto}
targets:
  - {device: iphone-14-pro, resolution: 256}
`,
);

const manifest = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));

async function price(file: string, device: string, opts: Parameters<typeof whatIf>[1] = { device }) {
  const log = new DiagnosticLog();
  const r = await whatIf(file, { ...opts, device }, log);
  assert.ok(r, log.items.map(formatDiagnostic).join('\n'));
  return r!.report;
}

test('whatif and compile price a recipe with widths, quantization, removals and duplicates the same, on every target', async () => {
  const log = new DiagnosticLog();
  const artifacts = [
    ...((await compile(FULL, { out: path.join(work, 'out-full') }, log)) ?? []),
    ...((await compile(IPHONE, { out: path.join(work, 'out-iphone') }, log)) ?? []),
  ];
  assert.is(artifacts.length, 3, log.items.map(formatDiagnostic).join('\n'));
  for (const a of artifacts) {
    const m = manifest(a.dir);
    const w = await price(a.device === 'iphone-14-pro' ? IPHONE : FULL, a.device);
    assert.ok(m.prediction, a.device);
    assert.ok(
      Math.abs(m.prediction!.total_ms - w.total_ms) < 1e-3,
      `${a.device}: compile ${m.prediction!.total_ms} vs whatif ${w.total_ms}`,
    );
    assert.ok(
      Math.abs(m.prediction!.interval_80![0] - w.interval_80![0]) < 1e-3 &&
        Math.abs(m.prediction!.interval_80![1] - w.interval_80![1]) < 1e-3,
    );
    const [lo, hi] = m.prediction!.interval_80!;
    assert.ok(
      lo <= m.prediction!.total_ms && m.prediction!.total_ms <= hi,
      `${a.device}: [${lo}, ${hi}] ∌ ${m.prediction!.total_ms}`,
    );
    // compile --json rounds to the microsecond; the manifest keeps every digit.
    assert.equal(
      a.interval_80,
      m.prediction!.interval_80!.map((x) => Math.round(x * 1000) / 1000),
    );
    assert.equal(m.prediction!.precision, w.precision);
    // The artifact holds what was priced: the decoder at half width, the UNet quantized.
    assert.equal(m.models.vae_decoder!.widths, { '*': 0.5 });
    assert.is(m.models.unet!.quantization, a.device === 'iphone-14-pro' ? 'int8' : 'w8a16');
  }
  // The report says it, with the interval.
  const report = fs.readFileSync(path.join(artifacts[0].dir, 'report.md'), 'utf8');
  assert.match(report, /per image on galaxy-s23 \(80% interval: [\d.]+ ms to [\d.]+ ms\)/);
});

test('widths on the decoder and quantize: entries change the price where the profile has rows to say by how much', async () => {
  const plain = recipe('plain', `${EDITS}${TARGETS}`);
  const s23 = await price(plain, 'galaxy-s23');
  const full = await price(FULL, 'galaxy-s23');
  // Half the decoder's channels: cheaper, by exactly what the decoder compile emits costs.
  assert.ok(
    full.components.vae_decoder.ms < s23.components.vae_decoder.ms,
    `${full.components.vae_decoder.ms} vs ${s23.components.vae_decoder.ms}`,
  );
  const halved = recipe(
    'halved',
    `${EDITS}widths:\n  vae_decoder: {"*": 0.5}\ntargets:\n  - {device: galaxy-s23, resolution: 256}\n`,
  );
  const log0 = new DiagnosticLog();
  const [a] = (await compile(halved, { out: path.join(work, 'out-halved') }, log0)) ?? [];
  assert.ok(a, log0.items.map(formatDiagnostic).join('\n'));
  const emitted = await predictModel(path.join(a.dir, 'vae_decoder.onnx'), 'galaxy-s23', [], log0);
  const priced = await price(halved, 'galaxy-s23');
  assert.ok(
    emitted && Math.abs(emitted.ms - priced.components.vae_decoder.ms) < 1e-3,
    `emitted ${emitted?.ms} vs priced ${priced.components.vae_decoder.ms}`,
  );
  // w8a16 on the UNet against the NPU's float16: the Galaxy S23 rows at both precisions say it is faster.
  assert.ok(full.components.unet.ms_per_step < s23.components.unet.ms_per_step);
  assert.is(full.precision.unet, 'w8a16');
  // Without quantize:, a float graph runs at the NPU's float16.
  assert.is(s23.precision.unet, 'fp16');
  // whatif --width reaches the decoder with the recipe's own meaning, and --quantize speaks the recipe's vocabulary.
  const narrowed = await price(plain, 'galaxy-s23', { device: 'galaxy-s23', width: ['vae_decoder/*=0.5'] });
  // (the recipe with the same widths and no quantize:, so the decoder is priced at the same precision)
  assert.ok(
    Math.abs(narrowed.components.vae_decoder.ms - priced.components.vae_decoder.ms) < 1e-6,
    `${narrowed.components.vae_decoder.ms} vs ${priced.components.vae_decoder.ms}`,
  );
  const w8a8 = await price(plain, 'galaxy-s23', { device: 'galaxy-s23', quantize: 'w8a8' });
  const w8a16 = await price(plain, 'galaxy-s23', { device: 'galaxy-s23', quantize: 'w8a16' });
  assert.ok(
    w8a8.total_ms < w8a16.total_ms && w8a16.total_ms < s23.total_ms,
    `${w8a8.total_ms} < ${w8a16.total_ms} < ${s23.total_ms}`,
  );
  // A scheme the runtime has no kernels for falls back, and says so.
  const log = new DiagnosticLog();
  assert.ok(await whatIf(plain, { device: 'iphone-14-pro', quantize: 'w8a8' }, log));
  assert.equal(log.codes(), ['PD8011', 'PD8011', 'PD8011']);
  assert.match(log.items[0].message, /iphone-14-pro has no kernels for w8a8/);
});

test('a duplicated block is listed as the edited graph names it (`<block>+1`), whether the price is summed or read off the edited graph', async () => {
  const log = new DiagnosticLog();
  const profile = loadDevice('galaxy-s23', log)!;
  const rows = async (body: string) => {
    const loaded = loadRecipe(
      recipe(
        `dup-${body.length}`,
        `unet:\n  duplicate: [mid_block.attentions.0]\n${body}targets:\n  - {device: galaxy-s23, resolution: 256}\n`,
      ),
      log,
    )!;
    const p = await priceRecipe(planRecipe(loaded, 'galaxy-s23'), profile, log);
    assert.ok(p, log.items.map(formatDiagnostic).join('\n'));
    return new Map(
      p!.prediction.by_block.filter((b) => b.name.startsWith('unet/mid_block.attentions.0')).map((b) => [b.name, b.ms]),
    );
  };
  // Summed: the copy's ms from the block's own. Widths elsewhere make the table come from the edited graph.
  for (const m of [await rows(''), await rows('widths:\n  unet: {"up_blocks.*.resnets.*": 0.5}\n')]) {
    assert.equal([...m.keys()], ['unet/mid_block.attentions.0', 'unet/mid_block.attentions.0+1']);
    assert.ok(Math.abs(m.get('unet/mid_block.attentions.0')! - m.get('unet/mid_block.attentions.0+1')!) < 1e-9);
  }
});

test('guidance.fold: auto prices one batch-2 call against two calls per target, and compile emits each choice', async () => {
  // The embedded default at 512×512: on the Galaxy S23 one batch-2 call is cheaper (the weights are read once);
  // local-cpu prices the two about level and picks two calls.
  const file = path.join(work, 'auto.yaml');
  fs.writeFileSync(
    file,
    'schedule: {steps: 2}\nguidance: {fold: auto}\ntargets:\n  - {device: galaxy-s23}\n  - {device: local-cpu}\n',
  );
  const log = new DiagnosticLog();
  const loaded = loadRecipe(file, log)!;
  const chosen: Record<string, string> = {};
  for (const d of ['galaxy-s23', 'local-cpu']) {
    const p = (await priceRecipe(planRecipe(loaded, d), loadDevice(d, log)!, log))!;
    const { batch_ms, two_calls_ms } = p.guidance.auto!;
    assert.is(p.guidance.mode, batch_ms <= two_calls_ms ? 'batch' : 'two-calls');
    chosen[d] = p.guidance.mode;
  }
  assert.equal(
    chosen,
    { 'galaxy-s23': 'batch', 'local-cpu': 'two-calls' },
    'the profiles no longer disagree at 512×512: pick another pair',
  );
  const artifacts = await compile(file, { out: path.join(work, 'out-auto'), graphOnly: true }, log);
  assert.ok(artifacts, log.items.map(formatDiagnostic).join('\n'));
  const [s23, cpu] = artifacts!.map((a) => manifest(a.dir));
  assert.is(s23.guidance.fold, 'batch');
  assert.is(cpu.guidance.fold, 'none');
  assert.ok(s23.guidance.auto && cpu.guidance.auto);
  assert.ok(s23.models.unet!.passes.includes('fold-cfg'));
  assert.not.ok(cpu.models.unet!.passes.includes('fold-cfg'));
  // Each emitted the UNet it priced: folded with the guidance inputs, or as the source took them.
  assert.ok(s23.models.unet!.inputs.some((i) => i.name === 'guidance_scale'));
  assert.equal(
    cpu.models.unet!.inputs.map((i) => i.name),
    ['sample', 'timestep', 'encoder_hidden_states'],
  );
  assert.match(s23.prediction!.guidance!, /auto: one batch-2 UNet call per step/);
  assert.match(fs.readFileSync(path.join(artifacts![1].dir, 'report.md'), 'utf8'), /fold: auto: the cost model prices/);
});

test('compile warns when only the interval, not the prediction, is over budget, and exits 3 when the prediction is', async () => {
  const s23 = await price(FULL, 'galaxy-s23');
  const [lo, hi] = s23.interval_80!;
  const between = Math.round((s23.total_ms + hi) / 2);
  const run = async (budget: number) => {
    const file = recipe(
      `budget-${budget}`,
      `${EDITS}widths:\n  vae_decoder: {"*": 0.5}\nquantize:\n  unet: w8a16\n  vae_decoder: int8\ntargets:\n  - {device: galaxy-s23, resolution: 256, budget_ms: ${budget}}\n`,
    );
    const err: string[] = [];
    const status = await main(['compile', file, '--out', path.join(work, `out-budget-${budget}`)], {
      stdout: () => {},
      stderr: (t) => err.push(t),
    });
    return { status, err: err.join('\n') };
  };
  const risky = await run(between);
  assert.is(risky.status, 0, risky.err);
  assert.match(
    risky.err,
    /warning PD8012: galaxy-s23: predicted \d+ ms is within budget_ms \d+, but its 80% interval reaches \d+ ms/,
  );
  const over = await run(Math.floor(lo));
  assert.is(over.status, 3, over.err);
  assert.match(over.err, /PD7019/);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.run();

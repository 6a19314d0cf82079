// The cost model's commands, through the CLI: `predict --json`, `whatif
// --json` and `devices --json` keep the shapes CI scripts rely on; usage and
// lookup mistakes are coded diagnostics with did-you-means.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.ts';
import { tempDir } from './support/temp.ts';

async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

const UNET = path.resolve('test/fixtures/unet-sd15shape-narrow/model.onnx');
const VAE = path.resolve('test/fixtures/vae-decoder-tiny/model.onnx');
const dir = tempDir('pocketdiff-cost-cli-');
const RECIPE = path.join(dir, 'recipe.yaml');
fs.writeFileSync(
  RECIPE,
  `model: { unet: ${UNET}, vae_decoder: ${VAE}, text_encoder: ${path.resolve('test/fixtures/text-encoder-narrow/model.onnx')} }
unet:
  remove: [down_blocks.0.attentions.*]
  duplicate: [mid_block.attentions.0]
schedule: { steps: 8 }
targets:
  - { device: galaxy-s23, resolution: 256 }
`,
);

test('predict --json: {device, ms, interval_80, by_block: [{name, ms}]}, blocks summing to ms', async () => {
  const r = await cli('predict', UNET, '--device', 'galaxy-s23', '--input', 'sample=1,4,32,32', '--json');
  assert.is(r.status, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(Object.keys(j), ['device', 'ms', 'interval_80', 'by_block']);
  assert.ok(j.interval_80[0] <= j.ms && j.ms <= j.interval_80[1], JSON.stringify(j.interval_80));
  assert.is(j.device, 'galaxy-s23');
  assert.ok(j.ms > 0);
  assert.ok(j.by_block.every((b: { name: string; ms: number }) => Object.keys(b).join() === 'name,ms'));
  assert.ok(j.by_block.some((b: { name: string }) => b.name === 'mid_block.attentions.0'));
  assert.ok(Math.abs(j.by_block.reduce((s: number, b: { ms: number }) => s + b.ms, 0) - j.ms) < 0.01);
  const text = await cli('predict', UNET, '--device', 'galaxy-s23');
  assert.is(text.status, 0, text.err);
  assert.match(text.out, /on galaxy-s23: [\d.,]+ ms \(80%: [\d.,]+–[\d.,]+\)/);
});

test('predict --precision prices the scheme the profile has rows for; others fall back and say so', async () => {
  const at = async (...extra: string[]) => {
    const r = await cli('predict', UNET, '--device', 'galaxy-s23', '--input', 'sample=1,4,32,32', '--json', ...extra);
    assert.is(r.status, 0, r.err);
    return { ...JSON.parse(r.out), err: r.err };
  };
  const fp16 = await at();
  const w8a16 = await at('--precision', 'w8a16');
  const w8a8 = await at('--precision', 'w8a8');
  assert.is(w8a16.precision, 'w8a16');
  assert.ok(w8a8.ms < w8a16.ms && w8a16.ms < fp16.ms, `${w8a8.ms} < ${w8a16.ms} < ${fp16.ms}`);
  const ane = await cli(
    'predict',
    UNET,
    '--device',
    'iphone-14-pro',
    '--input',
    'sample=1,4,32,32',
    '--precision',
    'w8a8',
  );
  assert.is(ane.status, 0, ane.err);
  assert.match(ane.err, /PD8011: iphone-14-pro has no kernels for w8a8/);
  const bad = await cli('predict', UNET, '--device', 'galaxy-s23', '--precision', 'int16');
  assert.is(bad.status, 2);
  assert.match(bad.err, /PD8006: unknown --precision 'int16'/);
});

test("whatif --json: the stable shape, and the delta against the recipe's own plan", async () => {
  const own = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--json');
  assert.is(own.status, 0, own.err);
  const j = JSON.parse(own.out);
  assert.equal(Object.keys(j), [
    'device',
    'steps',
    'components',
    'total_ms',
    'interval_80',
    'delta_ms',
    'guidance',
    'precision',
    'top_blocks',
    'baseline',
  ]);
  // The baseline: the recipe's source models unedited, the same steps and guidance. This recipe removes
  // the first attentions and copies one: the baseline is what `whatif` gives with those edits undone.
  assert.ok(Math.abs(j.baseline.saved_ms - (j.baseline.total_ms - j.total_ms)) < 0.01);
  assert.ok(Math.abs(j.baseline.saved_pct - (100 * j.baseline.saved_ms) / j.baseline.total_ms) < 0.1);
  const bare = path.join(dir, 'bare.yaml');
  fs.writeFileSync(bare, fs.readFileSync(RECIPE, 'utf8').replace(/^unet:\n(  .*\n)+/m, ''));
  const plain = JSON.parse((await cli('whatif', bare, '--device', 'galaxy-s23', '--json')).out);
  assert.is(plain.baseline.total_ms, plain.total_ms, 'a recipe without edits saves nothing');
  assert.is(plain.baseline.saved_ms, 0);
  assert.is(j.baseline.total_ms, plain.total_ms, 'the same baseline whatever the recipe edits');
  assert.match(
    (await cli('whatif', RECIPE, '--device', 'galaxy-s23')).out,
    /^  uncompressed  source models, same steps +[\d.,]+ ms  \((saves [\d.,]+ ms, −[\d.]+%|costs [\d.,]+ ms more)\)$/m,
  );
  assert.is(j.top_blocks.length, 8);
  assert.ok(
    j.top_blocks.every(
      (b: { name: string; ms: number }, i: number, all: { ms: number }[]) =>
        /^(unet|text_encoder|vae_decoder)\//.test(b.name) && b.ms > 0 && (i === 0 || all[i - 1].ms >= b.ms),
    ),
  );
  assert.ok(j.interval_80[0] <= j.total_ms && j.total_ms <= j.interval_80[1]);
  assert.equal(Object.keys(j.components), ['text_encoder', 'unet', 'vae_decoder']);
  assert.equal(Object.keys(j.components.text_encoder), ['ms', 'runs']);
  assert.equal(Object.keys(j.components.unet), ['ms_per_step', 'calls_per_step', 'steps']);
  assert.equal(Object.keys(j.components.vae_decoder), ['ms']);
  assert.is(j.steps, 8);
  assert.is(j.delta_ms, 0);
  assert.is(j.components.text_encoder.runs, 2);
  const c = j.components;
  assert.ok(Math.abs(c.text_encoder.ms * 2 + c.unet.ms_per_step * 8 + c.vae_decoder.ms - j.total_ms) < 0.01);
  const more = await cli(
    'whatif',
    RECIPE,
    '--device',
    'galaxy-s23',
    '--remove',
    'mid_block.attentions.0',
    '--steps',
    '4',
    '--width',
    'up_blocks.*.resnets.*=0.5',
    '--json',
  );
  assert.is(more.status, 0, more.err);
  const m = JSON.parse(more.out);
  assert.is(m.steps, 4);
  assert.ok(m.delta_ms < 0 && m.total_ms < j.total_ms);
  assert.ok(Math.abs(m.total_ms - j.total_ms - m.delta_ms) < 0.01);
  const q = await cli('whatif', RECIPE, '--device', 'iphone-14-pro', '--quantize', 'w8a8', '--json');
  assert.is(q.status, 0, q.err);
  assert.match(q.err, /PD8011/); // the ANE profile does not compute in int8: priced as float16 with 8-bit weights
  const text = await cli('whatif', RECIPE, '--device', 'galaxy-s23');
  assert.match(text.out, /text encoder .* × 2 runs/);
  assert.match(text.out, /ms\/step × 8 steps/);
  assert.match(text.out, /total +[\d.,]+ ms \(80%: [\d.,]+–[\d.,]+\)/);
});

test('whatif mistakes are coded: unknown block, bad width, unknown scheme, unknown device', async () => {
  const block = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--remove', 'mid_block.attenions.0');
  assert.is(block.status, 2); // a user's mistake (Exit.Error)
  assert.match(block.err, /PD5001: no block matches 'mid_block.attenions.0'; did you mean 'mid_block.attentions.0'\?/);
  const width = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--width', 'up_blocks.1=0');
  assert.match(width.err, /PD8005/);
  // One rule for width values: whatif says what a recipe says, and takes channel counts as a recipe does.
  const rule =
    /width 1\.5 for 'up_blocks\.1' is neither a kept fraction nor a channel count: a width is a kept fraction in \(0, 1\] or a whole number of channels \(2 or more\)/;
  assert.match((await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--width', 'up_blocks.1=1.5')).err, rule);
  const dir = tempDir('cost-cli-widths');
  const recipe = path.join(dir, 'w.yaml');
  fs.writeFileSync(recipe, `extends: ${path.resolve(RECIPE)}\nwidths:\n  unet:\n    up_blocks.1: 1.5\n`);
  const checked = await cli('check', recipe);
  assert.is(checked.status, 2);
  assert.match(checked.err, /w\.yaml:4:18: error PD9001: /);
  assert.match(checked.err, rule);
  // mid_block's ResNets are 64 channels wide: 32 channels kept is half.
  const counted = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--width', 'mid_block.resnets.*=32', '--json');
  const halved = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--width', 'mid_block.resnets.*=0.5', '--json');
  assert.is(counted.status, 0, counted.err);
  assert.ok(JSON.parse(counted.out).delta_ms < 0);
  assert.is(JSON.parse(counted.out).total_ms, JSON.parse(halved.out).total_ms);
  const scheme = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--quantize', 'w8a61');
  assert.match(scheme.err, /PD8006: unknown --quantize scheme 'w8a61'; did you mean 'w8a16'\?/);
  // A model in the wrong role is refused as check refuses it, at the recipe line.
  const role = path.join(tempDir('cost-cli-role'), 'resnet.yaml');
  fs.writeFileSync(role, `model:\n  unet: ${path.resolve('models/calibration/tv-resnet50-224/model.onnx')}\n`);
  const wrong = await cli('whatif', role, '--device', 'galaxy-s23');
  assert.is(wrong.status, 2);
  assert.match(
    wrong.err,
    /resnet\.yaml:2:9: error PD7017: model\.unet \(model\.onnx\) is not a UNet: it lacks inputs 'sample', 'timestep', 'encoder_hidden_states'/,
  );
  const dev = await cli('whatif', RECIPE, '--device', 'galaxy-s32');
  assert.match(dev.err, /PD7009: unknown device 'galaxy-s32'; did you mean 'galaxy-s23'\?/);
  const usage = await cli('whatif', RECIPE);
  assert.is(usage.status, 2);
});

test('devices --json lists every profile with its sources', async () => {
  const r = await cli('devices', '--json');
  assert.is(r.status, 0, r.err);
  const { devices } = JSON.parse(r.out);
  const names = devices.map((d: { name: string }) => d.name);
  for (const n of [
    'iphone-11-pro',
    'iphone-14-pro',
    'iphone-14-pro-max',
    'galaxy-s23',
    'galaxy-s24',
    'galaxy-s24-2026-02',
    'galaxy-s25',
    'snapdragon-8-elite',
    'local-cpu',
  ])
    assert.ok(names.includes(n), n);
  for (const d of devices)
    assert.ok(d.sources.length > 0 && d.sources.every((s: { citation: string }) => s.citation.length > 0));
  const text = await cli('devices');
  assert.match(text.out, /galaxy-s23 {2}Samsung Galaxy S23/);
});

test('calibrate --dry-run on a phone: fitted groups, cross-validation beside the FLOPs baseline, the interval; nothing written', async () => {
  const file = 'models/devices/galaxy-s23.json';
  const before = fs.readFileSync(file, 'utf8');
  const r = await cli('calibrate', '--device', 'galaxy-s23', '--dry-run', '--json');
  assert.is(r.status, 0, r.err);
  const j = JSON.parse(r.out);
  assert.is(j.written, false);
  for (const g of ['w8a16', 'w8a8', 'conv', 'depthwise', 'linear', 'attention', 'memory', 'op', 'graph'])
    assert.ok(
      j.fitted.some((x: { id: string }) => x.id === g),
      g,
    );
  assert.ok(j.residuals.length >= 40);
  const cv = j.cross_validation;
  assert.ok(cv.architectures >= 20 && cv.rows.length === j.residuals.length);
  assert.ok(cv.scores.median_abs_error <= 0.2 && cv.scores.within_25 >= 0.7, JSON.stringify(cv.scores));
  assert.ok(cv.scores.median_abs_error < cv.flops.median_abs_error);
  assert.ok(cv.coverage_80 >= 0.7 && cv.coverage_80 <= 0.9);
  assert.ok(j.interval.lo < 0 && j.interval.hi > 0);
  assert.is(fs.readFileSync(file, 'utf8'), before);
  const text = await cli('calibrate', '--device', 'galaxy-s23', '--dry-run');
  assert.match(text.out, /leave-one-architecture-out \(\d+ architectures\): median \|error\| [\d.]+%/);
  assert.match(text.out, /FLOPs-proportional baseline on the same rows/);
  const reuse = await cli('calibrate', '--device', 'galaxy-s23', '--reuse', '--dry-run');
  assert.is(reuse.status, 2);
  assert.match(reuse.err, /PD3001/);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test.run();

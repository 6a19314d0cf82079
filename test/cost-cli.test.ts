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
  `model: { unet: ${UNET}, vae_decoder: ${VAE}, text_encoder: default }
unet:
  remove: [down_blocks.0.attentions.*]
  duplicate: [mid_block.attentions.0]
schedule: { steps: 8 }
targets:
  - { device: galaxy-s23, resolution: 256 }
`,
);

test('predict --json: {device, ms, by_block: [{name, ms}]}, blocks summing to ms', async () => {
  const r = await cli('predict', UNET, '--device', 'galaxy-s23', '--input', 'sample=1,4,32,32', '--json');
  assert.is(r.status, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(Object.keys(j), ['device', 'ms', 'by_block']);
  assert.is(j.device, 'galaxy-s23');
  assert.ok(j.ms > 0);
  assert.ok(j.by_block.every((b: { name: string; ms: number }) => Object.keys(b).join() === 'name,ms'));
  assert.ok(j.by_block.some((b: { name: string }) => b.name === 'mid_block.attentions.0'));
  assert.ok(Math.abs(j.by_block.reduce((s: number, b: { ms: number }) => s + b.ms, 0) - j.ms) < 0.01);
  const text = await cli('predict', UNET, '--device', 'galaxy-s23');
  assert.is(text.status, 0, text.err);
  assert.match(text.out, /on galaxy-s23: [\d.]+ ms/);
});

test('whatif --json: the stable shape, and the delta against the recipe\'s own plan', async () => {
  const own = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--json');
  assert.is(own.status, 0, own.err);
  const j = JSON.parse(own.out);
  assert.equal(Object.keys(j), ['device', 'steps', 'components', 'total_ms', 'delta_ms']);
  assert.equal(Object.keys(j.components), ['text_encoder', 'unet', 'vae_decoder']);
  assert.equal(Object.keys(j.components.text_encoder), ['ms', 'runs']);
  assert.equal(Object.keys(j.components.unet), ['ms_per_step', 'calls_per_step', 'steps']);
  assert.equal(Object.keys(j.components.vae_decoder), ['ms']);
  assert.is(j.steps, 8);
  assert.is(j.delta_ms, 0);
  assert.is(j.components.text_encoder.runs, 2);
  const c = j.components;
  assert.ok(Math.abs(c.text_encoder.ms * 2 + c.unet.ms_per_step * 8 + c.vae_decoder.ms - j.total_ms) < 0.01);
  const more = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--remove', 'mid_block.attentions.0', '--steps', '4', '--width', 'up_blocks.*.resnets.*=0.5', '--json');
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
});

test('whatif mistakes are coded: unknown block, bad width, unknown scheme, unknown device', async () => {
  const block = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--remove', 'mid_block.attenions.0');
  assert.is(block.status, 2); // a user's mistake (Exit.Error)
  assert.match(block.err, /PD5001: no block matches 'mid_block.attenions.0'; did you mean 'mid_block.attentions.0'\?/);
  const width = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--width', 'up_blocks.1=0');
  assert.match(width.err, /PD8005/);
  const scheme = await cli('whatif', RECIPE, '--device', 'galaxy-s23', '--quantize', 'w8a61');
  assert.match(scheme.err, /PD8006: unknown --quantize scheme 'w8a61'; did you mean 'w8a16'\?/);
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
  for (const n of ['iphone-14-pro', 'iphone-14-pro-max', 'galaxy-s23', 'galaxy-s24', 'snapdragon-8-elite', 'local-cpu']) assert.ok(names.includes(n), n);
  for (const d of devices) assert.ok(d.sources.length > 0 && d.sources.every((s: { citation: string }) => s.citation.length > 0));
  const text = await cli('devices');
  assert.match(text.out, /galaxy-s23 {2}Samsung Galaxy S23/);
});

test('calibrate --dry-run on a phone reports per-row residuals and writes nothing', async () => {
  const file = 'models/devices/galaxy-s23.json';
  const before = fs.readFileSync(file, 'utf8');
  const r = await cli('calibrate', '--device', 'galaxy-s23', '--dry-run', '--json');
  assert.is(r.status, 0, r.err);
  const j = JSON.parse(r.out);
  assert.is(j.written, false);
  assert.equal(j.fitted.map((g: { id: string }) => g.id), ['mac', 'memory']);
  assert.is(j.residuals.length, 3);
  for (const x of j.residuals) assert.ok(Math.abs(x.error) <= 0.1, `${x.row}: ${x.error}`);
  assert.is(j.leave_one_out.length, 3);
  assert.is(fs.readFileSync(file, 'utf8'), before);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test.run();

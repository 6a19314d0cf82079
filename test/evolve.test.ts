// pocketdiff evolve on the narrow SD-topology fixture (a real diffusers
// export) with a built 64-wide text encoder: scores measured by running the
// gated UNet in onnxruntime-node, milliseconds from the Galaxy S23 profile,
// recipes written, compiled and priced; a block that contributes nothing,
// byte-identical reruns, a killed run resumed from its cache, the CLIP metric
// on built towers, and every coded error a user can cause.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { EvolveLog } from '../src/evolve/report.ts';
import { evolve, type EvolveOptions, type EvolveResult } from '../src/evolve/run.ts';
import { exportGraph } from '../src/ir/export.ts';
import { DataType } from '../src/onnx/dtype.ts';
import { saveModel } from '../src/onnx/save.ts';
import { bytesWeight } from '../src/ir/weight-io.ts';
import { whatIf } from '../src/steps/whatif.ts';
import { buildConfigFile, buildTestConfig, TEST_CONFIGS, tinyClipTowers } from './support/builder-fixtures.ts';
import { DEVICE, evolveOptions, NARROW, narrowRecipe, outputs } from './support/evolve.ts';
import { loadGraph, tempDir } from './support/ort.ts';

const ROOT = path.resolve('.');
const work = tempDir('evolve');
const textEncoder = buildTestConfig('text-encoder-narrow', work);
const towers = tinyClipTowers(work);

const recipe = (dir: string, o: { unet?: string; scale?: number } = {}) => narrowRecipe(dir, { textEncoder, ...o });

async function startMs(file: string): Promise<number> {
  const log = new DiagnosticLog();
  const w = await whatIf(file, { device: DEVICE }, log);
  assert.ok(w, log.items.map(formatDiagnostic).join('\n'));
  return w!.report.total_ms;
}

const base = (budget: number, dir: string) => evolveOptions(budget, dir);

async function run(file: string, o: EvolveOptions): Promise<{ result: EvolveResult; log: EvolveLog }> {
  const log = new DiagnosticLog();
  const result = await evolve(file, o, log);
  assert.ok(result, log.items.map(formatDiagnostic).join('\n'));
  return { result: result!, log: JSON.parse(fs.readFileSync(result!.log, 'utf8')) };
}

async function fails(file: string, o: EvolveOptions): Promise<DiagnosticLog> {
  const log = new DiagnosticLog();
  assert.is(await evolve(file, o, log), undefined);
  return log;
}

test('a block whose output projection is zero scores ΔQuality = 0 exactly and is removed first', async () => {
  const dir = path.join(work, 'zero');
  const g = loadGraph(NARROW);
  const block = 'up_blocks.3.attentions.0';
  const proj = g.nodes().find((n) => n.name === '/up_blocks.3/attentions.0/proj_out/Conv');
  assert.ok(proj, 'proj_out of the block');
  for (const v of proj!.inputs.slice(1))
    v!.weight = bytesWeight(
      DataType.FLOAT,
      v!.weight!.dims,
      new Uint8Array(4 * v!.weight!.dims.reduce((a, b) => a * b, 1)),
    );
  const log = new DiagnosticLog();
  const unet = path.join(dir, 'unet', 'model.onnx');
  assert.ok(saveModel(exportGraph(g), unet, { externalData: 'model.onnx.data' }, log));
  const file = recipe(dir, { unet });
  const start = await startMs(file);
  const { log: l } = await run(file, base(0.85 * start, dir));
  const first = l.rounds[0];
  const zero = first.candidates.find((c) => c.block === block)!;
  assert.is(zero.delta_quality, 0);
  for (const c of first.candidates)
    if (c.block !== block) assert.ok(c.delta_quality < 0, `${c.block}: Δquality ${c.delta_quality}`);
  assert.is(first.applied[0].block, block);
  assert.ok(l.removed.includes(block));
});

let reference: { result: EvolveResult; log: EvolveLog } | undefined;

test('narrow fixture: a budget needing ≥ 3 removals is met; the evolved recipe compiles within it', async () => {
  const dir = path.join(work, 'a');
  const file = recipe(dir);
  const start = await startMs(file);
  const budget = Number((0.85 * start).toFixed(3));
  reference = await run(file, base(budget, dir));
  const l = reference.log;
  // No two removals reach the budget: the two largest savings of the first round fall short.
  const savings = l.rounds[0].candidates.map((c) => -c.delta_ms).sort((a, b) => b - a);
  assert.ok(
    l.start.ms - savings[0] - savings[1] > budget,
    `two removals suffice: ${l.start.ms} − ${savings[0]} − ${savings[1]} ≤ ${budget}`,
  );
  assert.ok(l.removed.length >= 3, `${l.removed.length} removed`);
  assert.ok(l.met && l.end.ms <= budget);
  assert.ok(reference.result.predicted_ms <= budget, `predicted ${reference.result.predicted_ms} > ${budget}`);
  // Every removal the round applied is the one with the least quality lost per ms among its candidates.
  for (const r of l.rounds.filter((x) => x.phase === 'remove')) {
    const least = Math.min(...r.candidates.filter((c) => c.value !== null).map((c) => c.value!));
    assert.is(r.applied[0].value, least);
  }
  const yaml = fs.readFileSync(reference.result.recipe, 'utf8');
  assert.match(yaml, /^extends: \.\.\/narrow\.yaml$/m);
  for (const b of l.removed)
    assert.match(
      yaml,
      new RegExp(
        `^    - ${b.replace(/\./g, '\\.')}(, keep_shortcut: true\\})?   # round \\d+: Δquality .*, saves .* ms, .* per ms$`,
        'm',
      ),
    );
  const log = new DiagnosticLog();
  const artifacts = await compile(reference.result.recipe, { out: path.join(dir, 'artifacts') }, log);
  assert.ok(artifacts, log.items.map(formatDiagnostic).join('\n'));
  assert.is(artifacts![0].device, DEVICE);
  assert.ok(
    artifacts![0].within_budget && artifacts![0].predicted_ms! <= budget,
    `compiled: ${artifacts![0].predicted_ms} ms`,
  );
  // The report plots every round.
  const html = fs.readFileSync(reference.result.report, 'utf8');
  assert.ok(html.includes('<svg') && html.includes('Latency against quality'));
  const dots = (html.match(/<circle /g) ?? []).length;
  assert.ok(dots >= l.rounds.reduce((n, r) => n + r.candidates.length, 0) + l.rounds.length + 1, `${dots} points`);
});

test('same inputs and seed → byte-identical recipe, log and report; another seed measures other samples', async () => {
  assert.ok(reference);
  const dir = path.join(work, 'b');
  const file = recipe(dir);
  const again = await run(file, base(reference!.log.budget_ms, dir));
  assert.equal(outputs(again.result), outputs(reference!.result));
  assert.is(again.result.scores.reused, 0);
  const seeded = await run(file, {
    ...base(reference!.log.budget_ms, dir),
    seed: 7,
    out: path.join(dir, 'seed7', 'narrow-evolved.yaml'),
  });
  assert.not.equal(
    seeded.log.rounds[0].candidates.map((c) => c.delta_quality),
    reference!.log.rounds[0].candidates.map((c) => c.delta_quality),
  );
});

test('a run killed midway and started again reuses every finished score and ends identical', async () => {
  assert.ok(reference);
  const dir = path.join(work, 'c');
  const file = recipe(dir);
  const o = base(reference!.log.budget_ms, dir);
  const argv = [
    'bin/pocketdiff.js',
    'evolve',
    file,
    '--device',
    DEVICE,
    '--budget-ms',
    String(o.budget),
    '--samples',
    '2',
    '--group',
    '3',
    '--cache',
    o.cache!,
    '--out',
    o.out!,
    '--json',
  ];
  // Killed (SIGKILL, no clean-up) once the second round has started.
  await new Promise<void>((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      if (/round 1:.*\n(.*\n)*.*\[20\//.test(err)) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
  });
  assert.not.ok(fs.existsSync(o.out!), 'nothing written by the killed run');
  const whole = (line: string) => {
    try {
      return typeof JSON.parse(line).v === 'number';
    } catch {
      return false;
    }
  };
  const kept = fs
    .readFileSync(path.join(o.cache!, fs.readdirSync(o.cache!)[0]), 'utf8')
    .split('\n')
    .filter(whole).length;
  assert.ok(kept > 0, 'scores kept');
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.is(code, 0);
  const summary = JSON.parse(out);
  assert.is(summary.scores.reused, kept);
  assert.equal(
    outputs({ ...reference!.result, recipe: o.out!, log: summary.log, report: summary.report }),
    outputs(reference!.result),
  );
});

test('clip metric end to end: built CLIP towers (random weights), the fixture UNet, its VAE decoder', async () => {
  const dir = path.join(work, 'clip');
  const file = recipe(dir, { scale: 3 });
  const start = await startMs(file);
  const { log: l } = await run(file, {
    ...base(0.95 * start, dir),
    metric: 'clip',
    clipText: towers.text,
    clipVision: towers.vision,
    samples: 2,
  });
  assert.is(l.metric, 'clip');
  assert.ok(Number.isFinite(l.start.quality) && Math.abs(l.start.quality) <= 100 && l.start.quality !== 0);
  const dq = l.rounds[0].candidates.map((c) => c.delta_quality);
  assert.ok(new Set(dq).size > dq.length / 2, 'candidates score differently');
  assert.ok(l.met && l.removed.length >= 1);
});

test('coded errors: budget under the floor, empty prompts, a mismatched CLIP tower, an unknown metric, missing towers, a graph-only UNet', async () => {
  const dir = path.join(work, 'errors');
  const file = recipe(dir);
  const codes = (log: DiagnosticLog) => log.errors().map((d) => d.code);

  let log = await fails(file, base(0.01, dir));
  assert.equal(codes(log), ['PD10001']);
  assert.match(log.errors()[0].message, /floor/);

  const empty = path.join(dir, 'empty.txt');
  fs.writeFileSync(empty, '# no captions\n\n');
  log = await fails(file, { ...base(1, dir), prompts: empty });
  assert.equal(codes(log), ['PD10002']);
  assert.equal(log.errors()[0].location, { file: empty, line: 1, col: 1 });

  const cfg = JSON.parse(fs.readFileSync(path.join(TEST_CONFIGS, 'clip-vision-tiny.json'), 'utf8'));
  const wideCfg = path.join(dir, 'vision-wide.json');
  fs.writeFileSync(wideCfg, JSON.stringify({ ...cfg, projection_dim: 24 }));
  const wide = buildConfigFile(wideCfg, path.join(dir, 'vision-wide'));
  log = await fails(file, { ...base(2, dir), metric: 'clip', clipText: towers.text, clipVision: wide });
  assert.equal(codes(log), ['PD10003']);
  assert.match(log.errors()[0].message, /16 wide.*24/);
  assert.is(log.errors()[0].location?.file, wide);

  log = await fails(file, { ...base(1, dir), metric: 'clipp' });
  assert.equal(codes(log), ['PD10004']);
  assert.match(log.errors()[0].message, /did you mean 'clip'/);

  log = await fails(file, { ...base(1, dir), metric: 'clip', clipText: towers.text });
  assert.equal(codes(log), ['PD10005']);

  const graphOnly = recipe(path.join(dir, 'graph-only'), {
    unet: path.join(ROOT, 'test/fixtures/unet-sd15-graph/model.onnx'),
  });
  log = await fails(graphOnly, base(1000, dir));
  assert.equal(codes(log), ['PD10008']);
  assert.match(log.errors()[0].location?.file ?? '', /narrow\.yaml$/);
  // Nothing was written by any of them.
  assert.not.ok(fs.existsSync(path.join(dir, 'out')));
});

test.run();

// prune-channels on real exports, checked in onnxruntime-node against oracles:
// the same network with the channels to be pruned made dead on purpose. A dead
// channel contributes nothing downstream (its consumers' weights are zero), so
// removing it must not change the output. Where a GroupNorm sees the channel,
// zeros would shift the group's statistics; there each dead channel is an
// exact copy of a live channel of the same group (same statistics with or
// without it), and the producers' weights are scaled down so that the consumer
// side decides importance.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import fs from 'node:fs';
import { analyzeGraph } from '../src/blocks/analyze.ts';
import { buildGraph, planModel } from '../src/builder/build.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { Graph } from '../src/ir/graph.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { runPasses } from '../src/passes/pass.ts';
import { describeChannelGroups, pruneChannels, type WidthSpec } from '../src/passes/prune-channels.ts';
import { readFloats } from '../src/ir/weight-io.ts';
import { quantize } from '../src/passes/quantize/quantize.ts';
import { applyPass as apply, inferredGraph } from './support/passes.ts';
import { loadGraph, relError, run, saveGraph, tempDir, testSet } from './support/ort.ts';

const VAE = 'test/fixtures/vae-decoder-tiny';
const VAE_DIMS = { batch_size: 1, height_latent: 16, width_latent: 16 };
const UNET = 'test/fixtures/unet-sd15shape-narrow';
const UNET_DIMS = { batch_size: 2, height: 16, width: 16, steps: 2, sequence_length: 77 };
const TOLERANCE = 1e-5;
async function output(g: Graph, set: string) {
  const out = await run(saveGraph(g), testSet(set).feeds);
  return Object.values(out)[0];
}

/** Rewrites a float32 weight in place: `fn(values, dims)` edits the array. */
function edit(g: Graph, name: string, fn: (x: Float32Array, dims: number[]) => void): void {
  const w = g.weights.find((v) => v.name === name);
  assert.ok(w, `weight ${name}`);
  const x = readFloats(w.weight!)!;
  fn(x, w.weight!.dims);
  w.weight = { ...w.weight!, data: { kind: 'raw', bytes: new Uint8Array(x.buffer) } };
}

/** The weight read by the Mul (gamma) and Add (beta) of a GroupNorm's affine step, by module scope. */
function affine(g: Graph, scope: string): [string, string] {
  const w = (op: string) =>
    g
      .nodes()
      .find((n) => n.scope === scope && n.op === op && n.inputs.some((v) => v?.weight && v.weight.dims[0] > 1))!
      .inputs.find((v) => v?.weight)!.name;
  return [w('Mul'), w('Add')];
}

// Row/column helpers: `axis` 0 of a [O, …] weight is its rows, axis 1 of an [I, O] MatMul weight its columns.
const inner = (dims: number[], axis: number) => dims.slice(axis + 1).reduce((a, b) => a * b, 1);
function mapAlong(
  x: Float32Array,
  dims: number[],
  axis: number,
  fn: (ch: number, v: number, flat: number) => number,
): void {
  const n = inner(dims, axis);
  for (let i = 0; i < x.length; i++) x[i] = fn(Math.floor(i / n) % dims[axis], x[i], i);
}
const zero = (dead: (c: number) => boolean, axis: number) => (x: Float32Array, dims: number[]) =>
  mapAlong(x, dims, axis, (c, v) => (dead(c) ? 0 : v));
/** Channel c (odd) becomes a copy of c-1 along `axis`, all scaled by `scale`. */
const twin =
  (axis: number, scale = 1) =>
  (x: Float32Array, dims: number[]) => {
    const n = inner(dims, axis);
    // In place, in order: x[i - n] (channel c - 1) is already written when c is reached.
    mapAlong(x, dims, axis, (c, v, i) => (c % 2 ? x[i - n] : v * scale));
  };

/** A GroupNorm-fed inner width: odd channels twin the even ones; consumers ignore them. */
function deadResnetInner(g: Graph, producers: string[], consumer: string, norm: string) {
  for (const p of producers) edit(g, p, twin(0, 0.01));
  for (const a of affine(g, norm)) edit(g, a, twin(0));
  edit(
    g,
    consumer,
    zero((c) => c % 2 === 1, 1),
  );
}

test('dead channels: a VAE ResNet inner width (GroupNorm groups kept) and attention widths prune exactly', async () => {
  const b = 'decoder.mid_block.resnets.0';
  const a = 'decoder.mid_block.attentions.0';
  const oracle = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
  deadResnetInner(oracle, [`${b}.conv1.weight`, `${b}.conv1.bias`], `${b}.conv2.weight`, `${b}.norm2`);
  // Attention: MatMul weights are [in, out] (anonymous); find them through their nodes.
  const mm = (m: string) => oracle.nodes().find((n) => n.scope === `${a}.${m}` && n.op === 'MatMul')!.inputs[1]!.name;
  const deadQK = (c: number) => c % 4 === 1 || c % 4 === 2;
  const deadV = (c: number) => c % 3 === 0 && c < 48;
  for (const m of ['to_q', 'to_k']) {
    edit(oracle, mm(m), zero(deadQK, 1));
    edit(oracle, `${a}.${m}.bias`, zero(deadQK, 0));
  }
  edit(oracle, mm('to_v'), zero(deadV, 1));
  edit(oracle, `${a}.to_v.bias`, zero(deadV, 0));
  edit(oracle, mm('to_out.0'), zero(deadV, 0));

  const pruned = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
  for (const v of oracle.weights) pruned.weights.find((w) => w.name === v.name)!.weight = v.weight;
  // The block's ratio covers query/key; the more specific to_v selector sets the value width.
  const log = apply(
    pruned,
    pruneChannels([
      { selector: b, ratio: 0.5 },
      { selector: a, ratio: 0.5 },
      { selector: `${a}.to_v`, count: 48 },
    ]),
  );
  assert.equal(log.items, []);
  const dims = (name: string) => pruned.weights.find((v) => v.name === name)!.weight!.dims;
  assert.equal(dims(`${b}.conv1.weight`), [32, 64, 3, 3]);
  assert.equal(dims(`${b}.conv2.weight`), [64, 32, 3, 3]);
  assert.equal(dims(`${a}.to_q.bias`), [32]);
  assert.equal(dims(`${a}.to_v.bias`), [48]);
  for (const set of ['test_data_set_0', 'test_data_set_2']) {
    const err = relError(await output(pruned, `${VAE}/${set}`), await output(oracle, `${VAE}/${set}`));
    assert.ok(err <= TOLERANCE, `${set}: relative error ${err}`);
    console.log(`    vae-decoder-tiny dead channels, ${set}: relative error ${err.toExponential(2)}`);
  }
  // Pruning live channels is a real change.
  const live = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
  apply(live, pruneChannels([{ selector: b, ratio: 0.5 }]));
  assert.ok(
    relError(
      await output(live, `${VAE}/test_data_set_0`),
      await output(inferredGraph(`${VAE}/model.onnx`, VAE_DIMS), `${VAE}/test_data_set_0`),
    ) > 1e-3,
  );
});

test('dead channels: UNet head_dim per head, GEGLU halves, and a ResNet width with its time embedding prune exactly', async () => {
  const t = 'down_blocks.1.attentions.0.transformer_blocks.0';
  const r = 'down_blocks.1.resnets.0';
  const oracle = inferredGraph(`${UNET}/model.onnx`, UNET_DIMS);
  const mm = (m: string) => oracle.nodes().find((n) => n.scope === `${t}.${m}` && n.op === 'MatMul')!.inputs[1]!.name;
  // 8 heads of 8: each head keeps dims {0, 2, 5, 7}.
  const deadHeadDim = (c: number) => [1, 3, 4, 6].includes(c % 8);
  for (const m of ['attn1.to_q', 'attn1.to_k']) edit(oracle, mm(m), zero(deadHeadDim, 1));
  const deadV = (c: number) => [0, 1, 6, 7].includes(c % 8);
  edit(oracle, mm('attn1.to_v'), zero(deadV, 1));
  edit(oracle, mm('attn1.to_out.0'), zero(deadV, 0));
  // GEGLU: proj writes [hidden | gate], 256 each; channel c of both halves dies together.
  const deadFf = (c: number) => c % 256 >= 128 === (c % 2 === 0);
  edit(oracle, mm('ff.net.0.proj'), zero(deadFf, 1));
  edit(oracle, `${t}.ff.net.0.proj.bias`, zero(deadFf, 0));
  edit(
    oracle,
    mm('ff.net.2'),
    zero((c) => deadFf(c), 0),
  );
  deadResnetInner(
    oracle,
    [`${r}.conv1.weight`, `${r}.conv1.bias`, `${r}.time_emb_proj.weight`, `${r}.time_emb_proj.bias`],
    `${r}.conv2.weight`,
    `${r}.norm2`,
  );

  const pruned = inferredGraph(`${UNET}/model.onnx`, UNET_DIMS);
  for (const v of oracle.weights) pruned.weights.find((w) => w.name === v.name)!.weight = v.weight;
  const log = apply(
    pruned,
    pruneChannels([
      { selector: `${t}.attn1`, ratio: 0.5 },
      { selector: `${t}.ff`, count: 128 },
      { selector: r, ratio: 0.5 },
    ]),
  );
  assert.equal(log.items, []);
  const dims = (name: string) => pruned.weights.find((v) => v.name === name)!.weight!.dims;
  assert.equal(dims(`${t}.ff.net.0.proj.bias`), [256]);
  assert.equal(dims(`${r}.time_emb_proj.weight`), [32, 128]);
  const err = relError(
    await output(pruned, `${UNET}/test_data_set_1`),
    await output(oracle, `${UNET}/test_data_set_1`),
  );
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
  console.log(`    unet-sd15shape-narrow dead channels: relative error ${err.toExponential(2)}`);
});

test('uniform 50% of a VAE decoder (built, 64-512 channels) runs and leaves about a quarter of params and MACs', async () => {
  const dir = tempDir('pocketdiff-prune-');
  const cfg = JSON.parse(fs.readFileSync('models/test/vae-decoder-tiny.json', 'utf8'));
  cfg.block_out_channels = [64, 128, 256];
  cfg.down_block_types = ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'];
  cfg.up_block_types = ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'];
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(cfg));
  const log = new DiagnosticLog();
  const plan = planModel(file, log);
  assert.ok(plan, log.items.map(formatDiagnostic).join('\n'));
  const dims = { batch_size: 1, height_latent: 8, width_latent: 8 };
  const g = buildGraph(plan, { seed: 1, dtype: 'float32', opset: 14, weights: 'random' });
  inferShapes(g, { dims }, log);
  const before = analyzeGraph(g);
  apply(g, pruneChannels([{ selector: '*', ratio: 0.5 }]));
  inferShapes(g, { dims }, log);
  assert.is(log.hasErrors, false, log.items.map(formatDiagnostic).join('\n'));
  const after = analyzeGraph(g);
  const p = after.params / before.params;
  const m = after.macs.total / before.macs.total;
  assert.ok(p > 0.24 && p < 0.28, `params ${before.params} → ${after.params} (${p})`);
  assert.ok(m > 0.24 && m < 0.3, `MACs ${before.macs.total} → ${after.macs.total} (${m})`);
  console.log(
    `    built VAE decoder 64-256: params ${before.params} → ${after.params} (×${p.toFixed(3)}), MACs ×${m.toFixed(3)}`,
  );
  const input = g.inputs[0];
  const { Tensor } = await import('onnxruntime-node');
  const feeds = {
    [input.name]: new Tensor(
      'float32',
      Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)),
      [1, 4, 8, 8],
    ),
  };
  const out = Object.values(await run(saveGraph(g), feeds))[0];
  assert.equal(out.dims, [1, 3, 32, 32]);
  assert.ok((out.data as Float32Array).every(Number.isFinite));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('uniform 50% of the narrow SD-v1.5-topology UNet: skip concats and heads stay consistent and it runs', async () => {
  const g = inferredGraph(`${UNET}/model.onnx`, UNET_DIMS);
  const log = apply(g, pruneChannels([{ selector: '*', ratio: 0.5 }]));
  assert.equal(log.items, []);
  const out = await output(g, `${UNET}/test_data_set_2`);
  assert.equal(out.dims, [2, 4, 8, 16]);
  // Inner widths and the residual stream halved; the skip concat (64 + 64) reads 32 + 32.
  const w = (name: string) => g.weights.find((v) => v.name === name)!.weight!.dims;
  assert.equal(w('down_blocks.2.resnets.0.conv1.weight'), [32, 32, 3, 3]);
  assert.equal(w('up_blocks.1.resnets.0.conv1.weight'), [32, 64, 3, 3]);
});

test('a skip concat joining channels that cannot be pruned alike keeps its groups whole, with a warning', async () => {
  // unet-tiny: 32-channel stages under GroupNorm(32) cannot lose channels; where a concat joins
  // them with a prunable stage, one GroupNorm would see groups of 1 and 2 channels.
  const dims = { batch_size: 2, height: 32, width: 32, steps: 2, sequence_length: 77 };
  const g = inferredGraph(`${'test/fixtures/unet-tiny'}/model.onnx`, dims);
  const log = apply(g, pruneChannels([{ selector: '*', ratio: 0.5 }]));
  assert.equal(log.codes(), ['PD9002']);
  assert.is(log.items[0].severity, 'warning');
  assert.match(log.items[0].notes![0], /GroupNorm with 32 groups at '\/up_blocks\.1\/resnets\.1\/norm1\/Reshape'/);
  const out = await output(g, 'test/fixtures/unet-tiny/test_data_set_1');
  assert.equal(out.dims, [2, 4, 32, 32]);
  // An explicit count there is refused instead: up_blocks.1.resnets.0's output meets the
  // unprunable down-path stream in up_blocks.1.resnets.1's GroupNorm.
  const g2 = inferredGraph(`${'test/fixtures/unet-tiny'}/model.onnx`, dims);
  const log2 = new DiagnosticLog();
  assert.not.ok(runPasses(g2, [pruneChannels([{ selector: 'up_blocks.1.resnets.0', count: 16 }])], log2));
  assert.equal(log2.codes(), ['PD9002']);
});

test('pruning then quantizing (the pipeline order) composes: 50% widths, then int8', async () => {
  const g = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
  apply(g, pruneChannels([{ selector: '*', ratio: 0.5 }]));
  apply(g, quantize([{ scheme: 'int8' }]));
  const out = await output(g, `${VAE}/test_data_set_2`);
  assert.equal(out.dims, [2, 3, 16, 24]);
  assert.ok((out.data as Float32Array).every(Number.isFinite));
});

test('shapes baked into Reshape constants (constant-folded exports) are rewritten', async () => {
  // Fold every Reshape target to a literal, as onnx-simplifier does, then prune both forms.
  const folded = inferredGraph(`${UNET}/model.onnx`, UNET_DIMS);
  const log = new DiagnosticLog();
  const { constants } = inferShapes(folded, { dims: UNET_DIMS }, log);
  let baked = 0;
  for (const n of folded.nodes()) {
    if (n.op !== 'Reshape' || n.inputs[1]?.weight) continue;
    const c = constants.get(n.inputs[1]!);
    if (!c || !n.scope.includes('attn')) continue;
    const v = folded.addWeight(folded.uniqueName('baked_shape'), {
      dtype: 7,
      dims: [c.data.length],
      data: { kind: 'raw', bytes: new Uint8Array(BigInt64Array.from(c.data.map(BigInt)).buffer) },
    });
    folded.setInput(n, 1, v);
    baked++;
  }
  assert.ok(baked > 50);
  const dynamic = inferredGraph(`${UNET}/model.onnx`, UNET_DIMS);
  const spec = [
    { selector: '**.attn1', ratio: 0.5 },
    { selector: '**.attn2', ratio: 0.5 },
  ];
  const r1 = runPasses(folded, [pruneChannels(spec, { dims: UNET_DIMS })], log);
  assert.ok(r1, log.items.map(formatDiagnostic).join('\n'));
  assert.ok(Number(r1[0].stats.shape_constants_rewritten) > 50);
  apply(dynamic, pruneChannels(spec));
  const err = relError(
    await output(folded, `${UNET}/test_data_set_1`),
    await output(dynamic, `${UNET}/test_data_set_1`),
  );
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
  console.log(`    baked vs computed Reshape targets after pruning: relative difference ${err.toExponential(2)}`);
});

test('the full-size SD-v1.5 VAE decoder, graph only: {"*": 0.5} leaves about a quarter, first channels kept (PD9004)', () => {
  const g = loadGraph('test/fixtures/vae-decoder-sd15-graph/model.onnx');
  const log = new DiagnosticLog();
  const dims = { batch_size: 1, height_latent: 64, width_latent: 64 };
  inferShapes(g, { dims }, log);
  const before = analyzeGraph(g);
  const records = runPasses(g, [pruneChannels([{ selector: '*', ratio: 0.5 }])], log);
  assert.ok(records, log.items.map(formatDiagnostic).join('\n'));
  assert.equal(log.codes(), ['PD9004']);
  inferShapes(g, { dims }, log);
  const after = analyzeGraph(g);
  const p = after.params / before.params;
  const m = after.macs.total / before.macs.total;
  assert.is(before.params, 49490199);
  assert.ok(p > 0.24 && p < 0.27, `params ${before.params} → ${after.params}`);
  assert.ok(m > 0.24 && m < 0.27, `MACs ${before.macs.total} → ${after.macs.total}`);
  console.log(
    `    SD-v1.5 VAE decoder: params ${before.params} → ${after.params} (×${p.toFixed(4)}), MACs ${before.macs.total} → ${after.macs.total} (×${m.toFixed(4)})`,
  );
  // Saving still refuses (PD1006): the weights are absent, as before pruning.
  assert.throws(() => saveGraph(g), /PD1006/);
});

test('bad widths are refused with coded errors at the recipe location', () => {
  const at = { file: 'r.yaml', line: 3, col: 5 };
  const cases: [WidthSpec, string, RegExp][] = [
    [
      { selector: '*', ratio: 0, at },
      'PD9001',
      /^width 0 for '\*' is neither a kept fraction nor a channel count: a width is a kept fraction in \(0, 1\] or a whole number of channels \(2 or more\)$/,
    ],
    [{ selector: '*', ratio: 1.5, at }, 'PD9001', /^width 1\.5 for '\*' is neither/],
    [{ selector: '*', count: 2.5, at }, 'PD9001', /^width 2\.5 for '\*' is neither/],
    [
      { selector: 'decoder.mid_block.resnets.0', count: 40, at },
      'PD9002',
      /breaks GroupNorm with 32 groups.*multiples of 32/,
    ],
    [{ selector: 'decoder.mid_block.resnets.0', count: 96, at }, 'PD9006', /exceeds the 64 channels/],
    [
      { selector: 'decoder.mid_blok.resnets.0', ratio: 0.5, at },
      'PD5001',
      /did you mean 'decoder\.mid_block\.resnets\.0'/,
    ],
  ];
  for (const [spec, code, msg] of cases) {
    const g = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
    const log = new DiagnosticLog();
    assert.not.ok(runPasses(g, [pruneChannels([spec])], log));
    assert.equal(log.codes(), [code], log.items.map(formatDiagnostic).join('\n'));
    assert.match(formatDiagnostic(log.items[0]), /^r\.yaml:3:5: error/);
    assert.match(log.items[0].message, msg);
  }
});

test('groups: what the analysis couples, on the tiny VAE decoder', () => {
  const g = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
  const log = new DiagnosticLog();
  const groups = describeChannelGroups(g, log)!;
  const bySource = (s: string) => groups.find((x) => x.sources.some((n) => n.includes(s)))!;
  // The residual stream: conv_in, every ResNet's conv2 and the attention output, one group.
  const stream = bySource('/decoder/conv_in/Conv');
  assert.ok(stream.sources.some((s) => s.includes('attentions.0/to_out.0')));
  assert.ok(stream.sources.some((s) => s.includes('mid_block/resnets.1/conv2')));
  // Query and key meet in QKᵀ.
  assert.equal(bySource('to_q/MatMul').sources.length, 2);
  // The output conv reaches the graph output.
  assert.match(bySource('conv_out').frozen ?? '', /graph output 'sample'/);
});

test.run();

// Built graphs against the real torch.onnx exports (test/fixtures): at the
// fixtures' own configs the builder must produce the export's block list,
// per-block params, MACs and compute-op histograms, and in fact the same graph
// node for node. Graphs are built in memory with weights 'none' (nothing is
// generated); the full-size SD v1.5 graphs too, since their fixtures hold the
// graph without weights.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { analyzeGraph } from '../src/blocks/analyze.ts';
import { buildGraph, planModel } from '../src/builder/build.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { Graph } from '../src/ir/graph.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import {
  blockHistograms,
  canonicalLines,
  FIXTURES,
  fixtureJson,
  lineDiffs,
  loadGraph,
  ROOT,
  TEST_CONFIGS,
} from './support/builder-fixtures.ts';

const test = suite('builder fidelity');

const builtCache = new Map<string, Graph>();
const fixtureCache = new Map<string, Graph>();

/** Built graphs and fixture graphs are read-only here (shape inference only adds types), so each is made once. */
function build(config: string, opset: 14 | 17 = 14): Graph {
  const key = `${config}@${opset}`;
  if (!builtCache.has(key)) builtCache.set(key, buildFresh(config, opset));
  return builtCache.get(key)!;
}

function fixture(name: string): Graph {
  if (!fixtureCache.has(name)) fixtureCache.set(name, loadGraph(path.join(FIXTURES, name, 'model.onnx')));
  return fixtureCache.get(name)!;
}

function buildFresh(config: string, opset: 14 | 17): Graph {
  const log = new DiagnosticLog();
  const planned = planModel(config, log);
  assert.ok(planned, log.items.map(formatDiagnostic).join('\n'));
  return buildGraph(planned, { weights: 'none', seed: 0, dtype: 'float32', opset });
}

/** Params and MACs per block (the lead's analyzeGraph), after shape inference at the given dims. */
function stats(g: Graph, dims: Record<string, number>) {
  const log = new DiagnosticLog();
  inferShapes(g, { dims }, log);
  assert.not.ok(log.hasErrors, log.items.map(formatDiagnostic).join('\n'));
  return analyzeGraph(g);
}

const UNET_DIMS = { batch_size: 2, steps: 2, height: 32, width: 32, sequence_length: 77 };
const VAE_DIMS = { batch_size: 2, height_latent: 16, width_latent: 24 };

const cases = [
  { fixture: 'unet-tiny', dims: UNET_DIMS },
  { fixture: 'unet-sd15shape-narrow', dims: UNET_DIMS },
  { fixture: 'vae-decoder-tiny', dims: VAE_DIMS },
];

for (const { fixture: name, dims } of cases) {
  const config = path.join(TEST_CONFIGS, `${name}.json`);

  test(`${name}: the test config is the fixture's config`, () => {
    const fx = fixtureJson(name);
    const cfg = JSON.parse(fs.readFileSync(config, 'utf8'));
    assert.equal(cfg, { _class_name: fx.model_class, ...fx.config_args });
  });

  test(`${name}: block list, per-block params and MACs match the export`, () => {
    const built = stats(build(config), dims);
    const real = stats(fixture(name), dims);
    const expected = fixtureJson(name).blocks as { name: string; params: number }[];
    const key = (b: { name: string }) => b.name;
    assert.equal(built.blocks.map(key).sort(), expected.map(key).sort(), 'block list = fixture.json blocks');
    for (const b of expected)
      assert.is(built.blocks.find((x) => x.name === b.name)!.params, b.params, `params of ${b.name}`);
    assert.equal(built.blocks, real.blocks, 'params and MACs per block');
    assert.equal(built.macs, real.macs);
    assert.is(built.params, real.params);
    assert.equal(built.glue, real.glue);
  });

  test(`${name}: per-block compute-op histograms match the export`, () => {
    const built = blockHistograms(build(config));
    const real = blockHistograms(fixture(name));
    assert.equal(built, real);
  });

  test(`${name}: same graph node for node, same I/O, same named initializers in order`, () => {
    const g = build(config);
    const f = fixture(name);
    const diffs = lineDiffs(canonicalLines(g), canonicalLines(f));
    assert.is(diffs.length, 0, diffs.join('\n'));
    const io = (vs: readonly { name: string; type?: unknown }[]) => vs.map((v) => ({ name: v.name, type: v.type }));
    assert.equal(io(g.inputs), io(f.inputs));
    assert.equal(io(g.outputs), io(f.outputs));
    const named = (x: Graph) =>
      x.weights.map(
        (w) =>
          (w.name.startsWith('onnx::') ? `onnx::${w.name.split('::')[1].replace(/_\d+$/, '')}` : w.name) +
          `[${w.weight!.dims}]`,
      );
    assert.equal(named(g), named(f));
  });
}

test('unet-tiny at opset 17: LayerNormalization, same graph as the opset-17 export', () => {
  const g = build(path.join(TEST_CONFIGS, 'unet-tiny.json'), 17);
  const f = loadGraph(path.join(FIXTURES, 'unet-tiny', 'opset17', 'model.onnx'));
  const diffs = lineDiffs(canonicalLines(g), canonicalLines(f));
  assert.is(diffs.length, 0, diffs.join('\n'));
  assert.equal(g.model.opsets, [{ domain: '', version: 17 }]);
  assert.is(g.model.irVersion, 8);
  assert.is(g.nodes().filter((n) => n.op === 'LayerNormalization').length, 18);
});

const full: { fixture: string; config: string; params: number; dims: Record<string, number> }[] = [
  {
    fixture: 'unet-sd15-graph',
    config: 'unet.json',
    params: 859_520_964,
    dims: { batch_size: 1, steps: 1, height: 64, width: 64, sequence_length: 77 },
  },
  {
    fixture: 'vae-decoder-sd15-graph',
    config: 'vae.json',
    params: 49_490_199,
    dims: { batch_size: 1, height_latent: 64, width_latent: 64 },
  },
];

for (const { fixture, config, params, dims } of full) {
  test(`SD v1.5 ${config}: ${params.toLocaleString('en-US')} params, blocks equal to ${fixture} block for block`, () => {
    const g = build(path.join(ROOT, 'models', 'sd15', config));
    const f = loadGraph(path.join(FIXTURES, fixture, 'model.onnx'));
    const built = stats(g, dims);
    const real = stats(f, dims);
    assert.is(built.params, params);
    assert.equal(built.blocks, real.blocks);
    assert.equal(built.macs, real.macs);
    for (const b of fixtureJson(fixture).blocks as { name: string; params: number }[]) {
      assert.is(built.blocks.find((x) => x.name === b.name)?.params, b.params, b.name);
    }
    const diffs = lineDiffs(canonicalLines(g), canonicalLines(f));
    assert.is(diffs.length, 0, diffs.join('\n'));
  });
}

test('SD v1.5 text encoder (CLIP ViT-L/14): 123,060,480 params, 12 layers as blocks', () => {
  const g = build(path.join(ROOT, 'models', 'sd15', 'text_encoder.json'));
  const s = stats(g, { batch_size: 1, sequence_length: 77 });
  assert.is(s.params, 123_060_480);
  assert.equal(
    s.blocks.map((b) => b.name),
    [
      'text_model.embeddings',
      ...Array.from({ length: 12 }, (_, i) => `text_model.encoder.layers.${i}`),
      'text_model.final_layer_norm',
    ],
  );
  assert.equal(
    g.inputs.map((v) => v.name),
    ['input_ids'],
  );
  assert.equal(
    g.outputs.map((v) => v.name),
    ['last_hidden_state', 'pooler_output'],
  );
  // Every initializer is a parameter: the position_ids buffer is a Constant node.
  assert.ok(g.weights.every((w) => w.weight!.dtype === 1));
});

test.run();

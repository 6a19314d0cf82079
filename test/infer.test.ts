// Shape and dtype inference on the real exports in test/fixtures. The oracle
// is onnxruntime-node: a copy of each graph exposes every intermediate value
// as an output, and what ORT computes must have exactly the inferred dims and
// element type. Hand-built graphs cover the coded errors.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { exportGraph } from '../src/ir/export.ts';
import { Graph, type Value } from '../src/ir/graph.ts';
import { importGraph } from '../src/ir/import.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { loadModel } from '../src/onnx/model.ts';
import { onnx, toNumber, type TensorProto } from '../src/onnx/proto.ts';
import { saveModel } from '../src/onnx/save.ts';
import { tempDir } from './support/temp.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const MODELS = ['unet-tiny', 'unet-tiny/opset17', 'unet-sd15shape-narrow', 'vae-decoder-tiny'];

const ORT_TYPES: Record<string, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
};

function readPb(file: string): TensorProto {
  return onnx.TensorProto.decode(fs.readFileSync(file)) as TensorProto;
}

function testSets(model: string): string[] {
  const dir = path.join(FIXTURES, model);
  return fs
    .readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => path.join(dir, d));
}

function load(model: string): { g: Graph; log: DiagnosticLog; file: string } {
  const file = path.join(FIXTURES, model, 'model.onnx');
  const log = new DiagnosticLog();
  const m = loadModel(file, log);
  const g = m && importGraph(m, log);
  assert.ok(g, log.items.map(formatDiagnostic).join('\n'));
  return { g, log, file };
}

/** Binds each input's symbolic dims to the sizes of that input in the test set. */
function dimsOf(g: Graph, set: string): Record<string, number> {
  const dims: Record<string, number> = {};
  g.inputs.forEach((v, k) => {
    const pb = readPb(path.join(set, `input_${k}.pb`));
    assert.is(pb.name, v.name);
    v.type!.shape!.forEach((d, i) => {
      if (typeof d === 'string') dims[d] = toNumber(pb.dims![i]);
    });
  });
  return dims;
}

function nodeOutputs(g: Graph): Value[] {
  return g.nodes().flatMap((n) => n.outputs.filter((v): v is Value => !!v));
}

function noDiagnostics(log: DiagnosticLog): void {
  assert.is(log.items.length, 0, log.items.slice(0, 5).map(formatDiagnostic).join('\n'));
}

/** Every node output has a known dtype and all-numeric dims. */
function fullyTyped(g: Graph): number {
  const values = nodeOutputs(g);
  const bad = values.filter((v) => !v.type?.dtype || !v.type.shape || v.type.shape.some((d) => typeof d !== 'number'));
  assert.is(
    bad.length,
    0,
    bad
      .slice(0, 5)
      .map((v) => `${v.name}: ${JSON.stringify(v.type)}`)
      .join('\n'),
  );
  return values.length;
}

for (const model of MODELS) {
  for (const set of testSets(model)) {
    test(`${model}/${path.basename(set)}: output shape matches the reference, every value numeric`, () => {
      const { g, log, file } = load(model);
      inferShapes(g, { dims: dimsOf(g, set) }, log, file);
      noDiagnostics(log);
      fullyTyped(g);
      const ref = readPb(path.join(set, 'output_0.pb'));
      assert.equal(g.outputs[0].type, { dtype: ref.dataType, shape: ref.dims!.map(toNumber) });
    });
  }
}

function ortTensor(t: TensorProto): ort.Tensor {
  const raw = t.rawData!;
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const dims = (t.dims ?? []).map(toNumber);
  if (t.dataType === 1) return new ort.Tensor('float32', new Float32Array(buf), dims);
  if (t.dataType === 7) return new ort.Tensor('int64', new BigInt64Array(buf), dims);
  throw new Error(`test input of dtype ${t.dataType}`);
}

// Every test set of the two small models: the sets differ in batch and spatial size.
for (const model of ['unet-tiny', 'vae-decoder-tiny']) {
  for (const set of testSets(model)) {
    test(`${model}/${path.basename(set)}: onnxruntime agrees on the dims and dtype of every intermediate`, async () => {
      const { g, log, file } = load(model);
      inferShapes(g, { dims: dimsOf(g, set) }, log, file);
      noDiagnostics(log);
      const values = nodeOutputs(g);
      const inferred = new Map(values.map((v) => [v.name, v.type!]));
      for (const v of values) {
        if (!g.outputs.includes(v)) g.addOutput(v);
        // ORT gets only the element type; the dims it computes are the oracle.
        v.type = { dtype: v.type!.dtype };
      }
      const dir = tempDir('pocketdiff-infer-');
      try {
        const out = path.join(dir, 'model.onnx');
        assert.ok(
          saveModel(exportGraph(g), out, { externalData: null }, log),
          log.items.map(formatDiagnostic).join('\n'),
        );
        const session = await ort.InferenceSession.create(out, { graphOptimizationLevel: 'disabled' });
        const feeds: Record<string, ort.Tensor> = {};
        g.inputs.forEach((v, k) => (feeds[v.name] = ortTensor(readPb(path.join(set, `input_${k}.pb`)))));
        const results = await session.run(feeds);
        let checked = 0;
        for (const [name, want] of inferred) {
          const got = results[name];
          assert.ok(got, `onnxruntime returned no '${name}'`);
          assert.equal(
            { name, dtype: ORT_TYPES[got.type], shape: [...got.dims] },
            { name, dtype: want.dtype, shape: want.shape },
          );
          checked++;
        }
        assert.is(checked, values.length);
        await session.release();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

/** Loads a graph-only model (weights file absent), infers with `dims`, and returns the output shape and time. */
function inferFullSize(model: string, dims: Record<string, number>): { shape: unknown; ms: number; values: number } {
  const { g, log, file } = load(model);
  const t0 = performance.now();
  inferShapes(g, { dims }, log, file);
  const ms = performance.now() - t0;
  noDiagnostics(log);
  return { shape: g.outputs[0].type!.shape, ms, values: fullyTyped(g) };
}

test('full-size SD v1.5 UNet graph (no weights file) infers fully, fast', () => {
  const r = inferFullSize('unet-sd15-graph', { batch_size: 1, height: 64, width: 64, steps: 1, sequence_length: 77 });
  assert.equal(r.shape, [1, 4, 64, 64]);
  console.log(`    unet-sd15-graph: ${r.values} values inferred in ${r.ms.toFixed(0)} ms`);
  assert.ok(r.ms < 3000, `inference took ${r.ms} ms`);
});

test('full-size SD v1.5 VAE decoder graph infers to 512×512', () => {
  const r = inferFullSize('vae-decoder-sd15-graph', { batch_size: 1, height_latent: 64, width_latent: 64 });
  assert.equal(r.shape, [1, 3, 512, 512]);
  console.log(`    vae-decoder-sd15-graph: ${r.values} values inferred in ${r.ms.toFixed(0)} ms`);
  assert.ok(r.ms < 3000, `inference took ${r.ms} ms`);
});

const F32 = 1;
const origin = { kind: 'pass' as const, pass: 'test', from: [] };

test('an unbound input dim is PD2004 naming the input and the dim', () => {
  const { g, log, file } = load('unet-tiny');
  inferShapes(g, { dims: { batch_size: 1, width: 32, steps: 1, sequence_length: 77 } }, log, file);
  const unbound = log.items.filter((d) => d.code === 'PD2004');
  assert.is(unbound.length, 1, log.items.map(formatDiagnostic).join('\n'));
  assert.match(unbound[0].message, /input 'sample' has unbound dim 'height' \(bind it with --input sample=1,4,N,32\)/);
  assert.is(unbound[0].location?.node, 'sample');
  assert.not.ok(
    log.items.some((d) => d.code !== 'PD2004'),
    'no follow-on errors',
  );
});

/**
 *   x[2,3] ─ Frobnicate ─ y ─ Relu ─ z
 */
test('an unknown op is PD2006 at the node, and nothing downstream repeats it', () => {
  const g = new Graph();
  const x = g.addInput('x', { dtype: F32, shape: [2, 3] });
  const odd = g.add('Frobnicate', [x], { name: 'frob_1', origin, outputs: ['y'] });
  const relu = g.add('Relu', [odd.output()], { origin, outputs: ['z'] });
  g.addOutput(relu.output());
  const log = new DiagnosticLog();
  inferShapes(g, {}, log, 'hand.onnx');
  assert.equal(log.codes(), ['PD2006']);
  assert.equal(log.items[0].location, { file: 'hand.onnx', node: 'frob_1' });
  assert.match(log.items[0].message, /Frobnicate/);
  assert.is(relu.output().type?.shape, undefined);
});

/**
 *   a[2,3] ─┐
 *   b[4,5] ─ MatMul ─ y
 */
test('inconsistent shapes are PD2005 at the node, with the input shapes as notes', () => {
  const g = new Graph();
  const a = g.addInput('a', { dtype: F32, shape: [2, 3] });
  const b = g.addInput('b', { dtype: F32, shape: [4, 5] });
  g.add('MatMul', [a, b], { name: 'mm', origin, outputs: ['y'] });
  const log = new DiagnosticLog();
  inferShapes(g, {}, log);
  assert.equal(log.codes(), ['PD2005']);
  assert.is(log.items[0].location?.node, 'mm');
  assert.equal(log.items[0].notes, ["input 0 'a': [2,3]", "input 1 'b': [4,5]"]);
});

/**
 *   x[2,3] ─ Neg ─ n ─ Relu ─ r      (Relu listed first: a pass left the order unsorted)
 */
test('nodes are inferred producers first, whatever the graph order', () => {
  const g = new Graph();
  const x = g.addInput('x', { dtype: F32, shape: [2, 3] });
  const relu = g.add('Relu', [x], { origin, outputs: ['r'] });
  const neg = g.add('Neg', [x], { origin, outputs: ['n'] });
  g.setInput(relu, 0, neg.output());
  relu.output().type = { dtype: F32, shape: [99] }; // stale, from an earlier run
  const log = new DiagnosticLog();
  inferShapes(g, {}, log);
  noDiagnostics(log);
  assert.equal(relu.output().type, { dtype: F32, shape: [2, 3] });
  assert.equal(
    g.nodes().map((n) => n.op),
    ['Relu', 'Neg'],
    'the graph order is not changed',
  );
});

/**
 *   x ─ Add ─ a ─ Neg ─ n
 *        └──────────────┘  (n feeds back into Add)
 */
test('a cycle is PD2001, and its shapes stay unknown', () => {
  const g = new Graph();
  const x = g.addInput('x', { dtype: F32, shape: [2] });
  const add = g.add('Add', [x, x], { name: 'add', origin, outputs: ['a'] });
  const neg = g.add('Neg', [add.output()], { name: 'neg', origin, outputs: ['n'] });
  g.setInput(add, 1, neg.output());
  const log = new DiagnosticLog();
  inferShapes(g, {}, log);
  assert.equal(log.codes(), ['PD2001']);
  assert.is(neg.output().type?.shape, undefined);
});

/**
 *   x[B,8,6] ─ Shape ─ Gather(0) ─ Unsqueeze ─┐
 *                        Constant [-1, 2] ─ Concat ─ t
 *   x ──────────────────────────────────── Reshape(x, t) ─ y[B,-1,2]
 */
test('shape arithmetic folds: Reshape through Shape → Gather → Unsqueeze → Concat', () => {
  const g = new Graph();
  g.model.opsets = [{ domain: '', version: 13 }];
  const x = g.addInput('x', { dtype: F32, shape: ['B', 8, 6] });
  const int64 = (name: string, data: number[], dims: number[]) => ({
    name,
    type: onnx.AttributeProto.AttributeType.TENSOR,
    t: onnx.TensorProto.create({
      dataType: 7,
      dims,
      rawData: new Uint8Array(new BigInt64Array(data.map(BigInt)).buffer),
    }),
  });
  const shape = g.add('Shape', [x], { origin });
  const zero = g.add('Constant', [], { origin, attrs: [int64('value', [0], [])] });
  const batch = g.add('Gather', [shape.output(), zero.output()], { origin });
  const axes = g.add('Constant', [], { origin, attrs: [int64('value', [0], [1])] });
  const lead = g.add('Unsqueeze', [batch.output(), axes.output()], { origin });
  const tail = g.add('Constant', [], {
    origin,
    attrs: [{ name: 'value_ints', type: onnx.AttributeProto.AttributeType.INTS, ints: [-1, 2] }],
  });
  const target = g.add('Concat', [lead.output(), tail.output()], {
    origin,
    attrs: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
  });
  const reshape = g.add('Reshape', [x, target.output()], { origin });
  const log = new DiagnosticLog();
  const { constants } = inferShapes(g, { dims: { B: 3 } }, log);
  noDiagnostics(log);
  assert.equal(constants.get(target.output())?.data, [3, -1, 2]);
  assert.equal(reshape.output().type, { dtype: F32, shape: [3, 24, 2] });
  assert.equal(x.type?.shape, [3, 8, 6]);
});

test.run();

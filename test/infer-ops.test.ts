// Operator rules that the fixtures and ONNX 1.12's tests do not reach: opset
// 18-21 forms (axes and sizes as inputs, num_outputs, keep_aspect_ratio_policy,
// GroupNormalization, Gelu), old-opset attribute forms, awkward windows
// (ceil_mode, dilations, auto_pad, output_padding) and onnxruntime's
// MatMulNBits. Each graph is built by hand, every node output becomes a graph
// output, and onnxruntime-node computes the dims the rules must have inferred.
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { exportGraph } from '../src/ir/export.ts';
import { Graph, type Node, type Value } from '../src/ir/graph.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { onnx, type AttributeProto } from '../src/onnx/proto.ts';
import { saveModel } from '../src/onnx/save.ts';
import { tempDir } from './support/temp.ts';

const F32 = 1,
  U8 = 2,
  I8 = 3,
  I32 = 6,
  I64 = 7,
  F16 = 10;
const ORT_TYPES: Record<string, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10 };
const origin = { kind: 'pass' as const, pass: 'test', from: [] };
const A = onnx.AttributeProto.AttributeType;

type AttrValue =
  number | number[] | string | { f: number } | { floats: number[] } | { t: { dtype: number; data: number[] } };

function attrs(o: Record<string, AttrValue>): AttributeProto[] {
  return Object.entries(o).map(([name, v]) => {
    if (typeof v === 'number') return { name, type: A.INT, i: v };
    if (typeof v === 'string') return { name, type: A.STRING, s: Buffer.from(v) };
    if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
    if ('f' in v) return { name, type: A.FLOAT, f: v.f };
    if ('floats' in v) return { name, type: A.FLOATS, floats: v.floats };
    return {
      name,
      type: A.TENSOR,
      t: onnx.TensorProto.create({ dataType: v.t.dtype, dims: [v.t.data.length], rawData: bytes(v.t.dtype, v.t.data) }),
    };
  });
}

function bytes(dtype: number, data: number[]): Uint8Array {
  const typed =
    dtype === F32
      ? new Float32Array(data)
      : dtype === I64
        ? new BigInt64Array(data.map(BigInt))
        : dtype === I32
          ? new Int32Array(data)
          : dtype === I8
            ? new Int8Array(data)
            : new Uint8Array(data);
  return new Uint8Array(typed.buffer);
}

/** A hand-built graph plus the inputs onnxruntime runs it on. */
class Build {
  readonly g = new Graph();
  readonly feeds: Record<string, ort.Tensor> = {};
  private seed = 1;
  constructor(opset: number, irVersion = 10) {
    this.g.model = {
      irVersion,
      opsets: [
        { domain: '', version: opset },
        { domain: 'com.microsoft', version: 1 },
      ],
      producerName: 'test',
      metadata: [],
    };
  }
  /** A float input filled with values in (0.1, 1.1), so Log and Sqrt stay finite. */
  input(name: string, dims: number[]): Value {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = Float32Array.from(
      { length: n },
      () => (this.seed = (this.seed * 48271) % 2147483647) / 2147483647 + 0.1,
    );
    this.feeds[name] = new ort.Tensor('float32', data, dims);
    return this.g.addInput(name, { dtype: F32, shape: dims });
  }
  weight(name: string, dtype: number, dims: number[], data: number[]): Value {
    const raw = bytes(dtype, data);
    return this.g.addWeight(name, {
      dtype,
      dims,
      data: { kind: 'raw', bytes: raw },
      proto: onnx.TensorProto.create({ name, dataType: dtype, dims, rawData: raw }),
    });
  }
  ints(name: string, data: number[], scalar = false): Value {
    return this.weight(name, I64, scalar ? [] : [data.length], data);
  }
  floats(name: string, dims: number[], fill = 0.5): Value {
    return this.weight(name, F32, dims, new Array(dims.reduce((a, b) => a * b, 1)).fill(fill));
  }
  op(op: string, inputs: (Value | undefined)[], a: Record<string, AttrValue> = {}, outputs = 1, domain = ''): Node {
    return this.g.add(op, inputs, { origin, attrs: attrs(a), outputs, domain, name: `${op}_${this.g.nodes().length}` });
  }
}

/** Infers, then checks every node output's dims and dtype against onnxruntime. */
async function agree(b: Build): Promise<void> {
  const { g } = b;
  const log = new DiagnosticLog();
  inferShapes(g, {}, log, 'hand-built');
  assert.is(log.items.length, 0, log.items.map(formatDiagnostic).join('\n'));
  const values = g.nodes().flatMap((n) => n.outputs.filter((v): v is Value => !!v));
  const inferred = new Map(values.map((v) => [v.name, v.type!]));
  for (const v of values) {
    g.addOutput(v);
    v.type = { dtype: v.type!.dtype };
  }
  const dir = tempDir('pocketdiff-infer-ops-');
  try {
    const file = path.join(dir, 'model.onnx');
    assert.ok(saveModel(exportGraph(g), file, { externalData: null }, log), log.items.map(formatDiagnostic).join('\n'));
    // Severity 3: ORT's own (onnx) shape inference warns where its MaxPool kernel drops a ceil_mode window.
    const session = await ort.InferenceSession.create(file, {
      graphOptimizationLevel: 'disabled',
      logSeverityLevel: 3,
    });
    const results = await session.run(b.feeds);
    for (const [name, want] of inferred) {
      const got = results[name];
      assert.ok(got, `onnxruntime returned no '${name}'`);
      assert.equal(
        { name, dtype: ORT_TYPES[got.type], shape: [...got.dims] },
        { name, dtype: want.dtype, shape: want.shape },
      );
    }
    await session.release();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('opset 21: windows, normalizations, contractions and runtime axes agree with onnxruntime', async () => {
  const b = new Build(21);
  const x = b.input('x', [2, 8, 5, 7]);
  const none = undefined;
  // Convolutions and pools.
  b.op('ConvTranspose', [x, b.floats('wt1', [8, 3, 3, 3])], {
    strides: [2, 2],
    pads: [1, 0, 1, 0],
    output_padding: [1, 0],
  });
  b.op('ConvTranspose', [x, b.floats('wt2', [8, 2, 3, 3])], { group: 2, dilations: [2, 1], strides: [1, 2] });
  b.op('ConvTranspose', [x, b.floats('wt3', [8, 3, 3, 3])], { strides: [2, 2], output_shape: [12, 15] });
  b.op('Conv', [x, b.floats('w1', [4, 8, 3, 3]), b.floats('b1', [4])], { auto_pad: 'SAME_UPPER', strides: [2, 3] });
  b.op('Conv', [x, b.floats('w2', [4, 4, 3, 2])], { group: 2, auto_pad: 'VALID', dilations: [1, 2] });
  b.op('MaxPool', [x], { kernel_shape: [2, 3], strides: [2, 2], pads: [0, 0, 1, 1], ceil_mode: 1 }, 2);
  b.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 });
  b.op('MaxPool', [x], { kernel_shape: [2, 2], dilations: [2, 1] });
  // With ceil_mode, a last window that would start in the end padding is dropped: 6 → 3, not 4.
  b.op('MaxPool', [b.input('z', [1, 1, 6, 6])], {
    kernel_shape: [2, 2],
    strides: [2, 2],
    pads: [0, 0, 1, 1],
    ceil_mode: 1,
  });
  b.op('GlobalAveragePool', [x]);
  // Normalizations.
  b.op('GroupNormalization', [x, b.floats('gs', [8], 1), b.floats('gb', [8], 0)], { num_groups: 4 });
  b.op('LayerNormalization', [x, b.floats('ls', [5, 7], 1)], { axis: -2 }, 3);
  b.op('BatchNormalization', [
    x,
    b.floats('bs', [8], 1),
    b.floats('bb', [8], 0),
    b.floats('bm', [8], 0),
    b.floats('bv', [8], 1),
  ]);
  b.op('InstanceNormalization', [x, b.floats('is', [8], 1), b.floats('ib', [8], 0)]);
  b.op('Softmax', [x], { axis: 1 });
  // Contractions.
  const y = b.input('y', [2, 8, 7, 3]);
  b.op('Einsum', [x, y], { equation: 'bcij,bcjk->bcik' });
  b.op('Einsum', [x, y], { equation: 'bcij,bcjk' });
  b.op('Einsum', [x, y], { equation: '...ij,...jk->...ik' });
  b.op('MatMul', [x, b.floats('v7', [7])]);
  b.op('MatMul', [b.floats('v5', [5]), x]);
  b.op('Gemm', [b.input('ga', [3, 5]), b.floats('gw', [4, 3]), b.floats('gc', [4])], { transA: 1, transB: 1 });
  b.op(
    'MatMulNBits',
    [b.input('a', [2, 3, 32]), b.weight('q4', U8, [16, 1, 16], new Array(256).fill(0x88)), b.floats('qs', [16], 0.1)],
    { K: 32, N: 16, bits: 4, block_size: 32 },
    1,
    'com.microsoft',
  );
  // Axes, sizes and counts as inputs (opset 18+).
  b.op('ReduceMean', [x, b.ints('rm', [1, -1])], { keepdims: 0 });
  b.op('ReduceSum', [x], { noop_with_empty_axes: 1 });
  b.op('ReduceMax', [x]);
  b.op('ArgMax', [x], { axis: 2, keepdims: 0 });
  b.op('Split', [x], { axis: 3, num_outputs: 3 }, 3);
  b.op('Split', [x, b.ints('sp', [2, 5])], { axis: -1 }, 2);
  b.op('Pad', [x, b.ints('pads', [1, 2, 0, 3]), none, b.ints('pax', [1, 3])]);
  b.op('Resize', [x, none, none, b.ints('size', [10, 10])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' });
  b.op('Resize', [x, none, b.weight('scl', F32, [4], [1, 1, 1.5, 0.5])]);
  b.op('Shape', [x], { start: 1, end: -1 });
  const u = b.op('Unsqueeze', [x, b.ints('ua', [-1, 0])]);
  b.op('Squeeze', [u.output(), b.ints('sa', [0])]);
  b.op('Squeeze', [u.output()]);
  b.op('Slice', [x, b.ints('ss', [-1]), b.ints('se', [-1000]), b.ints('sx', [3]), b.ints('st', [-2])]);
  b.op('Gather', [x, b.weight('gi', I64, [3, 2], [0, 1, 2, 3, 7, -1])], { axis: 1 });
  b.op('Tile', [x, b.ints('rep', [1, 2, 1, 3])]);
  b.op('Expand', [b.floats('e', [8, 1, 1]), b.ints('es', [2, 1, 5, 7])]);
  b.op('Trilu', [x, b.ints('k', [1], true)], { upper: 0 });
  b.op('CumSum', [x, b.ints('ca', [2], true)]);
  b.op('TopK', [x, b.ints('tk', [3])], { axis: 1 }, 2);
  b.op('DepthToSpace', [x], { blocksize: 2 });
  b.op('Flatten', [x], { axis: -2 });
  b.op('Transpose', [x], { perm: [0, 2, 3, 1] });
  b.op('Concat', [x, x], { axis: -1 });
  b.op('Range', [b.ints('r0', [0], true), b.ints('r1', [10], true), b.ints('r2', [3], true)]);
  b.op('ConstantOfShape', [b.ints('cs', [2, 3])], { value: { t: { dtype: I32, data: [7] } } });
  // Element types.
  const gt = b.op('Greater', [x, b.floats('half', [], 0.5)]);
  b.op('Where', [gt.output(), x, b.floats('zero', [1], 0)]);
  const q = b.op('QuantizeLinear', [x, b.floats('qscale', [], 0.01), b.weight('qzp', I8, [], [0])]);
  b.op('DequantizeLinear', [q.output(), b.floats('dqscale', [], 0.01)]);
  b.op('Cast', [x], { to: F16 });
  b.op('Dropout', [x], {}, 2);
  b.op('Gelu', [x], { approximate: 'tanh' });
  b.op('Clip', [x, b.floats('lo', [], 0.2), b.floats('hi', [], 0.8)]);
  await agree(b);
});

test('opset 11: axes and split sizes as attributes, Resize with roi/scales/sizes', async () => {
  const b = new Build(11, 6);
  const x = b.input('x', [2, 8, 5, 7]);
  const u = b.op('Unsqueeze', [x], { axes: [0, 5] });
  b.op('Squeeze', [u.output()], { axes: [-1] });
  b.op('Split', [x], { axis: 1, split: [3, 5] }, 2);
  b.op('ReduceMean', [x], { axes: [2, 3], keepdims: 1 });
  b.op('ReduceSum', [x], { axes: [0], keepdims: 0 });
  b.op('Pad', [x, b.ints('pads', [0, 0, 1, 2, 0, 0, 3, 4])]);
  b.op('Resize', [x, b.floats('roi', [0]), b.floats('scales', [0]), b.ints('sizes', [2, 8, 9, 4])]);
  b.op('Resize', [x, b.floats('roi2', [0]), b.weight('sc2', F32, [4], [1, 1, 2, 2])], { mode: 'nearest' });
  b.op('Clip', [x, b.floats('lo', [], 0.2)]);
  await agree(b);
});

test('opset 9 and 7: Upsample, and Slice and Pad by attribute', async () => {
  const b9 = new Build(9, 4);
  b9.op('Upsample', [b9.input('x', [1, 2, 5, 7]), b9.weight('s', F32, [4], [1, 1, 2, 1.5])]);
  await agree(b9);
  const b7 = new Build(7, 3);
  const x = b7.input('x', [2, 8, 5, 7]);
  b7.op('Upsample', [x], { scales: { floats: [1, 1, 2, 3] } });
  b7.op('Slice', [x], { starts: [1, -3], ends: [100, -1], axes: [1, 3] });
  b7.op('Pad', [x], { pads: [0, 1, 0, 2, 0, 0, 1, 0] });
  await agree(b7);
});

test.run();

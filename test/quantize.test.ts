// quantize on real exports (the tiny VAE decoder and UNet fixtures), checked in
// onnxruntime-node against the float32 model on the fixtures' test inputs
// (max |a − b| / max |b|, support/ort.ts), and by what the files weigh.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { Graph } from '../src/ir/graph.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { byteSize, DataType } from '../src/onnx/dtype.ts';
import { runPasses } from '../src/passes/pass.ts';
import { calibrate } from '../src/passes/quantize/calibrate.ts';
import { activationTargets } from '../src/passes/quantize/activations.ts';
import { prepareQuantize, quantize, type QuantizeSpec } from '../src/passes/quantize/quantize.ts';
import { inferredGraph } from './support/passes.ts';
import { loadGraph, relError, run, saveGraph, testSet } from './support/ort.ts';

const VAE = 'test/fixtures/vae-decoder-tiny';
const VAE_DIMS = { batch_size: 1, height_latent: 16, width_latent: 16 };
const UNET = 'test/fixtures/unet-tiny';
const UNET_DIMS = { batch_size: 2, height: 32, width: 32, steps: 2, sequence_length: 77 };
const NARROW = 'test/fixtures/unet-sd15shape-narrow';
const NARROW_DIMS = { batch_size: 2, height: 16, width: 16, steps: 2, sequence_length: 77 };
const SETS = ['test_data_set_0', 'test_data_set_1', 'test_data_set_2'];
async function quantized(dir: string, dims: Record<string, number>, specs: QuantizeSpec[]) {
  const g = inferredGraph(`${dir}/model.onnx`, dims);
  const log = new DiagnosticLog();
  const prepared = await prepareQuantize(g, specs, log);
  assert.ok(prepared, log.items.map(formatDiagnostic).join('\n'));
  const records = runPasses(g, [quantize(specs, prepared)], log);
  assert.ok(records, log.items.map(formatDiagnostic).join('\n'));
  return { g, log, stats: records[0].stats };
}

const references = new Map<string, Promise<ort.Tensor[]>>();
/** The float32 model's outputs on each test set, computed once per fixture. */
function reference(dir: string, fp32: string): Promise<ort.Tensor[]> {
  if (!references.has(dir))
    references.set(
      dir,
      Promise.all(SETS.map(async (set) => Object.values(await run(fp32, testSet(`${dir}/${set}`).feeds))[0])),
    );
  return references.get(dir)!;
}

/** Worst relative error over the fixture's test sets. */
async function worstError(dir: string, fp32: string, q: string): Promise<number> {
  const refs = await reference(dir, fp32);
  let worst = 0;
  for (const [i, set] of SETS.entries()) {
    const a = Object.values(await run(q, testSet(`${dir}/${set}`).feeds))[0];
    assert.is(a.type, 'float32');
    worst = Math.max(worst, relError(a, refs[i]));
  }
  return worst;
}

/** Bytes of every weight as stored. */
const weightBytes = (g: Graph) =>
  g.weights.reduce(
    (s, w) =>
      s +
      (byteSize(
        w.weight!.dtype,
        w.weight!.dims.reduce((a, b) => a * b, 1),
      ) ?? 0),
    0,
  );
/** Bytes of a saved model's folder (model.onnx and its data file). */
const fileBytes = (model: string) =>
  fs.readdirSync(path.dirname(model)).reduce((s, f) => s + fs.statSync(path.join(path.dirname(model), f)).size, 0);

// scheme → [max relative error, weights size factor, file size factor (tiny models carry a large graph)]
const LIMITS: Record<string, [number, number, number]> = {
  fp16: [1e-2, 0.5, 0.6],
  int8: [5e-2, 0.27, 0.36],
  w8a16: [5e-2, 0.27, 0.55],
  // 8-bit activations: 256 levels per tensor, so the error is an order above w8a16's.
  w8a8: [0.25, 0.27, 0.55],
};

for (const [dir, dims] of [
  [VAE, VAE_DIMS],
  [UNET, UNET_DIMS],
] as const) {
  for (const scheme of ['fp16', 'int8', 'w8a16', 'w8a8'] as const) {
    test(`${scheme} on ${path.basename(dir)}: error and size against float32`, async () => {
      const fp32 = inferredGraph(`${dir}/model.onnx`, dims);
      const fp32File = saveGraph(fp32);
      // The UNet calibrates on one fixture sample (a folder of .pb); the VAE on seeded random latents.
      const calibration = dir === UNET ? { inputs: `${dir}/test_data_set_0` } : undefined;
      const { g, log, stats } = await quantized(dir, dims, [{ scheme, calibration }]);
      assert.equal(log.items, []);
      assert.is(stats.scheme, scheme);
      if (scheme === 'w8a16' || scheme === 'w8a8') {
        // Activations pass through QDQ pairs: uint16 at opset 21 for w8a16, uint8 at the model's opset for w8a8.
        const q = g.nodes().filter((n) => n.op === 'QuantizeLinear');
        assert.ok(
          q.length > 0 &&
            q.every((n) => n.output().type!.dtype === (scheme === 'w8a16' ? DataType.UINT16 : DataType.UINT8)),
        );
        assert.ok(scheme === 'w8a16' ? stats.opset === 21 : Number(stats.opset) < 21, `opset ${stats.opset}`);
      }
      const file = saveGraph(g);
      const [maxErr, weightFactor, fileFactor] = LIMITS[scheme];
      const err = await worstError(dir, fp32File, file);
      assert.ok(err <= maxErr, `${scheme}: relative error ${err} > ${maxErr}`);
      const wf = weightBytes(g) / weightBytes(fp32);
      assert.ok(
        wf <= weightFactor,
        `${scheme}: weights ${weightBytes(fp32)} → ${weightBytes(g)} bytes (×${wf.toFixed(3)})`,
      );
      const ff = fileBytes(file) / fileBytes(fp32File);
      assert.ok(
        ff <= fileFactor,
        `${scheme}: files ${fileBytes(fp32File)} → ${fileBytes(file)} bytes (×${ff.toFixed(3)})`,
      );
      console.log(
        `    ${path.basename(dir)} ${scheme}: error ${err.toExponential(2)}, weights ×${wf.toFixed(3)}, files ×${ff.toFixed(3)}`,
      );
    });
  }
}

test('int4 on MatMul weights (attention, feed-forward): blocked DequantizeLinear and MatMulNBits agree, error ≤ 0.15', async () => {
  const fp32File = saveGraph(inferredGraph(`${UNET}/model.onnx`, UNET_DIMS));
  const dq = await quantized(UNET, UNET_DIMS, [{ scheme: 'int4', blocklist: ['Conv'] }]);
  const nbits = await quantized(UNET, UNET_DIMS, [{ scheme: 'int4', blocklist: ['Conv'], int4Format: 'matmulnbits' }]);
  assert.is(dq.stats.opset, 21);
  assert.ok(dq.g.nodes().some((n) => n.op === 'DequantizeLinear' && n.attr('block_size')));
  assert.ok(nbits.g.nodes().some((n) => n.op === 'MatMulNBits' && n.domain === 'com.microsoft'));
  const [a, b] = [saveGraph(dq.g), saveGraph(nbits.g)];
  const err = await worstError(UNET, fp32File, a);
  assert.ok(err <= 0.15, `relative error ${err}`);
  // Two runtimes paths, one set of 4-bit grids: the same numbers.
  const { feeds } = testSet(`${UNET}/test_data_set_1`);
  assert.ok(relError(Object.values(await run(b, feeds))[0], Object.values(await run(a, feeds))[0]) <= 1e-5);
  console.log(`    unet-tiny int4 (MatMul): error ${err.toExponential(2)}`);
});

test('int4 covers Conv: 4-bit blocks reproduce the weights within the grid, the model ends stay int8, weights shrink ~6×', async () => {
  const fp32 = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
  const fp32File = saveGraph(fp32);
  const { g, stats } = await quantized(VAE, VAE_DIMS, [{ scheme: 'int4' }]);
  assert.is(stats.weights_quantized, 21);
  // keep_int8 [first, last] by default: post_quant_conv reads latent_sample, conv_out writes sample.
  assert.is(stats.int8_kept, 2);
  assert.is(stats.scheme, 'int4+int8');
  const dqOf = (name: string) =>
    g.nodes().find((n) => n.op === 'DequantizeLinear' && n.inputs[0]!.name === `${name}_quantized`)!;
  for (const name of ['post_quant_conv.weight', 'decoder.conv_out.weight']) {
    assert.is(dqOf(name).inputs[0]!.weight!.dtype, DataType.INT8, name);
    assert.is(dqOf(name).attr('block_size'), undefined, name);
  }
  // Each DequantizeLinear, evaluated by onnxruntime, against the weight it replaced.
  for (const name of [
    'decoder.mid_block.resnets.0.conv1.weight',
    'decoder.conv_in.weight',
    'decoder.up_blocks.1.resnets.1.conv2.weight',
  ]) {
    const dq = dqOf(name);
    assert.is(dq.inputs[0]!.weight!.dtype, DataType.UINT4, name);
    assert.is(dq.attr('block_size')?.i, 32);
    const probe = new (g.constructor as new () => Graph)();
    probe.model = { ...g.model, template: undefined };
    const ins = dq.inputs.map((v) => probe.addWeight(v!.name, v!.weight!));
    probe.addOutput(
      probe
        .add('DequantizeLinear', ins, { attrs: dq.attrs, origin: { kind: 'pass', pass: 'test', from: [] } })
        .output(),
    );
    const out = Object.values(await run(saveGraph(probe), {}))[0].data as Float32Array;
    const orig = fp32.weights.find((v) => v.name === name)!;
    const { readFloats } = await import('../src/ir/weight-io.ts');
    const x = readFloats(orig.weight!)!;
    let e = 0;
    let n = 0;
    for (let i = 0; i < x.length; i++) {
      e += (x[i] - out[i]) ** 2;
      n += x[i] ** 2;
    }
    // 16 levels over each block's range: ~4-8% of the weights' norm (a layout error would be ~100%).
    assert.ok(Math.sqrt(e / n) < 0.1, `${name}: relative weight error ${Math.sqrt(e / n)}`);
  }
  const file = saveGraph(g);
  const wf = weightBytes(g) / weightBytes(fp32);
  // 4 bits + a float32 scale and a 4-bit zero point per 32 weights; biases and norms stay float32;
  // the two int8 layers are 880 of the 399k weights.
  assert.ok(wf <= 0.18, `weights ×${wf}`);
  assert.ok(fileBytes(file) / fileBytes(fp32File) <= 0.25);
  console.log(
    `    vae-decoder-tiny int4 (Conv + MatMul): weights ×${wf.toFixed(3)}, files ×${(fileBytes(file) / fileBytes(fp32File)).toFixed(3)}`,
  );
});

// int4 on every Conv and MatMul, against float32. The 0.15 that int4 on MatMul alone meets is
// not reached with Conv on these fixtures by any 4-bit rounding tried: their weights are i.i.d. random (default init
// + 0.02·N(0, 1)), so every 3×3 conv loses ~7% of its weights' norm to the 4-bit grid (a finer
// clipping search, blocks across C_in·kh·kw, or 16-element blocks move that by ≤ 12%), and the
// 17-97 conv layers add up in quadrature (the output's RMS error is ~25%, as large as its max
// error). Calibrated GPTQ, not implemented here, measured 0.17-0.18. What helps without
// calibration data is keeping the ends at int8 (the default), asserted here against int4
// throughout. Guards sit ~10% above the measured errors (ends int8 / int4 throughout:
// vae 0.272 / 0.341, unet-tiny 0.293 / 0.314, narrow 0.264 / 0.291).
const INT4_CONV: [string, Record<string, number>, number][] = [
  [VAE, VAE_DIMS, 0.3],
  [UNET, UNET_DIMS, 0.32],
  [NARROW, NARROW_DIMS, 0.29],
];
for (const [dir, dims, bound] of INT4_CONV) {
  test(`int4 with Conv on ${path.basename(dir)}: error against float32, lower with the ends at int8`, async () => {
    const fp32File = saveGraph(inferredGraph(`${dir}/model.onnx`, dims));
    const ends = await quantized(dir, dims, [{ scheme: 'int4' }]);
    const pure = await quantized(dir, dims, [{ scheme: 'int4', keepInt8: [] }]);
    assert.is(pure.stats.scheme, 'int4');
    assert.is(pure.stats.int8_kept, undefined);
    assert.ok(Number(ends.stats.int8_kept) > 0);
    assert.not.ok(
      pure.g.nodes().some((n) => n.op === 'DequantizeLinear' && n.inputs[0]!.weight?.dtype === DataType.INT8),
    );
    const err = await worstError(dir, fp32File, saveGraph(ends.g));
    const errPure = await worstError(dir, fp32File, saveGraph(pure.g));
    console.log(
      `    ${path.basename(dir)} int4 (Conv + MatMul): error ${err.toFixed(3)} (first and last layers int8: ${ends.stats.int8_kept}), ${errPure.toFixed(3)} int4 throughout`,
    );
    assert.ok(err <= bound, `relative error ${err} > ${bound}`);
    assert.ok(err < errPure, `int8 ends ${err} vs int4 throughout ${errPure}`);
  });
}

test('fp16: blocklisted normalization and softmax stay float32; keep_io_types on and off', async () => {
  const { g, stats } = await quantized(VAE, VAE_DIMS, [{ scheme: 'fp16' }]);
  assert.ok(Number(stats.fp16_casts) > 0);
  const dtypeIn = (op: string) =>
    g
      .nodes()
      .filter((n) => n.op === op)
      .map((n) => n.inputs[0]!.type!.dtype);
  assert.ok(dtypeIn('InstanceNormalization').every((t) => t === DataType.FLOAT));
  assert.ok(dtypeIn('Softmax').every((t) => t === DataType.FLOAT));
  assert.ok(dtypeIn('Conv').every((t) => t === DataType.FLOAT16));
  assert.is(g.inputs[0].type!.dtype, DataType.FLOAT);
  assert.is(g.outputs[0].type!.dtype, DataType.FLOAT);
  assert.is(g.outputs[0].name, 'sample');

  const open = await quantized(VAE, VAE_DIMS, [{ scheme: 'fp16', keepIoTypes: false, blocklist: [] }]);
  assert.is(open.g.inputs[0].type!.dtype, DataType.FLOAT16);
  assert.is(open.g.outputs[0].type!.dtype, DataType.FLOAT16);
  assert.ok(
    open.g
      .nodes()
      .filter((n) => n.op === 'InstanceNormalization')
      .every((n) => n.inputs[0]!.type!.dtype === DataType.FLOAT16),
  );
  const { feeds, expected } = testSet(`${VAE}/test_data_set_0`);
  const x = feeds.latent_sample.data as Float32Array;
  const { toHalf } = await import('../src/onnx/half.ts');
  const half = new ort.Tensor(
    'float16',
    Uint16Array.from(x, (v) => toHalf(v)),
    feeds.latent_sample.dims,
  );
  const out = Object.values(await run(saveGraph(open.g), { latent_sample: half }))[0];
  assert.is(out.type, 'float16');
  const back = new ort.Tensor(
    'float32',
    Float32Array.from(out.data as unknown as ArrayLike<number>, (h) => halfValue(h as number)),
    out.dims,
  );
  assert.ok(relError(back, expected) < 2e-2, `fp16 I/O error ${relError(back, expected)}`);
});

function halfValue(h: number): number {
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  return e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
}

test('per-selector schemes: int8 on one block, fp16 elsewhere', async () => {
  const { g, stats } = await quantized(VAE, VAE_DIMS, [
    { scheme: 'fp16' },
    { scheme: 'int8', selector: 'decoder.mid_block.*' },
  ]);
  assert.is(stats.scheme, 'fp16+int8');
  const dqs = g.nodes().filter((n) => n.op === 'DequantizeLinear');
  assert.ok(dqs.length > 0 && dqs.every((n) => n.scope.startsWith('decoder.mid_block.')));
  const err = await worstError(VAE, saveGraph(inferredGraph(`${VAE}/model.onnx`, VAE_DIMS)), saveGraph(g));
  assert.ok(err <= 5e-2, `relative error ${err}`);
});

test('calibration streams: activations fetched in small batches give the same ranges as one batch', async () => {
  const g = inferredGraph(`${VAE}/model.onnx`, VAE_DIMS);
  const targets = activationTargets(g, () => true);
  const log = new DiagnosticLog();
  const dims = { batch_size: 1, height_latent: 8, width_latent: 8 };
  const one = await calibrate(g, targets, { samples: 2, seed: 3, dims }, log);
  // The budget is counted at the inferred (16×16) shapes: about ten activations per run.
  const many = await calibrate(g, targets, { samples: 2, seed: 3, dims, budgetBytes: 1 << 20 }, log);
  assert.ok(one && many, log.items.map(formatDiagnostic).join('\n'));
  assert.is(one.ranges.size, targets.length);
  for (const [name, r] of one.ranges) assert.equal(many.ranges.get(name), r, name);
});

test('graph-only models: fp16 and int8 keep the weights absent (PD9108); w8a16 cannot calibrate (PD9107)', async () => {
  const dims = { batch_size: 1, height_latent: 64, width_latent: 64 };
  const load = () => {
    const g = loadGraph('test/fixtures/vae-decoder-sd15-graph/model.onnx');
    inferShapes(g, { dims }, new DiagnosticLog());
    return g;
  };
  for (const scheme of ['fp16', 'int8', 'int4'] as const) {
    const g = load();
    const log = new DiagnosticLog();
    assert.ok(runPasses(g, [quantize([{ scheme }])], log), log.items.map(formatDiagnostic).join('\n'));
    assert.equal(log.codes(), scheme === 'fp16' ? [] : ['PD9108']);
    assert.throws(() => saveGraph(g), /PD1006/);
  }
  const log = new DiagnosticLog();
  assert.is(await prepareQuantize(load(), [{ scheme: 'w8a16' }], log), undefined);
  assert.equal(log.codes(), ['PD9107']);
});

test('bad quantize specs are refused with coded errors', () => {
  const at = { file: 'r.yaml', line: 7, col: 3 };
  const cases: [QuantizeSpec[], string][] = [
    [[{ scheme: 'int3' as never, at }], 'PD9101'],
    [[{ scheme: 'int4', blockSize: 24, at }], 'PD9104'],
    [[{ scheme: 'int4', keepInt8: ['middle' as never], at }], 'PD9101'],
    [
      [
        { scheme: 'w8a16', at },
        { scheme: 'fp16', at },
      ],
      'PD9101',
    ],
    [
      [
        { scheme: 'w8a8', at },
        { scheme: 'w8a16', selector: 'decoder.mid_block', at },
      ],
      'PD9101',
    ],
    [[{ scheme: 'w8a16', at }], 'PD9107'],
    [[{ scheme: 'int8', selector: 'decoder.mid_blok', at }], 'PD5001'],
  ];
  for (const [specs, code] of cases) {
    const log = new DiagnosticLog();
    assert.not.ok(runPasses(inferredGraph(`${VAE}/model.onnx`, VAE_DIMS), [quantize(specs)], log));
    assert.equal(log.codes(), [code], log.items.map(formatDiagnostic).join('\n'));
    assert.match(formatDiagnostic(log.items[0]), /^r\.yaml:7:3: error/);
  }
});

test.run();

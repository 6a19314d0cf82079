// fold-cfg on the real UNet exports. The oracle is the ORIGINAL model called
// twice at batch 1 (uncond, then cond) in onnxruntime-node, with guidance and
// the DDIM step computed on the host in float64; the folded graph, one call at
// batch 2, must match it.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findBlocks } from '../src/blocks/find.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { exportGraph } from '../src/ir/export.ts';
import type { Graph } from '../src/ir/graph.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { foldCfg, type DdimStep, type FoldCfgOptions } from '../src/passes/fold-cfg.ts';
import { runPasses, type PassRecord } from '../src/passes/pass.ts';
import { saveModel } from '../src/onnx/save.ts';
import { mulberry32 } from '../src/random.ts';
import { loadGraph, relError, saveGraph, tempDir, testSet, type Feeds } from './support/ort.ts';

const FIXTURES = ['unet-tiny', 'unet-sd15shape-narrow'];
const SCALE = 7.5;
const TOLERANCE = 1e-5;

// Creating a session for the narrow UNet takes seconds, so each model file gets one.
const sessions = new Map<string, Promise<ort.InferenceSession>>();
async function run(file: string, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  if (!sessions.has(file))
    sessions.set(file, ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled' }));
  return (await sessions.get(file)!).run(feeds);
}
test.after(async () => {
  for (const s of sessions.values()) await (await s).release();
});

/** Deterministic pseudo-random floats in [-1, 1) (mulberry32). */
function noise(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => next() / 2 ** 31 - 1);
}

/** SD's scaled-linear training schedule and a 10-step DDIM ("leading", offset 1) over it, per step. */
function ddim(prediction_type: DdimStep['prediction_type']): DdimStep {
  const T = 1000;
  const [b0, b1] = [Math.sqrt(0.00085), Math.sqrt(0.012)];
  const cumprod: number[] = [];
  let acc = 1;
  for (let i = 0; i < T; i++) {
    const beta = (b0 + ((b1 - b0) * i) / (T - 1)) ** 2;
    acc *= 1 - beta;
    cumprod.push(acc);
  }
  const timesteps = Array.from({ length: 10 }, (_, i) => 901 - 100 * i);
  return {
    kind: 'ddim',
    prediction_type,
    timesteps,
    alphas_cumprod: timesteps.map((t) => cumprod[t]),
    prev_alphas_cumprod: timesteps.map((t) => (t - 100 >= 0 ? cumprod[t - 100] : 1)),
  };
}

interface Case {
  dir: string;
  feeds: Feeds;
  uncond: ort.Tensor;
}

function setup(fixture: string): Case {
  const dir = `test/fixtures/${fixture}`;
  const { feeds } = testSet(`${dir}/test_data_set_0`);
  const cond = feeds.encoder_hidden_states;
  const uncond = new ort.Tensor('float32', noise(cond.size, 42), cond.dims);
  return { dir, feeds, uncond };
}

function fold(c: Case, opts: FoldCfgOptions = {}): { g: Graph; records: PassRecord[] } {
  const g = loadGraph(`${c.dir}/model.onnx`);
  const log = new DiagnosticLog();
  const records = runPasses(g, [foldCfg(opts)], log);
  assert.ok(records, log.items.map(formatDiagnostic).join('\n'));
  return { g, records };
}

/** The original model, once per embedding, at the given timestep. */
async function twoCalls(c: Case, timestep = c.feeds.timestep): Promise<{ u: Float32Array; c: Float32Array }> {
  const file = `${c.dir}/model.onnx`;
  const base = { sample: c.feeds.sample, timestep };
  const u = (await run(file, { ...base, encoder_hidden_states: c.uncond })).out_sample.data as Float32Array;
  const k = (await run(file, { ...base, encoder_hidden_states: c.feeds.encoder_hidden_states })).out_sample
    .data as Float32Array;
  return { u, c: k };
}

function guided(o: { u: Float32Array; c: Float32Array }): Float64Array {
  return Float64Array.from(o.u, (u, i) => u + SCALE * (o.c[i] - u));
}

function tensor(x: Float64Array, like: ort.Tensor): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(x), like.dims);
}

/** Two batch-1 tensors stacked on axis 0. */
function concat(a: ort.Tensor, b: ort.Tensor): ort.Tensor {
  const data = a.type === 'int64' ? new BigInt64Array(a.size * 2) : new Float32Array(a.size * 2);
  data.set(a.data as never);
  data.set(b.data as never, a.size);
  return new ort.Tensor(a.type as 'float32', data as Float32Array, [a.dims[0] * 2, ...a.dims.slice(1)]);
}

const scale = () => new ort.Tensor('float32', Float32Array.of(SCALE), [1]);

for (const fixture of FIXTURES) {
  const c = setup(fixture);

  test(`${fixture}: one folded call equals uncond + s·(cond − uncond) from two calls`, async () => {
    const { g, records } = fold(c);
    assert.is(records[0].pass, 'fold-cfg');
    assert.is(records[0].stats.uncond, 'input');
    const out = await run(saveGraph(g), {
      ...c.feeds,
      uncond_encoder_hidden_states: c.uncond,
      guidance_scale: scale(),
    });
    assert.equal(Object.keys(out), ['noise_pred']);
    assert.equal(out.noise_pred.dims, [1, 4, ...c.feeds.sample.dims.slice(2)]);
    const two = await twoCalls(c);
    const err = relError(out.noise_pred, tensor(guided(two), out.noise_pred));
    console.log(`  ${fixture} noise_pred rel error ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `relative error ${err}`);
    // Most of that error is ORT's batch-2 kernels vs batch-1 ones, amplified by s: against the
    // original model run once at batch 2 on the same inputs, the fold is exact up to rounding.
    const both = (
      await run(`${c.dir}/model.onnx`, {
        sample: concat(c.feeds.sample, c.feeds.sample),
        timestep: concat(c.feeds.timestep, c.feeds.timestep),
        encoder_hidden_states: concat(c.uncond, c.feeds.encoder_hidden_states),
      })
    ).out_sample.data as Float32Array;
    const half = both.length / 2;
    const errBatched = relError(
      out.noise_pred,
      tensor(guided({ u: both.subarray(0, half), c: both.subarray(half) }), out.noise_pred),
    );
    console.log(`  ${fixture} noise_pred vs one batch-2 call of the original: ${errBatched.toExponential(2)}`);
    assert.ok(errBatched <= 1e-6, `relative error ${errBatched}`);
    // The guidance is real: cond and uncond differ, so the result is neither.
    assert.ok(relError(out.noise_pred, tensor(Float64Array.from(two.c), out.noise_pred)) > 1e-3);
  });

  test(`${fixture}: a baked uncond embedding gives the same result without the input`, async () => {
    const { g, records } = fold(c, { bakedUncond: { data: c.uncond.data as Float32Array, dims: [...c.uncond.dims] } });
    assert.is(records[0].stats.uncond, 'baked');
    assert.equal(
      g.inputs.map((v) => v.name),
      ['sample', 'timestep', 'encoder_hidden_states', 'guidance_scale'],
    );
    assert.equal(g.inputs[2].type?.shape?.slice(0, 2), [1, 77], 'the baked embedding fixes the token count');
    const out = await run(saveGraph(g), { ...c.feeds, guidance_scale: scale() });
    const err = relError(out.noise_pred, tensor(guided(await twoCalls(c)), out.noise_pred));
    console.log(`  ${fixture} baked noise_pred rel error ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `relative error ${err}`);
  });

  for (const prediction of ['epsilon', 'v_prediction'] as const) {
    test(`${fixture}: the folded DDIM step (${prediction}) equals the host step from two calls`, async () => {
      const s = ddim(prediction);
      const { g, records } = fold(c, { schedulerStep: s });
      assert.is(records[0].stats.scheduler, `ddim/${prediction}`);
      assert.equal(
        g.inputs.map((v) => v.name),
        ['sample', 'step_index', 'encoder_hidden_states', 'uncond_encoder_hidden_states', 'guidance_scale'],
      );
      assert.equal(
        g.outputs.map((v) => v.name),
        ['noise_pred', 'prev_sample'],
      );
      const glue = g.nodes().filter((n) => n.scope === 'cfg');
      assert.equal(glue.map((n) => n.op).sort(), [
        'Add',
        'Add',
        'Concat',
        'Concat',
        'Concat',
        'Gather',
        'Gather',
        'Gather',
        'Mul',
        'Mul',
        'Mul',
        'Split',
        'Sub',
      ]);
      assert.ok(
        glue.every((n) => n.origin.kind === 'pass' && n.origin.pass === 'fold-cfg' && n.origin.from.length > 0),
      );
      const file = saveGraph(g);
      const x = c.feeds.sample.data as Float32Array;
      for (const i of [0, 4, s.timesteps.length - 1]) {
        const out = await run(file, {
          sample: c.feeds.sample,
          step_index: new ort.Tensor('int64', BigInt64Array.of(BigInt(i)), [1]),
          encoder_hidden_states: c.feeds.encoder_hidden_states,
          uncond_encoder_hidden_states: c.uncond,
          guidance_scale: scale(),
        });
        const m = guided(await twoCalls(c, new ort.Tensor('int64', BigInt64Array.of(BigInt(s.timesteps[i])), [1])));
        const [a, p] = [s.alphas_cumprod[i], s.prev_alphas_cumprod[i]];
        const prev = m.map((mi, j) => {
          const x0 =
            prediction === 'epsilon'
              ? (x[j] - Math.sqrt(1 - a) * mi) / Math.sqrt(a)
              : Math.sqrt(a) * x[j] - Math.sqrt(1 - a) * mi;
          const eps = prediction === 'epsilon' ? mi : Math.sqrt(a) * mi + Math.sqrt(1 - a) * x[j];
          return Math.sqrt(p) * x0 + Math.sqrt(1 - p) * eps;
        });
        const errNoise = relError(out.noise_pred, tensor(m, out.noise_pred));
        const errPrev = relError(out.prev_sample, tensor(prev, out.prev_sample));
        console.log(
          `  ${fixture} ${prediction} step ${i} (t=${s.timesteps[i]}) noise_pred ${errNoise.toExponential(2)} prev_sample ${errPrev.toExponential(2)}`,
        );
        assert.ok(errNoise <= TOLERANCE, `noise_pred relative error ${errNoise}`);
        assert.ok(errPrev <= TOLERANCE, `prev_sample relative error ${errPrev}`);
      }
    });
  }
}

test('per sample: B samples in one call, each with its own timestep, embeddings and guidance scale, equal B pairs of batch-1 calls', async () => {
  const c = setup('unet-tiny');
  const { g, records } = fold(c, { perSample: true });
  assert.is(records[0]!.stats.batch, 'per-sample');
  const B = 3;
  const [size, seqSize] = [c.feeds.sample.size, c.feeds.encoder_hidden_states.size];
  const [sDims, eDims] = [c.feeds.sample.dims, c.feeds.encoder_hidden_states.dims];
  const samples = Array.from({ length: B }, (_, i) => noise(size, 100 + i));
  const conds = Array.from({ length: B }, (_, i) => noise(seqSize, 200 + i));
  const unconds = Array.from({ length: B }, (_, i) => noise(seqSize, 300 + i));
  const timesteps = [901n, 501n, 1n];
  const scales = [2, 7.5, 14];
  const stack = (xs: Float32Array[], dims: readonly number[]) => {
    const out = new Float32Array(xs.length * xs[0]!.length);
    xs.forEach((x, i) => out.set(x, i * x.length));
    return new ort.Tensor('float32', out, [xs.length, ...dims.slice(1)]);
  };
  const out = (
    await run(saveGraph(g), {
      sample: stack(samples, sDims),
      timestep: new ort.Tensor('int64', BigInt64Array.from(timesteps), [B]),
      encoder_hidden_states: stack(conds, eDims),
      uncond_encoder_hidden_states: stack(unconds, eDims),
      guidance_scale: new ort.Tensor('float32', Float32Array.from(scales), [B]),
    })
  ).noise_pred;
  assert.equal(out.dims, [B, ...sDims.slice(1)]);
  const file = `${c.dir}/model.onnx`;
  for (let i = 0; i < B; i++) {
    const base = {
      sample: new ort.Tensor('float32', samples[i]!, sDims),
      timestep: new ort.Tensor('int64', BigInt64Array.of(timesteps[i]!), [1]),
    };
    const u = (await run(file, { ...base, encoder_hidden_states: new ort.Tensor('float32', unconds[i]!, eDims) }))
      .out_sample.data as Float32Array;
    const k = (await run(file, { ...base, encoder_hidden_states: new ort.Tensor('float32', conds[i]!, eDims) }))
      .out_sample.data as Float32Array;
    const want = new ort.Tensor(
      'float32',
      Float32Array.from(u, (x, j) => x + scales[i]! * (k[j]! - x)),
      sDims,
    );
    const have = new ort.Tensor('float32', (out.data as Float32Array).slice(i * size, (i + 1) * size), sDims);
    const err = relError(have, want);
    assert.ok(err <= TOLERANCE, `sample ${i}: relative error ${err}`);
  }
  // One image's options do not go with it.
  for (const opts of [
    { perSample: true, schedulerStep: ddim('epsilon') },
    { perSample: true, bakedUncond: { data: new Float32Array(seqSize), dims: [...eDims] } },
  ]) {
    const log = new DiagnosticLog();
    assert.not.ok(runPasses(loadGraph(file), [foldCfg(opts)], log));
    assert.match(log.items.map(formatDiagnostic).join('\n'), /per-sample guidance keeps each sample's own/);
  }
});

test('interface: batch-1 inputs, symbolic H/W/seq kept, new nodes are cfg glue made by the pass', () => {
  const c = setup('unet-sd15shape-narrow');
  const before = loadGraph(`${c.dir}/model.onnx`);
  const ids = new Set(before.nodes().map((n) => n.id));
  const { g, records } = fold(c);
  const types = Object.fromEntries(g.inputs.map((v) => [v.name, v.type]));
  assert.equal(types, {
    sample: { dtype: 1, shape: [1, 4, 'height', 'width'] },
    timestep: { dtype: 7, shape: [1] },
    encoder_hidden_states: { dtype: 1, shape: [1, 'sequence_length', 64] },
    uncond_encoder_hidden_states: { dtype: 1, shape: [1, 'sequence_length', 64] },
    guidance_scale: { dtype: 1, shape: [1] },
  });
  assert.equal(
    g.outputs.map((v) => [v.name, v.type?.shape]),
    [['noise_pred', [1, 4, 'height', 'width']]],
  );
  const added = g.nodes().filter((n) => !ids.has(n.id));
  assert.equal(added.map((n) => n.op).sort(), ['Add', 'Concat', 'Concat', 'Concat', 'Mul', 'Split', 'Sub']);
  assert.is(records[0].stats.nodes_added, added.length);
  assert.is(records[0].nodes_removed, 0);
  for (const n of added) {
    assert.is(n.scope, 'cfg');
    assert.ok(n.origin.kind === 'pass' && n.origin.pass === 'fold-cfg' && n.origin.from.length > 0, n.name);
  }
  const glue = new Set(findBlocks(g).glue);
  assert.ok(added.every((n) => glue.has(n)));
  // The body's batch symbol now reads 2; shape inference agrees end to end.
  const log = new DiagnosticLog();
  inferShapes(g, { dims: { height: 16, width: 16, sequence_length: 77 } }, log);
  assert.is(log.hasErrors, false, log.items.map(formatDiagnostic).join('\n'));
  assert.equal(g.outputs[0].type?.shape, [1, 4, 16, 16]);
});

test('interface: shapes inferred before folding stay true (stale ones are dropped, value_info exports)', async () => {
  const c = setup('unet-tiny');
  const g = loadGraph(`${c.dir}/model.onnx`);
  const log = new DiagnosticLog();
  // batch 2 matches the fold; a bound `steps` of 1 does not, since the body now sees a timestep of 2.
  inferShapes(g, { dims: { batch_size: 2, steps: 1, height: 32, width: 32, sequence_length: 77 } }, log);
  assert.ok(runPasses(g, [foldCfg()], log), log.items.map(formatDiagnostic).join('\n'));
  const body = g
    .nodes()
    .find((n) => n.op === 'Split' && n.scope === 'cfg')!
    .input(0)!;
  assert.equal(body.type, { dtype: 1 }, 'body shapes dropped (dtype kept), not left as they were');
  const dir = tempDir();
  const file = path.join(dir, 'model.onnx');
  assert.ok(
    saveModel(exportGraph(g, { valueInfo: true }), file, { externalData: 'model.onnx.data' }, log),
    log.items.map(formatDiagnostic).join('\n'),
  );
  const out = await run(file, { ...c.feeds, uncond_encoder_hidden_states: c.uncond, guidance_scale: scale() });
  const err = relError(out.noise_pred, tensor(guided(await twoCalls(c)), out.noise_pred));
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
  // Re-inference fills them in again.
  inferShapes(g, {}, log);
  assert.is(log.hasErrors, false, log.items.map(formatDiagnostic).join('\n'));
  assert.equal(body.type?.shape, [2, 4, 32, 32]);
});

function foldErrors(edit: (g: Graph) => void, opts: FoldCfgOptions = {}): DiagnosticLog {
  const g = loadGraph('test/fixtures/unet-tiny/model.onnx');
  edit(g);
  const log = new DiagnosticLog();
  assert.not.ok(runPasses(g, [foldCfg(opts)], log));
  return log;
}

test('errors: a graph without the UNet interface names what is missing', () => {
  let log = foldErrors((g) => {
    g.rename(g.inputs[2], 'text');
  });
  assert.equal(log.codes(), ['PD6001', 'PD6001']);
  assert.match(
    log.items[0].message,
    /missing input 'encoder_hidden_states' \(inputs are 'sample', 'timestep', 'text'\)/,
  );
  assert.match(log.items[1].message, /unexpected input 'text'/);
  log = foldErrors((g) => {
    g.rename(g.outputs[0], 'y');
  });
  assert.equal(log.codes(), ['PD6001']);
  assert.match(log.items[0].message, /missing output 'out_sample' \(outputs are 'y'\)/);
});

test('errors: timestep dtype, fixed batch, bad uncond, bad schedule, folding twice', () => {
  let log = foldErrors((g) => {
    g.inputs[1].type = { dtype: 10, shape: ['steps'] };
  });
  assert.equal(log.codes(), ['PD6002']);
  assert.match(log.items[0].message, /float16 of rank 1/);

  log = foldErrors((g) => {
    g.inputs[0].type = { dtype: 1, shape: [1, 4, 'height', 'width'] };
  });
  assert.equal(log.codes(), ['PD6003']);
  assert.match(log.items[0].message, /'sample' has a fixed batch of 1; .*needs the dynamic batch axis/);

  log = foldErrors(() => {}, { bakedUncond: { data: new Float32Array(77 * 16), dims: [1, 77, 16] } });
  assert.equal(log.codes(), ['PD6004']);
  assert.match(log.items[0].message, /width 16 differs from the model's cross-attention width 32/);
  log = foldErrors(() => {}, { bakedUncond: { data: new Float32Array(10), dims: [1, 77, 32] } });
  assert.equal(log.codes(), ['PD6004']);

  const s = ddim('epsilon');
  log = foldErrors(() => {}, { schedulerStep: { ...s, prev_alphas_cumprod: s.prev_alphas_cumprod.slice(1) } });
  assert.equal(log.codes(), ['PD6005']);
  assert.match(log.items[0].message, /one entry per timestep \(10\)/);
  log = foldErrors(() => {}, { schedulerStep: { ...s, timesteps: s.timesteps.map((t) => t + 0.5) } });
  assert.equal(log.codes(), ['PD6005']);
  log = foldErrors(() => {}, { schedulerStep: { ...s, alphas_cumprod: s.alphas_cumprod.map(() => 0) } });
  assert.equal(log.codes(), ['PD6005']);

  const g = loadGraph('test/fixtures/unet-tiny/model.onnx');
  log = new DiagnosticLog();
  assert.ok(runPasses(g, [foldCfg()], log));
  assert.not.ok(runPasses(g, [foldCfg()], log));
  assert.equal(log.codes(), ['PD6006']);
});

test.run();

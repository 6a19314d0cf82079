// The gated UNet (passes/gate-blocks.ts): one graph whose `block_gates` input
// chooses SnapFusion's actions. For every candidate of the narrow
// SD-topology fixture (a real diffusers export), flipping its gate gives what
// compiling that action separately gives, run in onnxruntime-node.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { slotsOf } from '../src/evolve/slots.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { duplicateBlocks } from '../src/passes/duplicate-blocks.ts';
import { gateBlocks, GATES_INPUT } from '../src/passes/gate-blocks.ts';
import { runPasses, type Pass } from '../src/passes/pass.ts';
import { removeBlocks } from '../src/passes/remove-blocks.ts';
import { loadGraph, relError, saveGraph, testSet, type Feeds } from './support/ort.ts';

const FIXTURE = path.resolve('test/fixtures/unet-sd15shape-narrow');
const DIMS = { batch_size: 1, steps: 1, height: 16, width: 16, sequence_length: 77 };

function graph(passes: Pass[] = []) {
  const g = loadGraph(path.join(FIXTURE, 'model.onnx'));
  const log = new DiagnosticLog();
  inferShapes(g, { dims: DIMS }, log);
  assert.ok(!passes.length || runPasses(g, passes, log), log.items.map(formatDiagnostic).join('\n'));
  return g;
}

async function session(file: string) {
  return ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
}

test('every gate of the narrow fixture equals its action compiled on its own (≤ 1e-5 relative)', async () => {
  const { feeds, expected } = testSet(path.join(FIXTURE, 'test_data_set_0'));
  const req = slotsOf(graph()).gates;
  assert.ok(
    req.remove.length >= 30 && req.copy.length >= 15,
    `${req.remove.length} remove, ${req.copy.length} copy gates`,
  );
  assert.ok(
    req.remove.some((r) => r.keepShortcut),
    'channel-changing ResNets are candidates, down to their shortcut',
  );
  const { pass, gates } = gateBlocks(req);
  const gated = await session(saveGraph(graph([pass])));
  const base = () => Float32Array.from(gates, (gt) => (gt.action === 'remove' ? 1 : 0));
  const runGated = async (v: Float32Array) =>
    Object.values(await gated.run({ ...feeds, [GATES_INPUT]: new ort.Tensor('float32', v, [v.length]) }))[0];
  // All gates at rest: the model as exported.
  assert.ok(relError(await runGated(base()), expected) <= 1e-5);
  let worst = 0;
  for (const gt of gates) {
    const v = base();
    v[gt.index] = gt.action === 'remove' ? 0 : 1;
    const action =
      gt.action === 'remove'
        ? removeBlocks([{ selector: gt.block, keepShortcut: gt.keepShortcut }])
        : duplicateBlocks([{ selector: gt.block }]);
    const compiled = await session(saveGraph(graph([action])));
    const want = Object.values(await compiled.run(feeds as Feeds))[0];
    await compiled.release();
    const err = relError(await runGated(v), want);
    worst = Math.max(worst, err);
    assert.ok(err <= 1e-5, `${gt.action} ${gt.block}: relative error ${err}`);
    // …and the action changes the output: a gate that did nothing would pass the line above.
    assert.ok(relError(want, expected) > 1e-4, `${gt.action} ${gt.block} changes nothing`);
  }
  await gated.release();
  console.log(
    `    ${gates.length} gates (${req.remove.length} remove, ${req.copy.length} copy): worst ${worst.toExponential(2)} against the compiled action`,
  );
});

test('a removed block with its copy kept is one block: B′(b) = B(b)', async () => {
  const { feeds, expected } = testSet(path.join(FIXTURE, 'test_data_set_0'));
  const name = 'mid_block.attentions.0';
  const { pass, gates } = gateBlocks({ remove: [{ block: name }], copy: [name] });
  const s = await session(saveGraph(graph([pass])));
  assert.equal(
    gates.map((g) => g.action),
    ['remove', 'copy'],
  );
  const out = Object.values(
    await s.run({ ...feeds, [GATES_INPUT]: new ort.Tensor('float32', Float32Array.of(0, 1), [2]) }),
  )[0];
  await s.release();
  assert.ok(relError(out, expected) <= 1e-5);
});

test.run();

// The fixtures through the ONNX layer: each loads, runs as torch said, and
// converts (external data and inline) to files that run bit for bit the same.
// Outputs come from onnxruntime-node, so "re-saved" means "runs the same", not
// just "decodes".
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { loadModel } from '../src/onnx/model.ts';
import {
  assertBitwiseEqual,
  assertClose,
  convertOk,
  filesUnder,
  FIXTURES,
  makeTmp,
  runOrt,
  testSets,
} from './support/onnx-io.ts';

const fixtures = suite('fixtures: re-saved models run the same in onnxruntime');
const fixturesTmp = makeTmp('fixtures');
fixtures.before(fixturesTmp.before);
fixtures.after(fixturesTmp.after);

for (const name of ['unet-tiny', 'unet-tiny/opset17', 'vae-decoder-tiny', 'unet-sd15shape-narrow']) {
  fixtures(`${name}: original matches output_0.pb; external and inline re-saves give identical outputs`, async () => {
    const dir = path.join(FIXTURES, name);
    const sets = testSets(dir);
    assert.ok(sets.length >= 1, `${name} has test_data_set_N folders`);
    const log = new DiagnosticLog();
    assert.ok(loadModel(path.join(dir, 'model.onnx'), log), `${name} loads`);
    assert.equal(log.items, []);

    const feeds = sets.map((s) => s.feeds);
    const original = await runOrt(path.join(dir, 'model.onnx'), feeds);
    sets.forEach((s, i) => assertClose(original[i], s.expected, `${name}/${s.name} vs output_0.pb`));

    const out = path.join(fixturesTmp.state.dir, name.replace('/', '-'));
    await convertOk(
      path.join(dir, 'model.onnx'),
      path.join(out, 'ext', 'model.onnx'),
      '--external-data',
      'weights.bin',
    );
    await convertOk(path.join(dir, 'model.onnx'), path.join(out, 'inline', 'model.onnx'), '--inline');
    assert.equal(filesUnder(path.join(out, 'ext')), ['model.onnx', 'weights.bin']);
    assert.equal(filesUnder(path.join(out, 'inline')), ['model.onnx']);
    for (const mode of ['ext', 'inline']) {
      const resaved = await runOrt(path.join(out, mode, 'model.onnx'), feeds);
      sets.forEach((s, i) => {
        assertBitwiseEqual(resaved[i], original[i], `${name} ${mode}/${s.name}`);
        assertClose(resaved[i], s.expected, `${name} ${mode}/${s.name} vs output_0.pb`);
      });
    }
    fs.rmSync(out, { recursive: true, force: true });
  });
}
fixtures.run();

// Weights are lazy: loading opens model.onnx only, bytes are read when asked for,
// and a graph-only model loads until its weights are needed.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Exit } from '../src/commands/command.ts';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { loadModel, readTensorBytes } from '../src/onnx/model.ts';
import { type TensorProto } from '../src/onnx/proto.ts';
import {
  cli,
  convertOk,
  decodeFile,
  EXTERNAL,
  filesUnder,
  FIXTURES,
  makeTmp,
  trackOpens,
  UNET_TINY,
} from './support/onnx-io.ts';

const lazy = suite('lazy loading: weights are read only when needed');
const lazyTmp = makeTmp('lazy');
lazy.before(lazyTmp.before);
lazy.after(lazyTmp.after);

const SD15_GRAPH = path.join(FIXTURES, 'unet-sd15-graph', 'model.onnx');

lazy('the graph-only SD 1.5 UNet loads without its weights.pb and opens nothing but model.onnx', () => {
  assert.not.ok(fs.existsSync(path.join(path.dirname(SD15_GRAPH), 'weights.pb')), 'weights.pb is absent');
  const log = new DiagnosticLog();
  const { result: model, opened } = trackOpens(() => loadModel(SD15_GRAPH, log));
  assert.ok(model, log.items.map((d) => d.message).join('; '));
  assert.equal(log.items, []);
  assert.equal([...new Set(opened)], [SD15_GRAPH]);
  const refs = [...model!.data.values()].filter((d) => d.kind === 'external');
  assert.is(refs.length, 685);
  assert.ok(refs.every((d) => d.kind === 'external' && !d.ref.exists && d.ref.location === 'weights.pb'));
  // Asking for a weight's bytes is what fails, with the code for a missing weights file.
  const t = model!.proto.graph!.initializer!.find((x) => x.dataLocation === EXTERNAL) as TensorProto;
  assert.is(readTensorBytes(model!, t, log), undefined);
  assert.equal(log.codes(), ['PD1006']);
});

lazy('a model with a present weights file: load opens only model.onnx; bytes are read on demand', async () => {
  const out = path.join(lazyTmp.state.dir, 'ext', 'model.onnx');
  await convertOk(UNET_TINY, out, '--external-data', 'weights.bin');
  const log = new DiagnosticLog();
  const { result: model, opened } = trackOpens(() => loadModel(out, log));
  assert.ok(model);
  assert.equal([...new Set(opened)], [out]);
  const t = model!.proto.graph!.initializer!.find((x) => x.dataLocation === EXTERNAL) as TensorProto;
  const { result: bytes, opened: read } = trackOpens(() => readTensorBytes(model!, t, log));
  assert.equal([...new Set(read)], [path.join(path.dirname(out), 'weights.bin')]);
  const original = decodeFile(UNET_TINY).graph!.initializer!.find((x) => x.name === t.name)!;
  assert.ok(Buffer.from(bytes!).equals(Buffer.from(original.rawData!)));
});

lazy('convert of the graph-only model fails with PD1006 and leaves no output files', async () => {
  const outDir = path.join(lazyTmp.state.dir, 'graph-only');
  for (const flags of [['--external-data', 'weights.bin'], ['--inline']]) {
    const r = await cli('convert', SD15_GRAPH, path.join(outDir, 'model.onnx'), ...flags);
    assert.is(r.status, Exit.Error);
    assert.match(r.err, /error PD1006: weights file 'weights\.pb' is missing/);
    assert.equal(filesUnder(outDir), []);
  }
});
lazy.run();

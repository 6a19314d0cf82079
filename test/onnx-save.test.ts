// What saveModel writes: byte-identical files on every run, external tensors in
// graph order at 64-byte alignment under the asked-for name, big tensors intact.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeModel, onnx, type TensorProto } from '../src/onnx/proto.ts';
import {
  addModel,
  assertAddRuns,
  assertBitwiseEqual,
  convertOk,
  decodeFile,
  EXTERNAL,
  externalEntries,
  filesUnder,
  floatBytes,
  makeTmp,
  runOrt,
  testSets,
  UNET_TINY,
  writeAddModel,
} from './support/onnx-io.ts';

const determinism = suite('determinism: layout of the converted files');
const detTmp = makeTmp('determinism');
determinism.before(detTmp.before);
determinism.after(detTmp.after);

determinism('converting twice gives byte-identical model and data files', async () => {
  const a = path.join(detTmp.state.dir, 'a', 'model.onnx');
  const b = path.join(detTmp.state.dir, 'b', 'model.onnx');
  await convertOk(UNET_TINY, a, '--external-data', 'unet.weights');
  await convertOk(UNET_TINY, b, '--external-data', 'unet.weights');
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'model.onnx identical');
  const da = fs.readFileSync(path.join(path.dirname(a), 'unet.weights'));
  assert.ok(da.equals(fs.readFileSync(path.join(path.dirname(b), 'unet.weights'))), 'data file identical');
  // And a converted model converts to itself.
  const c = path.join(detTmp.state.dir, 'c', 'model.onnx');
  await convertOk(a, c, '--external-data', 'unet.weights');
  assert.ok(fs.readFileSync(c).equals(fs.readFileSync(a)), 'convert is idempotent (model)');
  assert.ok(fs.readFileSync(path.join(path.dirname(c), 'unet.weights')).equals(da), 'convert is idempotent (data)');
});

determinism('external tensors: the asked-for file name, 64-byte aligned offsets, graph order, no overlap', async () => {
  const out = path.join(detTmp.state.dir, 'layout', 'model.onnx');
  await convertOk(UNET_TINY, out, '--external-data', 'unet.weights');
  assert.equal(filesUnder(path.dirname(out)), ['model.onnx', 'unet.weights']);
  const size = fs.statSync(path.join(path.dirname(out), 'unet.weights')).size;
  const original = decodeFile(UNET_TINY).graph!.initializer!;
  const inits = decodeFile(out).graph!.initializer!;
  let end = 0;
  let external = 0;
  inits.forEach((t, i) => {
    const rawLength = original[i].rawData!.length;
    if (t.dataLocation !== EXTERNAL) {
      assert.ok(rawLength < 1024, `${t.name} (${rawLength} bytes) stays inline only below the 1 KiB threshold`);
      return;
    }
    external++;
    const e = externalEntries(t as TensorProto);
    assert.is(e.get('location'), 'unet.weights');
    const offset = Number(e.get('offset'));
    const length = Number(e.get('length'));
    assert.is(offset % 64, 0, `${t.name} offset ${offset} is 64-byte aligned`);
    assert.ok(offset >= end, `${t.name} starts after the previous tensor (graph order, no overlap)`);
    assert.is(length, rawLength);
    end = offset + length;
  });
  assert.is(external, 127);
  assert.is(size, end, 'the data file ends with the last tensor');
});

determinism('odd-sized tensors: each starts on a 64-byte boundary, with zero padding between', async () => {
  // Y = X + A + B + C with A, B, C of 257, 300 and 611 floats (1028, 1200, 2444 bytes).
  const sizes = [257, 300, 611];
  const n = 611;
  const dir = path.join(detTmp.state.dir, 'odd');
  fs.mkdirSync(dir);
  const values = sizes.map((k, j) => Float32Array.from({ length: k }, (_, i) => i + j / 8));
  const inits = sizes.map(
    (k, j) =>
      onnx.TensorProto.create({
        name: `T${j}`,
        dims: [k],
        dataType: 1,
        rawData: floatBytes(values[j]),
      } as never) as TensorProto,
  );
  const model = path.join(dir, 'model.onnx');
  fs.writeFileSync(model, encodeModel(addModel(inits[2], n, inits.slice(0, 2))));
  const out = path.join(dir, 'out', 'model.onnx');
  await convertOk(model, out, '--external-data', 'odd.bin');
  const data = fs.readFileSync(path.join(dir, 'out', 'odd.bin'));
  const placed = decodeFile(out).graph!.initializer!.map((t) => {
    const e = externalEntries(t as TensorProto);
    return { name: t.name!, offset: Number(e.get('offset')), length: Number(e.get('length')) };
  });
  // Graph order is W (= T2), then T0, T1.
  assert.equal(
    placed.map((p) => p.name),
    ['T2', 'T0', 'T1'],
  );
  assert.equal(
    placed.map((p) => p.offset),
    [0, 2496, 3584],
  );
  assert.is(data.length, 3584 + 1200);
  for (const p of placed) {
    const j = Number(p.name.slice(1));
    assert.ok(
      data.subarray(p.offset, p.offset + p.length).equals(Buffer.from(floatBytes(values[j]))),
      `${p.name} bytes`,
    );
  }
  assert.ok(
    data.subarray(2444, 2496).every((b) => b === 0) && data.subarray(3524, 3584).every((b) => b === 0),
    'padding is zeros',
  );
});

determinism('a tensor larger than the copy buffer (several chunks, odd length) is copied intact', async () => {
  // 3,000,001 floats = 12 MB: many copy chunks, and a length that is no power of two.
  const n = 3_000_001;
  const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 100);
  const dir = path.join(detTmp.state.dir, 'big');
  const data = new Uint8Array(3 + w.byteLength);
  data.set(floatBytes(w), 3);
  const model = writeAddModel(dir, { location: 'big.bin', offset: '3', length: String(w.byteLength) }, data, n);
  for (const flags of [['--external-data', 'out.bin'], ['--inline']]) {
    const out = path.join(dir, flags[0].slice(2), 'model.onnx');
    await convertOk(model, out, ...flags);
    await assertAddRuns(out, n, w);
  }
  const e = externalEntries(
    decodeFile(path.join(dir, 'external-data', 'model.onnx')).graph!.initializer![0] as TensorProto,
  );
  const copied = fs.readFileSync(path.join(dir, 'external-data', 'out.bin')).subarray(Number(e.get('offset')));
  assert.ok(copied.equals(Buffer.from(floatBytes(w))));
});

determinism('without --external-data the data file is OUT.data; a nested name is written where asked', async () => {
  const out = path.join(detTmp.state.dir, 'default', 'unet.onnx');
  await convertOk(UNET_TINY, out);
  assert.equal(filesUnder(path.dirname(out)), ['unet.onnx', 'unet.onnx.data']);
  assert.is(externalEntries(decodeFile(out).graph!.initializer![0] as TensorProto).get('location'), 'unet.onnx.data');

  const nested = path.join(detTmp.state.dir, 'nested', 'model.onnx');
  await convertOk(UNET_TINY, nested, '--external-data', 'weights/unet.bin');
  assert.equal(filesUnder(path.dirname(nested)), ['model.onnx', 'weights/unet.bin']);
  const [y] = await runOrt(nested, [testSets(path.dirname(UNET_TINY))[0].feeds]);
  const [ref] = await runOrt(UNET_TINY, [testSets(path.dirname(UNET_TINY))[0].feeds]);
  assertBitwiseEqual(y, ref, 'nested data file');
});
determinism.run();

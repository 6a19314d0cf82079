// Bad input files: each refusal has its code, and convert writes nothing. External
// locations that leave the model's folder are refused before anything is opened.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Exit } from '../src/commands/command.ts';
import { inspectModel } from '../src/commands/inspect.ts';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { loadModel } from '../src/onnx/model.ts';
import { saveModel } from '../src/onnx/save.ts';
import { encodeModel, onnx, type TensorProto } from '../src/onnx/proto.ts';
import {
  addModel,
  assertAddRuns,
  cli,
  convertOk,
  EXTERNAL,
  filesUnder,
  floatBytes,
  makeTmp,
  ramp,
  trackOpens,
  UNET_TINY,
  writeAddModel,
} from './support/onnx-io.ts';

const bad = suite('bad inputs: each gives its code and writes nothing');
const badTmp = makeTmp('bad');
bad.before(badTmp.before);
bad.after(badTmp.after);

/** Converts `model` both ways; each must fail with `code` and leave `out` empty. */
async function assertRefused(model: string, code: string, message?: RegExp): Promise<string> {
  const out = path.join(badTmp.state.dir, 'out-' + path.basename(path.dirname(model)));
  let err = '';
  for (const flags of [['--external-data', 'weights.bin'], ['--inline']]) {
    const r = await cli('convert', model, path.join(out, 'model.onnx'), ...flags);
    assert.is(r.status, Exit.Error, `exit status for ${code}:\n${r.err}`);
    assert.match(r.err, new RegExp(`: error ${code}: `));
    if (message) assert.match(r.err, message);
    assert.equal(filesUnder(out), [], `nothing written for ${code}`);
    err = r.err;
  }
  return err;
}

const W = ramp(256);

bad('absolute external location: PD1003', async () => {
  const outside = path.join(badTmp.state.dir, 'outside-abs.bin');
  fs.writeFileSync(outside, floatBytes(W));
  const model = writeAddModel(path.join(badTmp.state.dir, 'abs'), { location: outside }, null);
  const { opened } = trackOpens(() => loadModel(model, new DiagnosticLog()));
  assert.not.ok(opened.includes(outside), 'the absolute path is never opened');
  await assertRefused(model, 'PD1003', /is absolute/);
});

bad("external location with '..': PD1004", async () => {
  for (const location of ['../w.bin', 'sub/../../w.bin', 'sub\\..\\..\\w.bin']) {
    const dir = path.join(badTmp.state.dir, 'dotdot');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.writeFileSync(path.join(badTmp.state.dir, 'w.bin'), floatBytes(W));
    const model = writeAddModel(dir, { location }, null);
    await assertRefused(model, 'PD1004', /contains '\.\.'/);
  }
});

bad('a symlink inside the model folder that points outside it: PD1005 at load time, target never opened', async () => {
  const outsideDir = path.join(badTmp.state.dir, 'outside');
  fs.mkdirSync(outsideDir);
  const secret = path.join(outsideDir, 'secret.bin');
  fs.writeFileSync(secret, floatBytes(W));
  // A file symlink and a folder symlink, both leading out.
  const cases: [string, string, () => void][] = [
    ['symlink-file', 'w.bin', () => fs.symlinkSync(secret, path.join(badTmp.state.dir, 'symlink-file', 'w.bin'))],
    [
      'symlink-dir',
      'sub/secret.bin',
      () => fs.symlinkSync(outsideDir, path.join(badTmp.state.dir, 'symlink-dir', 'sub')),
    ],
  ];
  for (const [name, location, link] of cases) {
    const model = writeAddModel(path.join(badTmp.state.dir, name), { location, offset: '0', length: '1024' }, null);
    link();
    const log = new DiagnosticLog();
    const { result, opened } = trackOpens(() => loadModel(model, log));
    assert.is(result, undefined, 'load refuses it');
    assert.equal(log.codes(), ['PD1005']);
    assert.equal([...new Set(opened)], [model], 'only model.onnx is opened; the outside file never is');
    await assertRefused(model, 'PD1005', /resolves outside the model's folder/);
  }
  // A symlink that stays inside the folder is fine.
  const ok = path.join(badTmp.state.dir, 'symlink-inside');
  writeAddModel(ok, { location: 'w.bin' }, null);
  fs.mkdirSync(path.join(ok, 'real'));
  fs.writeFileSync(path.join(ok, 'real', 'weights.bin'), floatBytes(W));
  fs.symlinkSync(path.join(ok, 'real', 'weights.bin'), path.join(ok, 'w.bin'));
  const out = path.join(ok, 'out', 'model.onnx');
  await convertOk(path.join(ok, 'model.onnx'), out, '--inline');
  await assertAddRuns(out, 256, W);
});

bad('truncated model.onnx, cut at many offsets: PD1002', async () => {
  const bytes = fs.readFileSync(UNET_TINY);
  const dir = path.join(badTmp.state.dir, 'truncated');
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  // 0: empty; 1: inside a tag; 11/19: between fields, before the graph (so: no graph);
  // 20..size-1: inside the graph or the trailing opset_import.
  const cuts = [
    0,
    1,
    11,
    19,
    20,
    21,
    100,
    4096,
    Math.floor(bytes.length / 3),
    Math.floor(bytes.length / 2),
    bytes.length - 5,
    bytes.length - 1,
  ];
  for (const cut of cuts) {
    fs.writeFileSync(model, bytes.subarray(0, cut));
    const err = await assertRefused(model, 'PD1002');
    assert.match(err, /truncated or corrupt|has no graph/, `cut at ${cut}`);
  }
});

bad('garbage bytes: PD1002', async () => {
  const dir = path.join(badTmp.state.dir, 'garbage');
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  let s = 0x2545f491;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s & 0xff;
  };
  for (const bytes of [
    Uint8Array.from({ length: 4096 }, rand),
    Buffer.from('this is not a protobuf\n'),
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  ]) {
    fs.writeFileSync(model, bytes);
    await assertRefused(model, 'PD1002');
  }
});

bad('truncated external data file: PD1007', async () => {
  const dir = path.join(badTmp.state.dir, 'short-data');
  const model = writeAddModel(dir, { location: 'w.bin', offset: '64', length: '1024' }, new Uint8Array(64 + 1000));
  await assertRefused(model, 'PD1007', /'w\.bin' is 1064 bytes, but tensor 'W' needs bytes 64\.\.1088/);
  // The same with a real converted model whose data file lost its tail.
  const conv = path.join(badTmp.state.dir, 'short-unet', 'model.onnx');
  await convertOk(UNET_TINY, conv, '--external-data', 'weights.bin');
  const data = path.join(path.dirname(conv), 'weights.bin');
  fs.truncateSync(data, Math.floor(fs.statSync(data).size / 2));
  await assertRefused(conv, 'PD1007');
  // One error for the file, not one per tensor past its end.
  const log = new DiagnosticLog();
  assert.is(loadModel(conv, log), undefined);
  assert.equal(log.codes(), ['PD1007']);
  assert.match(
    log.items[0].message,
    /'weights\.bin' is \d+ bytes, but tensor '[^']+' needs bytes \d+\.\.\d+, and \d+ more tensors lie past its end \(it should be at least \d+ bytes\)/,
  );
  // inspect reads no weights: it reports the model, with one warning.
  const ilog = new DiagnosticLog();
  const report = inspectModel(conv, [], ilog);
  assert.ok(report);
  assert.equal(
    ilog.items.map((d) => [d.code, d.severity]),
    [['PD1007', 'warning']],
  );
  const whole = inspectModel(UNET_TINY, [], new DiagnosticLog())!;
  assert.is(report!.params, whole.params);
  assert.equal(report!.macs, whole.macs);
});

bad('a weights file that shrinks between load and save: PD1007, and the partial output is removed', () => {
  const dir = path.join(badTmp.state.dir, 'shrinks');
  const model = writeAddModel(dir, { location: 'w.bin' }, floatBytes(W));
  for (const externalData of ['weights.bin', null]) {
    const log = new DiagnosticLog();
    const loaded = loadModel(model, log)!;
    assert.ok(loaded);
    fs.truncateSync(path.join(dir, 'w.bin'), 100);
    const out = path.join(dir, 'out');
    assert.not.ok(saveModel(loaded, path.join(out, 'model.onnx'), { externalData, sizeThreshold: 0 }, log));
    assert.equal(log.codes(), ['PD1007']);
    assert.match(log.items[0].message, /'w\.bin' ended before byte 1024/);
    assert.equal(filesUnder(out), [], 'no .partial file is left');
    fs.writeFileSync(path.join(dir, 'w.bin'), floatBytes(W));
  }
});

bad('missing weights file when the weights are needed: PD1006', async () => {
  const conv = path.join(badTmp.state.dir, 'no-weights', 'model.onnx');
  await convertOk(UNET_TINY, conv, '--external-data', 'weights.bin');
  fs.rmSync(path.join(path.dirname(conv), 'weights.bin'));
  const log = new DiagnosticLog();
  assert.ok(loadModel(conv, log), 'the graph alone still loads');
  await assertRefused(conv, 'PD1006', /weights file 'weights\.bin' is missing/);
});

bad('non-numeric offset or length: PD1011', async () => {
  for (const [key, value] of [
    ['offset', 'abc'],
    ['offset', '-64'],
    ['offset', '1.5'],
    ['offset', '0x40'],
    ['length', '1e3'],
    ['length', ' 1024'],
  ]) {
    const dir = path.join(badTmp.state.dir, 'nan');
    fs.rmSync(dir, { recursive: true, force: true });
    const model = writeAddModel(dir, { location: 'w.bin', [key]: value }, floatBytes(W));
    await assertRefused(model, 'PD1011', /non-numeric external offset or length/);
  }
});

bad('inline over 2 GiB is refused before anything is read: PD1010 (sparse weights file)', async () => {
  const dir = path.join(badTmp.state.dir, 'huge');
  fs.mkdirSync(dir);
  const n = 201_326_592; // 768 MiB of float32 each; three of them are 2.25 GiB
  const tensors = [0, 1, 2].map(
    (i) =>
      onnx.TensorProto.create({
        name: `W${i}`,
        dims: [n],
        dataType: 1,
        dataLocation: EXTERNAL,
        externalData: [
          { key: 'location', value: 'big.bin' },
          { key: 'offset', value: String(i * n * 4) },
          { key: 'length', value: String(n * 4) },
        ],
      } as never) as TensorProto,
  );
  const model = path.join(dir, 'model.onnx');
  fs.writeFileSync(model, encodeModel(addModel(tensors[0], n, tensors.slice(1))));
  const big = path.join(dir, 'big.bin');
  fs.writeFileSync(big, '');
  fs.truncateSync(big, 3 * n * 4); // a sparse file: 2.25 GiB long, no blocks written
  const rss = process.memoryUsage().rss;
  const t0 = Date.now();
  const out = path.join(badTmp.state.dir, 'out-huge');
  const r = await cli('convert', model, path.join(out, 'model.onnx'), '--inline');
  assert.is(r.status, Exit.Error, r.err);
  assert.match(r.err, /error PD1010: inlining would make a \d+-byte protobuf; ONNX files are limited to 2 GiB/);
  assert.equal(filesUnder(out), []);
  assert.ok(Date.now() - t0 < 5000, `refused quickly (${Date.now() - t0} ms), so nothing was read`);
  assert.ok(process.memoryUsage().rss - rss < 256 << 20, 'no weights were loaded into memory');
});

bad.run();

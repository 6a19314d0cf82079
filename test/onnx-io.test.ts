// Real files through the ONNX layer: the fixtures, every external-data layout, the
// coded errors for bad input, and the convert CLI. Numbers come from onnxruntime-node
// (graph optimizations disabled) so "re-saved" means "runs the same", not just "decodes".
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.ts';
import { Exit } from '../src/commands/command.ts';
import { inspectModel } from '../src/commands/inspect.ts';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { loadModel, readTensorBytes } from '../src/onnx/model.ts';
import { saveModel } from '../src/onnx/save.ts';
import { decodeModel, encodeModel, onnx, toNumber, type ModelProto, type TensorProto } from '../src/onnx/proto.ts';
import { tempDir } from './support/temp.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const UNET_TINY = path.join(FIXTURES, 'unet-tiny', 'model.onnx');
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

// ---------------------------------------------------------------- helpers

type Feeds = Record<string, ort.Tensor>;
interface TestSet { name: string; feeds: Feeds; expected: Float32Array }

function tensorFromPb(file: string): { name: string; tensor: ort.Tensor } {
  const t = onnx.TensorProto.decode(fs.readFileSync(file)) as TensorProto;
  const dims = (t.dims ?? []).map(toNumber);
  const raw = t.rawData!;
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  if (t.dataType === 1) return { name: t.name!, tensor: new ort.Tensor('float32', new Float32Array(buf), dims) };
  if (t.dataType === 7) return { name: t.name!, tensor: new ort.Tensor('int64', new BigInt64Array(buf), dims) };
  throw new Error(`unexpected data type ${t.dataType} in ${file}`);
}

function testSets(modelDir: string): TestSet[] {
  return fs.readdirSync(modelDir).filter((d) => /^test_data_set_\d+$/.test(d)).sort().map((d) => {
    const dir = path.join(modelDir, d);
    const feeds: Feeds = {};
    for (const f of fs.readdirSync(dir).filter((f) => /^input_\d+\.pb$/.test(f))) {
      const { name, tensor } = tensorFromPb(path.join(dir, f));
      feeds[name] = tensor;
    }
    return { name: d, feeds, expected: tensorFromPb(path.join(dir, 'output_0.pb')).tensor.data as Float32Array };
  });
}

/** First output of each run, one session for all feeds. */
async function runOrt(model: string, feeds: Feeds[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  try {
    const outs: Float32Array[] = [];
    for (const f of feeds) {
      const r = await session.run(f);
      outs.push(Float32Array.from(r[session.outputNames[0]].data as Float32Array));
    }
    return outs;
  } finally {
    await session.release();
  }
}

function assertBitwiseEqual(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.is(actual.length, expected.length, `${what}: output length`);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (!a.equals(b)) {
    let worst = 0;
    for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    assert.unreachable(`${what}: outputs differ from the original model's (max |diff| ${worst})`);
  }
}

/** The fixtures' tolerance against torch's reference: 1e-4 + 1e-3·max|ref|. */
function assertClose(actual: Float32Array, ref: Float32Array, what: string): void {
  assert.is(actual.length, ref.length, `${what}: output length`);
  let maxRef = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    worst = Math.max(worst, Math.abs(actual[i] - ref[i]));
  }
  const tol = 1e-4 + 1e-3 * maxRef;
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} > ${tol}`);
}

interface CliResult { status: number; out: string; err: string }

/** `pocketdiff ARGS` in-process: the same `main` that bin/pocketdiff.js calls. */
async function cli(...args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const status = await main(args, {
    stdout: (t) => { out += t.endsWith('\n') ? t : t + '\n'; },
    stderr: (t) => { err += t.endsWith('\n') ? t : t + '\n'; },
  });
  return { status, out, err };
}

async function convertOk(input: string, output: string, ...flags: string[]): Promise<CliResult> {
  const r = await cli('convert', input, output, ...flags);
  assert.is(r.status, Exit.Ok, `convert ${input} ${flags.join(' ')} failed:\n${r.err}`);
  return r;
}

/** Every file (not folder) under dir, relative; [] if dir is absent. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => !fs.statSync(path.join(dir, f)).isDirectory())
    .sort();
}

function makeTmp(suiteName: string) {
  const state = { dir: '' };
  return {
    state,
    before: () => { state.dir = tempDir(`pocketdiff-${suiteName}-`); },
    after: () => { if (state.dir) fs.rmSync(state.dir, { recursive: true, force: true }); },
  };
}

function decodeFile(file: string): ModelProto {
  return decodeModel(fs.readFileSync(file)).model;
}

function externalEntries(t: TensorProto): Map<string, string> {
  return new Map((t.externalData ?? []).map((e) => [e.key!, e.value!]));
}

/** Records every path that fs opens or reads while `fn` runs. */
function trackOpens<T>(fn: () => T): { result: T; opened: string[] } {
  const opened: string[] = [];
  const saved = { openSync: fs.openSync, readFileSync: fs.readFileSync, createReadStream: fs.createReadStream, open: fs.open };
  const note = (p: unknown) => {
    if (p instanceof URL) opened.push(fileURLToPath(p));
    else if (typeof p === 'string' || Buffer.isBuffer(p)) opened.push(path.resolve(String(p)));
  };
  const wrap = <F extends (...a: never[]) => unknown>(f: F) => ((...a: Parameters<F>) => { note(a[0]); return f(...a); }) as unknown as F;
  fs.openSync = wrap(saved.openSync);
  fs.readFileSync = wrap(saved.readFileSync);
  fs.createReadStream = wrap(saved.createReadStream);
  fs.open = wrap(saved.open);
  try {
    return { result: fn(), opened };
  } finally {
    Object.assign(fs, saved);
  }
}

// A small model of our own: Y = X + W, W a float32 initializer of n elements.
function valueInfo(name: string, n: number) {
  return { name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: n }] } } } };
}
function addModel(w: TensorProto, n: number, extra: TensorProto[] = []): ModelProto {
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'onnx-io.test',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'add',
      node: [{ name: 'add', opType: 'Add', input: ['X', w.name!], output: ['Y'] }],
      input: [valueInfo('X', n)],
      output: [valueInfo('Y', n)],
      initializer: [w, ...extra],
    },
  } as never) as ModelProto;
}
function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => i * 0.25 - 3);
}
function externalW(n: number, entries: Record<string, string>): TensorProto {
  return onnx.TensorProto.create({
    name: 'W', dims: [n], dataType: 1, dataLocation: EXTERNAL,
    externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
  } as never) as TensorProto;
}

/** Writes an Add model whose W is external, with `data` as its weights file (unless null). */
function writeAddModel(dir: string, entries: Record<string, string>, data: Uint8Array | null, n = 256): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, encodeModel(addModel(externalW(n, entries), n)));
  if (data) fs.writeFileSync(path.join(dir, entries.location), data);
  return file;
}
const floatBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function assertAddRuns(model: string, n: number, w: Float32Array): Promise<void> {
  const x = Float32Array.from({ length: n }, (_, i) => i);
  const [y] = await runOrt(model, [{ X: new ort.Tensor('float32', x, [n]) }]);
  assertBitwiseEqual(y, x.map((v, i) => v + w[i]), model);
}

// ------------------------------------------------- fixtures: load, re-save, run

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
    await convertOk(path.join(dir, 'model.onnx'), path.join(out, 'ext', 'model.onnx'), '--external-data', 'weights.bin');
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

// ------------------------------------------------------------------ layouts

// unet-tiny stored every way ONNX allows. Each layout is built from the decoded original.
type LayoutName = 'one file per tensor' | 'weights.pb' | 'model.onnx_data' | 'model.onnx.data' | 'inline raw_data' | 'typed fields';
const LAYOUTS: LayoutName[] = ['one file per tensor', 'weights.pb', 'model.onnx_data', 'model.onnx.data', 'inline raw_data', 'typed fields'];

function writeLayout(dir: string, layout: LayoutName): string {
  fs.mkdirSync(dir, { recursive: true });
  const model = path.join(dir, 'model.onnx');
  if (layout === 'inline raw_data') {
    fs.copyFileSync(UNET_TINY, model);
    return model;
  }
  const proto = decodeFile(UNET_TINY);
  const inits = proto.graph!.initializer as TensorProto[];
  if (layout === 'typed fields') {
    proto.graph!.initializer = inits.map((t) => {
      assert.is(t.dataType, 1, 'unet-tiny initializers are float32');
      const raw = t.rawData!;
      const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      return onnx.TensorProto.create({ name: t.name, dims: t.dims, dataType: 1, floatData: Array.from(values) } as never) as TensorProto;
    });
  } else if (layout === 'one file per tensor') {
    // Every initializer, however small, in its own file under a subfolder; no offset or length keys.
    fs.mkdirSync(path.join(dir, 'tensors'));
    inits.forEach((t, i) => {
      const location = `tensors/${i}.bin`;
      fs.writeFileSync(path.join(dir, location), t.rawData!);
      delete (t as Partial<TensorProto>).rawData;
      t.dataLocation = EXTERNAL;
      t.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: location })];
    });
  } else {
    // One collated file, tensors packed back to back with a 3-byte gap of junk: offsets
    // are deliberately unaligned, as onnx's own writer leaves them.
    const fd = fs.openSync(path.join(dir, layout), 'w');
    let offset = 0;
    for (const t of inits) {
      const bytes = t.rawData!;
      fs.writeSync(fd, Buffer.from([0xab, 0xcd, 0xef]));
      offset += 3;
      fs.writeSync(fd, bytes);
      delete (t as Partial<TensorProto>).rawData;
      t.dataLocation = EXTERNAL;
      t.externalData = [
        onnx.StringStringEntryProto.create({ key: 'location', value: layout }),
        onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
        onnx.StringStringEntryProto.create({ key: 'length', value: String(bytes.length) }),
      ];
      offset += bytes.length;
    }
    fs.closeSync(fd);
  }
  fs.writeFileSync(model, encodeModel(proto));
  return model;
}

const layouts = suite('layouts: every way to store weights loads, runs and converts');
const layoutsTmp = makeTmp('layouts');
let tinySet: TestSet;
let tinyReference: Float32Array;
layouts.before(async () => {
  layoutsTmp.before();
  tinySet = testSets(path.dirname(UNET_TINY))[0];
  [tinyReference] = await runOrt(UNET_TINY, [tinySet.feeds]);
});
layouts.after(layoutsTmp.after);

for (const layout of LAYOUTS) {
  layouts(`unet-tiny as ${layout}: runs as-is and after convert (external, inline) with identical outputs`, async () => {
    const dir = path.join(layoutsTmp.state.dir, layout.replace(/ /g, '-'));
    const model = writeLayout(path.join(dir, 'src'), layout);
    const log = new DiagnosticLog();
    const loaded = loadModel(model, log);
    assert.ok(loaded, `loads: ${log.items.map((d) => d.message).join('; ')}`);
    assert.equal(log.items, []);
    const [asIs] = await runOrt(model, [tinySet.feeds]);
    assertBitwiseEqual(asIs, tinyReference, `${layout} as written`);

    const ext = path.join(dir, 'ext', 'model.onnx');
    const inline = path.join(dir, 'inline', 'model.onnx');
    await convertOk(model, ext, '--external-data', 'weights.bin');
    await convertOk(model, inline, '--inline');
    for (const m of [ext, inline]) {
      const [y] = await runOrt(m, [tinySet.feeds]);
      assertBitwiseEqual(y, tinyReference, `${layout} → ${path.basename(path.dirname(m))}`);
    }
    // The inline copy holds no external reference at all.
    const inl = decodeFile(inline);
    assert.ok(inl.graph!.initializer!.every((t) => t.dataLocation !== EXTERNAL && !t.externalData?.length));
  });
}

layouts('the same weights in any byte layout convert to byte-identical files', async () => {
  const base = layoutsTmp.state.dir;
  const outputs: { layout: LayoutName; model: Buffer; data: Buffer }[] = [];
  for (const layout of LAYOUTS.filter((l) => l !== 'typed fields')) {
    const dir = path.join(base, 'same', layout.replace(/ /g, '-'));
    const out = path.join(dir, 'out', 'model.onnx');
    await convertOk(writeLayout(path.join(dir, 'src'), layout), out, '--external-data', 'w.bin');
    outputs.push({ layout, model: fs.readFileSync(out), data: fs.readFileSync(path.join(dir, 'out', 'w.bin')) });
  }
  for (const o of outputs.slice(1)) {
    assert.ok(o.model.equals(outputs[0].model), `model.onnx from '${o.layout}' equals the one from '${outputs[0].layout}'`);
    assert.ok(o.data.equals(outputs[0].data), `w.bin from '${o.layout}' equals the one from '${outputs[0].layout}'`);
  }
});
layouts.run();

// ------------------------------------------------------------- determinism

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
  const inits = sizes.map((k, j) => onnx.TensorProto.create({ name: `T${j}`, dims: [k], dataType: 1, rawData: floatBytes(values[j]) } as never) as TensorProto);
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
  assert.equal(placed.map((p) => p.name), ['T2', 'T0', 'T1']);
  assert.equal(placed.map((p) => p.offset), [0, 2496, 3584]);
  assert.is(data.length, 3584 + 1200);
  for (const p of placed) {
    const j = Number(p.name.slice(1));
    assert.ok(data.subarray(p.offset, p.offset + p.length).equals(Buffer.from(floatBytes(values[j]))), `${p.name} bytes`);
  }
  assert.ok(data.subarray(2444, 2496).every((b) => b === 0) && data.subarray(3524, 3584).every((b) => b === 0), 'padding is zeros');
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
  const e = externalEntries(decodeFile(path.join(dir, 'external-data', 'model.onnx')).graph!.initializer![0] as TensorProto);
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

// ------------------------------------------------------------- lazy loading

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

// ------------------------------------------------------------ bad inputs

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
    ['symlink-dir', 'sub/secret.bin', () => fs.symlinkSync(outsideDir, path.join(badTmp.state.dir, 'symlink-dir', 'sub'))],
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
  const cuts = [0, 1, 11, 19, 20, 21, 100, 4096, Math.floor(bytes.length / 3), Math.floor(bytes.length / 2), bytes.length - 5, bytes.length - 1];
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
  const rand = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return s & 0xff; };
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
  assert.match(log.items[0].message, /'weights\.bin' is \d+ bytes, but tensor '[^']+' needs bytes \d+\.\.\d+, and \d+ more tensors lie past its end \(it should be at least \d+ bytes\)/);
  // inspect reads no weights: it reports the model, with one warning.
  const ilog = new DiagnosticLog();
  const report = inspectModel(conv, [], ilog);
  assert.ok(report);
  assert.equal(ilog.items.map((d) => [d.code, d.severity]), [['PD1007', 'warning']]);
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
  for (const [key, value] of [['offset', 'abc'], ['offset', '-64'], ['offset', '1.5'], ['offset', '0x40'], ['length', '1e3'], ['length', ' 1024']]) {
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
  const tensors = [0, 1, 2].map((i) => onnx.TensorProto.create({
    name: `W${i}`, dims: [n], dataType: 1, dataLocation: EXTERNAL,
    externalData: [{ key: 'location', value: 'big.bin' }, { key: 'offset', value: String(i * n * 4) }, { key: 'length', value: String(n * 4) }],
  } as never) as TensorProto);
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

/** One protobuf field, encoded by hand: field number, wire type and value. */
function field(w: protobuf.Writer, no: number, wire: 0 | 1 | 2 | 5, v: number | Uint8Array): protobuf.Writer {
  w.uint32((no << 3) | wire);
  if (wire === 0) w.uint64(v as number);
  else if (wire === 1) w.fixed64(v as number);
  else if (wire === 2) w.bytes(v as Uint8Array);
  else w.fixed32(v as number);
  return w;
}

/** The field numbers (and raw values) of one encoded message, read without onnx-proto. */
function wireFields(bytes: Uint8Array): { no: number; wire: number; value: Uint8Array | number }[] {
  const r = protobuf.Reader.create(bytes);
  const out: { no: number; wire: number; value: Uint8Array | number }[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2) out.push({ no, wire, value: r.bytes() });
    else if (wire === 0) out.push({ no, wire, value: toNumber(r.uint64()) });
    else if (wire === 1) out.push({ no, wire, value: toNumber(r.fixed64()) });
    else if (wire === 5) out.push({ no, wire, value: r.fixed32() });
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}
const TEXT = new TextEncoder().encode('kept by pocketdiff');

bad('unknown protobuf fields: reported as PD1008 warnings and written back on save', async () => {
  // Y = X + W with W (2 KiB, so it goes external) carrying unknown field 1000 (bytes);
  // the graph carries 1001 (varint) and the model 1002 (fixed64) and 1003 (fixed32).
  const n = 512;
  const w = onnx.TensorProto.create({ name: 'W', dims: [n], dataType: 1, rawData: floatBytes(ramp(n)) } as never);
  const tensor = field(onnx.TensorProto.encode(w), 1000, 2, TEXT).finish();
  const plain = addModel(w as TensorProto, n);
  const graphNoInit = { ...plain.graph!, initializer: [] };
  const graph = field(field(onnx.GraphProto.encode(graphNoInit as never), 5, 2, tensor), 1001, 0, 12345).finish();
  const modelNoGraph = { ...plain };
  delete (modelNoGraph as Partial<ModelProto>).graph;
  const bytes = field(field(field(onnx.ModelProto.encode(modelNoGraph as never), 7, 2, graph), 1002, 1, 2 ** 40 + 7), 1003, 5, 0xdeadbeef).finish();

  const dir = path.join(badTmp.state.dir, 'unknown');
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  fs.writeFileSync(model, bytes);
  await assertAddRuns(model, n, ramp(n));

  for (const flags of [['--external-data', 'weights.bin'], ['--inline']]) {
    const out = path.join(dir, flags[0].slice(2), 'model.onnx');
    const r = await convertOk(model, out, ...flags);
    for (const [no, msg] of [[1000, 'TensorProto'], [1001, 'GraphProto'], [1002, 'ModelProto'], [1003, 'ModelProto']]) {
      assert.match(r.err, new RegExp(`^${model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: warning PD1008: unknown protobuf field ${no} in onnx\\.${msg}: kept verbatim`, 'm'));
    }
    // Read the output back at the wire level, without onnx-proto.
    const top = wireFields(fs.readFileSync(out));
    assert.ok(top.some((f) => f.no === 1002 && f.wire === 1 && f.value === 2 ** 40 + 7), 'model field 1002 kept');
    assert.ok(top.some((f) => f.no === 1003 && f.wire === 5 && f.value === 0xdeadbeef), 'model field 1003 kept');
    const g = wireFields(top.find((f) => f.no === 7)!.value as Uint8Array);
    assert.ok(g.some((f) => f.no === 1001 && f.wire === 0 && f.value === 12345), 'graph field 1001 kept');
    const t = wireFields(g.find((f) => f.no === 5)!.value as Uint8Array);
    const kept = t.find((f) => f.no === 1000);
    assert.ok(kept && Buffer.from(kept.value as Uint8Array).equals(Buffer.from(TEXT)), 'tensor field 1000 kept');
    if (flags[1] === 'weights.bin') assert.ok(t.some((f) => f.no === 14 /* data_location */ && f.value === EXTERNAL), 'W went external');
    await assertAddRuns(out, n, ramp(n));
  }
});

bad('unknown data type (23): reported as PD1009, kept as stored', async () => {
  const n = 256;
  const payload = Uint8Array.from({ length: 2048 }, (_, i) => (i * 7) & 0xff);
  const odd = onnx.TensorProto.create({ name: 'future', dims: [2048], dataType: 23, rawData: payload } as never) as TensorProto;
  const w = onnx.TensorProto.create({ name: 'W', dims: [n], dataType: 1, rawData: floatBytes(W) } as never) as TensorProto;
  const dir = path.join(badTmp.state.dir, 'dtype');
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  fs.writeFileSync(model, encodeModel(addModel(w, n, [odd])));
  const out = path.join(dir, 'out', 'model.onnx');
  const r = await convertOk(model, out, '--external-data', 'weights.bin');
  assert.match(r.err, /warning PD1009: tensor 'future' has data type 23, which this build does not know; it is kept as stored/);
  const t = decodeFile(out).graph!.initializer!.find((x) => x.name === 'future')! as TensorProto;
  assert.is(t.dataType, 23);
  const e = externalEntries(t);
  const data = fs.readFileSync(path.join(path.dirname(out), e.get('location')!));
  const stored = data.subarray(Number(e.get('offset')), Number(e.get('offset')) + Number(e.get('length')));
  assert.ok(stored.equals(Buffer.from(payload)), 'its bytes are copied unchanged');
  // And back inline.
  const back = path.join(dir, 'back', 'model.onnx');
  await convertOk(out, back, '--inline');
  const b = decodeFile(back).graph!.initializer!.find((x) => x.name === 'future')!;
  assert.ok(Buffer.from(b.rawData!).equals(Buffer.from(payload)));
});
bad.run();

// --------------------------------------------------------------------- CLI

const cliSuite = suite('CLI: pocketdiff convert exit codes and diagnostic format');
const cliTmp = makeTmp('cli');
cliSuite.before(cliTmp.before);
cliSuite.after(cliTmp.after);

// The statuses are src/commands/command.ts's Exit table (0 ok; a reported error and a usage
// mistake are both user mistakes; 1 is kept for pocketdiff's own bugs).
cliSuite('exit statuses: Exit.Ok on success, Exit.Error on reported errors, Exit.Usage on usage mistakes', async () => {
  const out = path.join(cliTmp.state.dir, 'ok', 'model.onnx');
  const ok = await cli('convert', UNET_TINY, out, '--external-data', 'w.bin');
  assert.is(ok.status, Exit.Ok);
  assert.is(Exit.Ok, 0);
  assert.is(ok.err, '');
  for (const args of [[], ['convert'], ['convert', UNET_TINY], ['convert', UNET_TINY, out, 'extra'], ['convert', UNET_TINY, out, '--bogus'],
    ['convert', UNET_TINY, out, '--inline', '--external-data', 'w.bin'], ['convert', UNET_TINY, out, '--external-data'], ['no-such-command']]) {
    const r = await cli(...args);
    assert.is(r.status, Exit.Usage, `pocketdiff ${args.join(' ')} → usage (${Exit.Usage}), got ${r.status}:\n${r.err}`);
  }
  const missing = await cli('convert', path.join(cliTmp.state.dir, 'absent.onnx'), out);
  assert.is(missing.status, Exit.Error);
  assert.match(missing.err, /: error PD1001: model file not found/);
});

cliSuite('a diagnostic prints as `file (node …): error PDxxxx: message`', async () => {
  const model = writeAddModel(path.join(cliTmp.state.dir, 'abs'), { location: '/etc/passwd' }, null);
  const r = await cli('convert', model, path.join(cliTmp.state.dir, 'abs-out', 'model.onnx'));
  assert.is(r.status, Exit.Error);
  assert.is(r.err, `${model} (node 'W'): error PD1003: external data location '/etc/passwd' is absolute; only paths inside the model's folder are read\n`);
});

cliSuite('bin/pocketdiff.js: the process exit status and stderr', () => {
  const model = writeAddModel(path.join(cliTmp.state.dir, 'bin'), { location: '../w.bin' }, null);
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'pocketdiff.js'), 'convert', model, path.join(cliTmp.state.dir, 'bin-out.onnx')], { encoding: 'utf8' });
  assert.is(r.status, Exit.Error, r.stderr);
  assert.match(r.stderr, /^.*model\.onnx \(node 'W'\): error PD1004: /m);
  const usage = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'pocketdiff.js'), 'convert'], { encoding: 'utf8' });
  assert.is(usage.status, Exit.Usage);
  assert.match(usage.stderr, /error PD3001: expected IN\.onnx and OUT\.onnx/);
});
cliSuite.run();

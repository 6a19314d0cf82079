// What the onnx-*.test.ts files share: the fixtures' paths, running models in
// onnxruntime-node (graph optimizations disabled) and comparing outputs, the
// convert CLI in-process, temp folders per suite, and a small Y = X + W model
// whose weights can be stored any way.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import * as assert from 'uvu/assert';
import { main } from '../../src/cli.ts';
import { Exit } from '../../src/commands/command.ts';
import { decodeModel, encodeModel, onnx, toNumber, type ModelProto, type TensorProto } from '../../src/onnx/proto.ts';
import { tempDir } from './temp.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const UNET_TINY = path.join(FIXTURES, 'unet-tiny', 'model.onnx');
export const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

export type Feeds = Record<string, ort.Tensor>;
export interface TestSet {
  name: string;
  feeds: Feeds;
  expected: Float32Array;
}

function tensorFromPb(file: string): { name: string; tensor: ort.Tensor } {
  const t = onnx.TensorProto.decode(fs.readFileSync(file)) as TensorProto;
  const dims = (t.dims ?? []).map(toNumber);
  const raw = t.rawData!;
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  if (t.dataType === 1) return { name: t.name!, tensor: new ort.Tensor('float32', new Float32Array(buf), dims) };
  if (t.dataType === 7) return { name: t.name!, tensor: new ort.Tensor('int64', new BigInt64Array(buf), dims) };
  throw new Error(`unexpected data type ${t.dataType} in ${file}`);
}

export function testSets(modelDir: string): TestSet[] {
  return fs
    .readdirSync(modelDir)
    .filter((d) => /^test_data_set_\d+$/.test(d))
    .sort()
    .map((d) => {
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
export async function runOrt(model: string, feeds: Feeds[]): Promise<Float32Array[]> {
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

export function assertBitwiseEqual(actual: Float32Array, expected: Float32Array, what: string): void {
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
export function assertClose(actual: Float32Array, ref: Float32Array, what: string): void {
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

export interface CliResult {
  status: number;
  out: string;
  err: string;
}

/** `pocketdiff ARGS` in-process: the same `main` that bin/pocketdiff.js calls. */
export async function cli(...args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const status = await main(args, {
    stdout: (t) => {
      out += t.endsWith('\n') ? t : t + '\n';
    },
    stderr: (t) => {
      err += t.endsWith('\n') ? t : t + '\n';
    },
  });
  return { status, out, err };
}

export async function convertOk(input: string, output: string, ...flags: string[]): Promise<CliResult> {
  const r = await cli('convert', input, output, ...flags);
  assert.is(r.status, Exit.Ok, `convert ${input} ${flags.join(' ')} failed:\n${r.err}`);
  return r;
}

/** Every file (not folder) under dir, relative; [] if dir is absent. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => !fs.statSync(path.join(dir, f)).isDirectory())
    .sort();
}

export function makeTmp(suiteName: string) {
  const state = { dir: '' };
  return {
    state,
    before: () => {
      state.dir = tempDir(`pocketdiff-${suiteName}-`);
    },
    after: () => {
      if (state.dir) fs.rmSync(state.dir, { recursive: true, force: true });
    },
  };
}

export function decodeFile(file: string): ModelProto {
  return decodeModel(fs.readFileSync(file)).model;
}

export function externalEntries(t: TensorProto): Map<string, string> {
  return new Map((t.externalData ?? []).map((e) => [e.key!, e.value!]));
}

/** Records every path that fs opens or reads while `fn` runs. */
export function trackOpens<T>(fn: () => T): { result: T; opened: string[] } {
  const opened: string[] = [];
  const saved = {
    openSync: fs.openSync,
    readFileSync: fs.readFileSync,
    createReadStream: fs.createReadStream,
    open: fs.open,
  };
  const note = (p: unknown) => {
    if (p instanceof URL) opened.push(fileURLToPath(p));
    else if (typeof p === 'string' || Buffer.isBuffer(p)) opened.push(path.resolve(String(p)));
  };
  const wrap = <F extends (...a: never[]) => unknown>(f: F) =>
    ((...a: Parameters<F>) => {
      note(a[0]);
      return f(...a);
    }) as unknown as F;
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
export function addModel(w: TensorProto, n: number, extra: TensorProto[] = []): ModelProto {
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
export function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => i * 0.25 - 3);
}
function externalW(n: number, entries: Record<string, string>): TensorProto {
  return onnx.TensorProto.create({
    name: 'W',
    dims: [n],
    dataType: 1,
    dataLocation: EXTERNAL,
    externalData: Object.entries(entries).map(([key, value]) => ({ key, value })),
  } as never) as TensorProto;
}

/** Writes an Add model whose W is external, with `data` as its weights file (unless null). */
export function writeAddModel(dir: string, entries: Record<string, string>, data: Uint8Array | null, n = 256): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, encodeModel(addModel(externalW(n, entries), n)));
  if (data) fs.writeFileSync(path.join(dir, entries.location), data);
  return file;
}
export const floatBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export async function assertAddRuns(model: string, n: number, w: Float32Array): Promise<void> {
  const x = Float32Array.from({ length: n }, (_, i) => i);
  const [y] = await runOrt(model, [{ X: new ort.Tensor('float32', x, [n]) }]);
  assertBitwiseEqual(
    y,
    x.map((v, i) => v + w[i]),
    model,
  );
}

// onnxruntime-node, the one way pocketdiff runs a model: a graph written
// where a session can open it, sessions with each caller's own options (they
// differ on purpose: calibration runs the graph as written, measurement as
// the local-cpu profile says, `run` and evolve with the runtime's defaults),
// host arrays in as tensors of each input's dtype, outputs back as float32.
//
// Loading this module loads the native runtime: a caller on the compile path
// (calibration) imports it dynamically, so a compile that runs nothing does
// not pay for it.
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DiagnosticLog, formatDiagnostic } from '../diagnostics.ts';
import { exportGraph } from '../ir/export.ts';
import type { Graph, Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { fromHalf, toHalf } from '../onnx/half.ts';
import { onnx, toNumber } from '../onnx/proto.ts';
import { saveModel } from '../onnx/save.ts';
import { scratchDir } from '../scratch.ts';

export type Tensor = ort.Tensor;
export type Session = ort.InferenceSession;
export type SessionOptions = ort.InferenceSession.SessionOptions;
export type Feeds = Record<string, ort.Tensor>;
/** Values as the runtime holds them: float32, float16 (its bits), int64, int32. */
export type HostArray = Float32Array | Uint16Array | BigInt64Array | Int32Array;
/** Numbers `tensor` converts to an input's dtype. */
export type Data = Float32Array | number[];

/**
 * Writes `g` as `file` with its weights in one external file beside it
 * (`<file name>.data`). `outputs` become extra graph outputs (float32), so a
 * run can fetch activations. False, with the diagnostics in `log`, where it
 * cannot be written.
 */
export function writeGraph(g: Graph, file: string, log: DiagnosticLog, outputs: readonly Value[] = []): boolean {
  const m = exportGraph(g);
  const declared = new Set(g.outputs.map((v) => v.name));
  for (const v of outputs) {
    if (declared.has(v.name)) continue;
    m.proto.graph!.output!.push(
      onnx.ValueInfoProto.create({
        name: v.name,
        type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: DataType.FLOAT }) }),
      }),
    );
  }
  return saveModel(m, file, { externalData: `${path.basename(file)}.data` }, log);
}

/** Writes `g` as model.onnx into `dir` (a fresh scratch folder by default) and returns its path; a graph that cannot be written is a bug here, so it throws. */
export function saveGraph(g: Graph, dir: string = scratchDir('model')): string {
  const log = new DiagnosticLog();
  const file = path.join(dir, 'model.onnx');
  if (!writeGraph(g, file, log)) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  return file;
}

export function openSession(file: string, options: SessionOptions = {}): Promise<Session> {
  return ort.InferenceSession.create(file, options);
}

/** Opens a session of `file`, runs `body` on it, and releases it, also when `body` throws. */
export async function withSession<T>(
  file: string,
  options: SessionOptions,
  body: (s: Session) => Promise<T>,
): Promise<T> {
  const session = await openSession(file, options);
  try {
    return await body(session);
  } finally {
    await session.release();
  }
}

/** One run of `file` in a session of its own. */
export function runOnce(file: string, feeds: Feeds, options: SessionOptions = {}): Promise<Record<string, Tensor>> {
  return withSession(file, options, (s) => s.run(feeds));
}

/** A tensor of the array's own dtype (a Uint16Array holds float16 bits). */
export function typed(data: HostArray, dims: readonly number[]): Tensor {
  if (data instanceof Float32Array) return new ort.Tensor('float32', data, dims);
  if (data instanceof Uint16Array) return new ort.Tensor('float16', data, dims);
  if (data instanceof BigInt64Array) return new ort.Tensor('int64', data, dims);
  return new ort.Tensor('int32', data, dims);
}

/** Numbers as a tensor of `dtype` (an input signature's: float32, float16, int64, int32); integers are rounded. */
export function tensor(dtype: string, data: Data, dims: readonly number[]): Tensor {
  switch (dtype) {
    case 'float32':
      return new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
    case 'float16':
      return new ort.Tensor('float16', Uint16Array.from(data, toHalf), dims);
    case 'int64':
      return new ort.Tensor(
        'int64',
        BigInt64Array.from(data, (x) => BigInt(Math.round(x))),
        dims,
      );
    case 'int32':
      return new ort.Tensor('int32', Int32Array.from(data, Math.round), dims);
    default:
      throw new Error(`unsupported input dtype ${dtype}`);
  }
}

/** A float32 or float16 output as float32 values. */
export function floats(t: Tensor): Float32Array {
  // A copy: an output's buffer can go with its session.
  if (t.type === 'float32') return (t.data as Float32Array).slice();
  if (t.type === 'float16') return Float32Array.from(t.data as Uint16Array, fromHalf);
  throw new Error(`unsupported output dtype ${t.type}`);
}

/** A feed for each input, in input order: its numeric dims from `dimsOf`, its values from `fill` (`n` of them, in the input's dtype). */
export function fillFeeds(
  inputs: readonly Value[],
  dimsOf: (v: Value) => number[],
  fill: (v: Value, n: number) => HostArray,
): Feeds {
  const feeds: Feeds = {};
  for (const v of inputs) {
    const dims = dimsOf(v);
    feeds[v.name] = typed(
      fill(
        v,
        dims.reduce((a, b) => a * b, 1),
      ),
      dims,
    );
  }
  return feeds;
}

/** A TensorProto file (an ONNX test set's input_N.pb): its name, and its tensor where the dtype is one a feed takes (float32, int64, int32). */
export function readTensorPb(file: string): { name: string; tensor?: Tensor } {
  const t = onnx.TensorProto.decode(fs.readFileSync(file));
  const dims = (t.dims ?? []).map(toNumber);
  const raw = t.rawData ?? new Uint8Array(0);
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const name = t.name ?? '';
  if (t.dataType === DataType.INT64) return { name, tensor: new ort.Tensor('int64', new BigInt64Array(buf), dims) };
  if (t.dataType === DataType.INT32) return { name, tensor: new ort.Tensor('int32', new Int32Array(buf), dims) };
  if (t.dataType === DataType.FLOAT)
    return {
      name,
      tensor: new ort.Tensor(
        'float32',
        raw.length ? new Float32Array(buf) : Float32Array.from(t.floatData ?? []),
        dims,
      ),
    };
  return { name };
}

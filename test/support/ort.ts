// Running graphs in onnxruntime-node for tests: load a fixture test set, save
// a Graph to a temp folder, run it, compare outputs.
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DiagnosticLog, formatDiagnostic } from '../../src/diagnostics.ts';
import { exportGraph } from '../../src/ir/export.ts';
import type { Graph } from '../../src/ir/graph.ts';
import { importGraph } from '../../src/ir/import.ts';
import { loadModel } from '../../src/onnx/model.ts';
import { onnx, toNumber } from '../../src/onnx/proto.ts';
import { saveModel } from '../../src/onnx/save.ts';
import { tempDir } from './temp.ts';

export type Feeds = Record<string, ort.Tensor>;

export function readTensorPb(file: string): { name: string; tensor: ort.Tensor } {
  const t = onnx.TensorProto.decode(fs.readFileSync(file));
  const raw = t.rawData!;
  const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const dims = (t.dims ?? []).map(toNumber);
  const tensor =
    t.dataType === 7
      ? new ort.Tensor('int64', new BigInt64Array(buf), dims)
      : new ort.Tensor('float32', new Float32Array(buf), dims);
  return { name: t.name ?? '', tensor };
}

/** Inputs and the reference output of `dir/test_data_set_N`. */
export function testSet(dir: string): { feeds: Feeds; expected: ort.Tensor } {
  const feeds: Feeds = {};
  for (const f of fs.readdirSync(dir).filter((f) => f.startsWith('input_')).sort()) {
    const { name, tensor } = readTensorPb(path.join(dir, f));
    feeds[name] = tensor;
  }
  return { feeds, expected: readTensorPb(path.join(dir, 'output_0.pb')).tensor };
}

export function loadGraph(file: string): Graph {
  const log = new DiagnosticLog();
  const m = loadModel(file, log);
  const g = m && importGraph(m, log);
  if (!g) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  return g;
}

export { tempDir };

/** Saves the graph (weights external) into a fresh temp folder and returns the model path. */
export function saveGraph(g: Graph, dir = tempDir()): string {
  const log = new DiagnosticLog();
  const file = path.join(dir, 'model.onnx');
  if (!saveModel(exportGraph(g), file, { externalData: 'model.onnx.data' }, log)) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  return file;
}

export async function run(file: string, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** max |a - b| / max |b|: the relative error measure the acceptance criteria use. */
export function relError(a: ort.Tensor, b: ort.Tensor): number {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  if (x.length !== y.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return diff / (scale || 1);
}

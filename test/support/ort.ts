// Running graphs in onnxruntime-node for tests, through the product's harness
// (src/runtime/ort.ts) with the tests' defaults: graphs saved into test temp
// folders, and run as written (no graph optimization), so a rewrite is
// checked rather than the runtime's fusions. Plus a fixture test set and the
// acceptance criteria's error measure.
import fs from 'node:fs';
import path from 'node:path';
import { DiagnosticLog, formatDiagnostic } from '../../src/diagnostics.ts';
import type { Graph } from '../../src/ir/graph.ts';
import { importGraph } from '../../src/ir/import.ts';
import { loadModel } from '../../src/onnx/model.ts';
import { readTensorPb, runOnce, saveGraph as save, type Feeds, type Tensor } from '../../src/runtime/ort.ts';
import { tempDir } from './temp.ts';

export type { Feeds };
export { tempDir };

function fixtureTensor(file: string): { name: string; tensor: Tensor } {
  const { name, tensor } = readTensorPb(file);
  if (!tensor) throw new Error(`${file}: a fixture tensor is float32, int64 or int32`);
  return { name, tensor };
}

/** Inputs and the reference output of `dir/test_data_set_N`. */
export function testSet(dir: string): { feeds: Feeds; expected: Tensor } {
  const feeds: Feeds = {};
  for (const f of fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('input_'))
    .sort()) {
    const { name, tensor } = fixtureTensor(path.join(dir, f));
    feeds[name] = tensor;
  }
  return { feeds, expected: fixtureTensor(path.join(dir, 'output_0.pb')).tensor };
}

export function loadGraph(file: string): Graph {
  const log = new DiagnosticLog();
  const m = loadModel(file, log);
  const g = m && importGraph(m, log);
  if (!g) throw new Error(`cannot load ${file}:\n${log.items.map(formatDiagnostic).join('\n')}`);
  return g;
}

/** Saves the graph (weights external) into a fresh temp folder and returns the model path. */
export function saveGraph(g: Graph, dir = tempDir()): string {
  return save(g, dir);
}

export function run(file: string, feeds: Feeds): Promise<Record<string, Tensor>> {
  return runOnce(file, feeds, { graphOptimizationLevel: 'disabled' });
}

/** max |a - b| / max |b|: the relative error measure the acceptance criteria use. */
export function relError(a: Tensor, b: Tensor): number {
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

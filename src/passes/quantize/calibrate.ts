// Calibration for w8a16 and w8a8: the model runs in onnxruntime-node on sample inputs
// and the range of every activation to be quantized is recorded. Samples are
// random latents and embeddings (seeded) unless a folder of .pb tensors is
// given. Memory stays bounded: one session, and each run fetches only a batch
// of activations (at most `budgetBytes`), folded into running min/max before
// the next run, so no more than one batch of one sample is ever held.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';
import type { Graph, Value } from '../../ir/graph.ts';
import { DataType } from '../../onnx/dtype.ts';
import { boxMuller, mulberry32, uniform32 } from '../../random.ts';
import type { Feeds, Session } from '../../runtime/ort.ts';
import { removeScratch, scratchDir } from '../../scratch.ts';
import { targetDims } from '../../ir/bind.ts';
import { hasBytes } from '../../ir/weight-io.ts';
import type { ActivationRanges, Range } from './activations.ts';

export interface CalibrationOptions {
  /** A folder of .pb TensorProtos (one sample), or of sub-folders (one sample each, like test_data_set_N). */
  inputs?: string;
  /** Random samples drawn when no folder is given (default 4). */
  samples?: number;
  seed?: number;
  /** Sizes for symbolic input dims of random samples (default: a 256×256 image, batch 1). */
  dims?: Record<string, number>;
  /** Most bytes of activations fetched per run (default 256 MiB). */
  budgetBytes?: number;
}

type Runtime = typeof import('../../runtime/ort.ts');

export async function calibrate(
  g: Graph,
  targets: Value[],
  opts: CalibrationOptions,
  log: DiagnosticLog,
  at?: Location,
): Promise<ActivationRanges | undefined> {
  if (g.weights.some((w) => !hasBytes(w.weight!))) {
    log.error(
      Code.CalibrationMissing,
      'activation calibration (w8a16, w8a8) runs the model, but its weights file is absent (a graph-only model); give a model with weights',
      at,
    );
    return undefined;
  }
  // Loaded here, not with the module: compile imports this file, and most compiles run no model.
  const rt: Runtime = await import('../../runtime/ort.ts');
  const samples = opts.inputs ? readSamples(rt, g, opts.inputs, log, at) : randomSamples(rt, g, opts);
  if (!samples) return undefined;
  const dir = scratchDir('calibrate');
  try {
    const file = path.join(dir, 'model.onnx');
    if (!rt.writeGraph(g, file, log, targets)) return undefined;
    let session: Session;
    try {
      session = await rt.openSession(file, { graphOptimizationLevel: 'disabled' });
    } catch (e) {
      log.error(
        Code.CalibrationRun,
        `onnxruntime could not load the model for calibration: ${(e as Error).message}`,
        at,
      );
      return undefined;
    }
    const ranges = new Map<string, Range>(targets.map((v) => [v.name, { min: Infinity, max: -Infinity }]));
    const batches = batch(targets, opts.budgetBytes ?? 256 * 2 ** 20);
    try {
      for (const feeds of samples) {
        for (const names of batches) {
          const out = await session.run(feeds, names);
          for (const [name, t] of Object.entries(out)) {
            const r = ranges.get(name)!;
            const x = t.data as Float32Array;
            for (let i = 0; i < x.length; i++) {
              const v = x[i];
              if (v < r.min) r.min = v;
              if (v > r.max) r.max = v;
            }
            t.dispose?.();
          }
        }
      }
    } catch (e) {
      log.error(Code.CalibrationRun, `calibration run failed in onnxruntime: ${(e as Error).message}`, at);
      return undefined;
    } finally {
      await session.release();
    }
    return { ranges, samples: samples.length, source: opts.inputs ?? 'random' };
  } finally {
    removeScratch(dir);
  }
}

/** Groups value names so each group's float32 bytes (at the inferred shapes) stay under the budget. */
function batch(values: Value[], budget: number): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let bytes = 0;
  for (const v of values) {
    const s = v.type?.shape ?? [];
    const n = 4 * s.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
    if (cur.length && bytes + n > budget) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(v.name);
    bytes += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Seeded samples: standard normal floats (latents, embeddings), integers in [0, 1000) (timesteps). */
function randomSamples(rt: Runtime, g: Graph, opts: CalibrationOptions): Feeds[] {
  const dims = opts.dims ?? targetDims(256);
  const next = mulberry32(opts.seed ?? 0);
  const uniform = () => uniform32(next);
  // One normal per two draws: Box–Muller's second (sine) normal is not used.
  const normal = () => boxMuller(uniform)[0];
  const dimsOf = (v: Value) => (v.type?.shape ?? []).map((d) => (typeof d === 'number' ? d : (dims[d] ?? 1)));
  const out: Feeds[] = [];
  for (let k = 0; k < (opts.samples ?? 4); k++) {
    out.push(
      rt.fillFeeds(g.inputs, dimsOf, (v, n) => {
        const dtype = v.type?.dtype;
        if (dtype === DataType.INT64)
          return BigInt64Array.from({ length: n }, () => BigInt(Math.floor(uniform() * 1000)));
        if (dtype === DataType.INT32) return Int32Array.from({ length: n }, () => Math.floor(uniform() * 1000));
        return Float32Array.from({ length: n }, normal);
      }),
    );
  }
  return out;
}

/** Samples from .pb TensorProtos named after the graph inputs (else taken in input order). */
function readSamples(rt: Runtime, g: Graph, dir: string, log: DiagnosticLog, at?: Location): Feeds[] | undefined {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    log.error(Code.CalibrationInputs, `calibration inputs folder '${dir}' cannot be read`, at);
    return undefined;
  }
  const folders = entries
    .filter((e) => e.isDirectory())
    .map((e) => path.join(dir, e.name))
    .sort();
  const sets = folders.length ? folders : [dir];
  const out: Feeds[] = [];
  for (const set of sets) {
    const files = fs
      .readdirSync(set)
      .filter((f) => f.endsWith('.pb') && !f.startsWith('output'))
      .sort();
    const feeds: Feeds = {};
    files.forEach((f, i) => {
      const { name, tensor } = rt.readTensorPb(path.join(set, f));
      if (tensor) feeds[name || g.inputs[i]?.name || ''] = tensor;
    });
    const missing = g.inputs.filter((v) => !feeds[v.name]).map((v) => v.name);
    if (missing.length) {
      log.error(
        Code.CalibrationInputs,
        `calibration sample '${set}' lacks input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} (one .pb TensorProto per input, named after it)`,
        at,
      );
      return undefined;
    }
    out.push(feeds);
  }
  return out;
}

// fold-cfg speed: one folded call (batch 2 + guidance in the graph) against
// the two batch-1 calls of the original UNet it replaces, on the narrow
// SD-v1.5-topology export. Both sessions get the same options; the two sides
// alternate which goes first each round, and the median of the rounds is kept.
//
//   node --import tsx bench/fold-cfg.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { exportGraph } from '../src/ir/export.ts';
import { importGraph } from '../src/ir/import.ts';
import { loadModel } from '../src/onnx/model.ts';
import { saveModel } from '../src/onnx/save.ts';
import { foldCfg } from '../src/passes/fold-cfg.ts';
import { runPasses } from '../src/passes/pass.ts';
import { median, seededFloats } from './stats.ts';

const MODEL = 'test/fixtures/unet-sd15shape-narrow/model.onnx';
const SIZES = [16, 32]; // latent side: the fixture's native 16×16, then 32×32
const ROUNDS = 9;
const WARMUP = 2;
const SEQ = 77;
const WIDTH = 64; // cross_attention_dim of the narrow UNet
const OPTIONS: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };

export interface FoldCfgTiming {
  size: string;
  folded_ms: number;
  two_calls_ms: number;
  /** folded / two calls: below 1 means the fold is faster. */
  ratio: number;
}

export interface FoldCfgBench extends FoldCfgTiming {
  /** Every resolution measured; the top-level numbers are the first (16×16). */
  sizes: FoldCfgTiming[];
}

export async function benchFoldCfg(): Promise<FoldCfgBench> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketdiff-bench-cfg-'));
  try {
    const folded = await ort.InferenceSession.create(foldedModel(dir), OPTIONS);
    const original = await ort.InferenceSession.create(MODEL, OPTIONS);
    const sizes: FoldCfgTiming[] = [];
    for (const side of SIZES) sizes.push(await measure(folded, original, side));
    await folded.release();
    await original.release();
    console.log(
      'fold-cfg: one folded call vs two calls (unet-sd15shape-narrow, onnxruntime-node CPU, median of %d)',
      ROUNDS,
    );
    for (const t of sizes) {
      console.log(
        `  ${t.size.padEnd(6)} folded ${t.folded_ms.toFixed(1).padStart(7)} ms   two calls ${t.two_calls_ms.toFixed(1).padStart(7)} ms   ratio ${t.ratio.toFixed(3)}`,
      );
    }
    return { ...sizes[0], sizes };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function foldedModel(dir: string): string {
  const log = new DiagnosticLog();
  const m = loadModel(MODEL, log);
  const g = m && importGraph(m, log);
  const file = path.join(dir, 'model.onnx');
  if (
    !g ||
    !runPasses(g, [foldCfg()], log) ||
    !saveModel(exportGraph(g), file, { externalData: 'model.onnx.data' }, log)
  ) {
    throw new Error(log.items.map(formatDiagnostic).join('\n'));
  }
  return file;
}

async function measure(
  folded: ort.InferenceSession,
  original: ort.InferenceSession,
  side: number,
): Promise<FoldCfgTiming> {
  const sample = random([1, 4, side, side], 1);
  const timestep = new ort.Tensor('int64', BigInt64Array.of(999n), [1]);
  const cond = random([1, SEQ, WIDTH], 2);
  const uncond = random([1, SEQ, WIDTH], 3);
  const guidance_scale = new ort.Tensor('float32', Float32Array.of(7.5), [1]);
  const runFolded = () =>
    folded.run({ sample, timestep, encoder_hidden_states: cond, uncond_encoder_hidden_states: uncond, guidance_scale });
  const runTwo = async () => {
    await original.run({ sample, timestep, encoder_hidden_states: uncond });
    await original.run({ sample, timestep, encoder_hidden_states: cond });
  };
  for (let i = 0; i < WARMUP; i++) {
    await runFolded();
    await runTwo();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: [() => Promise<unknown>, number[]][] = [
      [runFolded, a],
      [runTwo, b],
    ];
    if (r % 2) order.reverse();
    for (const [fn, into] of order) {
      const t0 = performance.now();
      await fn();
      into.push(performance.now() - t0);
    }
  }
  const folded_ms = median(a);
  const two_calls_ms = median(b);
  return { size: `${side}x${side}`, folded_ms, two_calls_ms, ratio: folded_ms / two_calls_ms };
}

function random(dims: number[], seed: number): ort.Tensor {
  return new ort.Tensor(
    'float32',
    seededFloats(
      dims.reduce((x, y) => x * y, 1),
      seed,
    ),
    dims,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await benchFoldCfg();
}

// evolve's scoring speed: one candidate scored through the gated UNet (a new
// gate vector on the session already open) against the same candidate
// recompiled (load the export, infer shapes, remove the block, save, open a
// session) and run, on the narrow SD-v1.5-topology export. One score is one
// sample: 2 DDIM steps at a 16×16 latent (128 px), no guidance, the same
// noise and embedding for both. The two sides alternate which goes first per
// candidate; medians over the candidates are kept. The gated UNet's one-time
// build (gate pass, save, session) is reported beside them.
//
//   node --import tsx bench/evolve.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { UnetRunner, type Embedding, type Sampling } from '../src/evolve/denoise.ts';
import { gateVector, slotsOf, startArch } from '../src/evolve/slots.ts';
import { exportGraph } from '../src/ir/export.ts';
import type { Graph } from '../src/ir/graph.ts';
import { importGraph } from '../src/ir/import.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { loadModel } from '../src/onnx/model.ts';
import { saveModel } from '../src/onnx/save.ts';
import { gateBlocks } from '../src/passes/gate-blocks.ts';
import { runPasses, type Pass } from '../src/passes/pass.ts';
import { removeBlocks } from '../src/passes/remove-blocks.ts';
import { computeSchedule, DEFAULT_SCHEDULE } from '../src/schedule/index.ts';
import { median, seededFloats } from './stats.ts';

const MODEL = 'test/fixtures/unet-sd15shape-narrow/model.onnx';
const DIMS = { batch_size: 1, steps: 1, height: 16, width: 16, sequence_length: 77 };
const CANDIDATES = 9;

export interface EvolveBench {
  model: string;
  score: string;
  candidates: number;
  /** Median ms to score one candidate by its gate vector. */
  gated_ms: number;
  /** Median ms to compile the candidate on its own and score it. */
  recompile_ms: number;
  /** recompile / gated. */
  ratio: number;
  /** One-time: the gate pass, saving the gated UNet and opening its session. */
  gated_setup_ms: number;
}

function build(dir: string, name: string, passes: Pass[]): { file: string; g: Graph } {
  const log = new DiagnosticLog();
  const m = loadModel(MODEL, log);
  const g = m && importGraph(m, log);
  const file = path.join(dir, name, 'model.onnx');
  if (!g) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  inferShapes(g, { dims: DIMS }, log);
  if (!runPasses(g, passes, log) || !saveModel(exportGraph(g), file, { externalData: 'model.onnx.data' }, log))
    throw new Error(log.items.map(formatDiagnostic).join('\n'));
  return { file, g };
}

export async function benchEvolve(): Promise<EvolveBench> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketdiff-bench-evolve-'));
  try {
    const log = new DiagnosticLog();
    const m = loadModel(MODEL, log)!;
    const plain = importGraph(m, log)!;
    inferShapes(plain, { dims: DIMS }, log);
    const slots = slotsOf(plain);
    const sampling: Sampling = {
      schedule: computeSchedule({ ...DEFAULT_SCHEDULE, scheduler: 'ddim', steps: 2, set_alpha_to_one: false }),
      scale: 1,
      latent: [4, 16, 16],
    };
    const cond: Embedding = { data: seededFloats(77 * 64, 5), tokens: 77, hidden: 64 };

    const t0 = performance.now();
    const gated = build(dir, 'gated', [gateBlocks(slots.gates).pass]);
    const runner = await UnetRunner.open(gated.file, gated.g);
    const setup = performance.now() - t0;
    await runner.sample(sampling, 0, cond, cond, gateVector(slots, startArch(slots)));

    const a: number[] = [];
    const b: number[] = [];
    const picks = slots.slots.filter((s) => !s.keepShortcut).slice(0, CANDIDATES);
    for (const [k, s] of picks.entries()) {
      const arch = startArch(slots).map((c, i) => (slots.slots[i] === s ? 0 : c));
      const byGate = async () => {
        const t = performance.now();
        await runner.sample(sampling, 0, cond, cond, gateVector(slots, arch));
        a.push(performance.now() - t);
      };
      const byCompile = async () => {
        const t = performance.now();
        const c = build(dir, `c${k}`, [removeBlocks([{ selector: s.block }])]);
        const r = await UnetRunner.open(c.file, c.g);
        await r.sample(sampling, 0, cond, cond);
        await r.release();
        b.push(performance.now() - t);
      };
      for (const fn of k % 2 ? [byCompile, byGate] : [byGate, byCompile]) await fn();
    }
    await runner.release();
    const gated_ms = median(a);
    const recompile_ms = median(b);
    const out: EvolveBench = {
      model: MODEL,
      score: 'one sample: 2 DDIM steps, 16×16 latent, no guidance',
      candidates: picks.length,
      gated_ms,
      recompile_ms,
      ratio: recompile_ms / gated_ms,
      gated_setup_ms: setup,
    };
    console.log(
      `evolve: scoring one candidate (${out.score}; unet-sd15shape-narrow, onnxruntime-node CPU, median of ${picks.length} candidates)`,
    );
    console.log(
      `  by gate ${gated_ms.toFixed(1).padStart(8)} ms   recompiled ${recompile_ms.toFixed(1).padStart(8)} ms   recompiled / gate ${out.ratio.toFixed(1)}×   (gated UNet, once: ${setup.toFixed(0)} ms)`,
    );
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await benchEvolve();
}

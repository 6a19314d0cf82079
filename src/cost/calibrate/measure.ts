// Measuring latency on this machine with onnxruntime-node, the way the
// local-cpu profile says: one intra-op thread, all graph optimizations, and
// the CPU time of a run rather than its wall time. A run on one thread uses
// one core for as long as it computes, so its CPU time is the latency an idle
// machine would show, even while other processes share the cores. Each
// measurement is the fastest of many windows of runs (measureRounds).
import type { Graph, Value } from '../../ir/graph.ts';
import { byteSize, DataType } from '../../onnx/dtype.ts';
import { fillFeeds, openSession, saveGraph, type Feeds, type Session, type SessionOptions } from '../../runtime/ort.ts';
import { scratchDir } from '../../scratch.ts';

export interface Measurement {
  /** CPU time of one run: the mean over the fastest window. */
  ms: number;
  /** Median CPU time, and minimum wall time, for the report (per run, as `ms`). */
  median_ms: number;
  wall_ms: number;
  runs: number;
}

export const SESSION_OPTIONS: SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  // Warnings (a float16 constant it cannot fold) are the runtime's business, not the report's.
  logSeverityLevel: 3,
};

/**
 * Weights a graph-only model lacks (or that a rewrite left without bytes) get
 * deterministic filler bytes: latency does not depend on weight values.
 */
export function fillMissingWeights(g: Graph): void {
  for (const v of g.weights) {
    const w = v.weight!;
    const d = w.data;
    const missing = (d.kind === 'external' && !d.ref.exists) || (d.kind === 'typed' && !w.proto);
    if (!missing) continue;
    const count = w.dims.reduce((a, b) => a * b, 1);
    const bytes = byteSize(w.dtype, count) ?? count * 4;
    v.weight = {
      dtype: w.dtype,
      dims: w.dims,
      data: {
        kind: 'stream',
        length: bytes,
        write(sink) {
          const chunk = new Uint8Array(Math.min(bytes, 1 << 20)).fill(
            w.dtype === DataType.INT64 || w.dtype === DataType.INT32 ? 0 : 0x1c,
          );
          for (let done = 0; done < bytes; done += chunk.length)
            sink(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
        },
      },
    };
  }
}

/**
 * Saves a graph (weights in one external file) into a fresh temp folder, with
 * the input dims it was inferred at: a compiled model has static shapes, so
 * the runtime folds its shape arithmetic.
 */
export function saveForRun(g: Graph, dir = scratchDir('measure')): string {
  fillMissingWeights(g);
  return saveGraph(g, dir);
}

/** Inputs for a run: deterministic values of each input's type and (numeric) shape. */
export function feedsFor(inputs: readonly Value[], shapes: Record<string, number[]> = {}): Feeds {
  return fillFeeds(
    inputs,
    (v) => shapes[v.name] ?? (v.type!.shape as number[]),
    (v, n) => {
      switch (v.type!.dtype) {
        case DataType.INT64:
          return new BigInt64Array(n).fill(v.name === 'timestep' ? 500n : 1n);
        case DataType.INT32:
          return new Int32Array(n).fill(1);
        case DataType.FLOAT16:
          return new Uint16Array(n).map((_, i) => 0x3000 + (i % 512));
        default:
          return new Float32Array(n).map((_, i) => Math.sin(i) * 0.5);
      }
    },
  );
}

export interface Job {
  name: string;
  file: string;
  feeds: Feeds;
}

/**
 * Measures several models in interleaved rounds and keeps each model's
 * fastest window. A window is a run of back-to-back runs lasting at least
 * `window_ms` of CPU time (one run for a model longer than that), and its
 * time is their mean. Equal windows give every model the same exposure to
 * the machine's noise: on this VM, other tenants slow a core for seconds at a
 * time (a 45 ms UNet measured 44 to 61 ms as the minimum of 15 runs, from one
 * second to the next, with no steal time showing), so the minimum of many
 * half-millisecond runs finds the quiet gaps that no 50 ms run can, and a
 * profile fitted to short microbenchmarks that way under-predicts every real
 * model. Rounds spread each model's windows over minutes, so every model gets
 * quiet moments. Each model also gets `sessions` sessions (2 by default), used
 * in turn by the rounds: where a session's buffers land moves its times by up
 * to 20% here for the whole session (measured on an elementwise chain).
 */
export async function measureRounds(
  jobs: Job[],
  opts: {
    rounds?: number;
    windows?: number;
    window_ms?: number;
    budget_ms?: number;
    sessions?: number;
    onRound?: (r: number) => void;
  } = {},
): Promise<Map<string, Measurement>> {
  const windowMs = opts.window_ms ?? 100;
  const perJob = Math.max(1, opts.sessions ?? 2);
  const sessions = new Map<string, Session[]>();
  const cpu = new Map<string, number[]>();
  const wall = new Map<string, number[]>();
  const runs = new Map<string, number>();
  try {
    for (const j of jobs) {
      const own: Session[] = [];
      sessions.set(j.name, own);
      for (let k = 0; k < perJob; k++) {
        const s = await openSession(j.file, SESSION_OPTIONS);
        own.push(s);
        await s.run(j.feeds);
      }
      cpu.set(j.name, []);
      wall.set(j.name, []);
      runs.set(j.name, 0);
    }
    for (let r = 0; r < (opts.rounds ?? 3); r++) {
      for (const j of jobs) {
        const own = sessions.get(j.name)!;
        const s = own[r % own.length];
        // The first run after another model refills the caches it evicted: not
        // timed, unless a run alone fills a window (then the later windows are warm).
        const seen = cpu.get(j.name)!;
        if (!seen.length || Math.min(...seen) < windowMs) await s.run(j.feeds);
        let spent = 0;
        for (let w = 0; w < (opts.windows ?? 2); w++) {
          let n = 0;
          let used = 0;
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          while (used < windowMs && n < 10_000) {
            await s.run(j.feeds);
            n++;
            const c = process.cpuUsage(c0);
            used = (c.user + c.system) / 1000;
          }
          wall.get(j.name)!.push((performance.now() - t0) / n);
          cpu.get(j.name)!.push(used / n);
          runs.set(j.name, runs.get(j.name)! + n);
          spent += used;
          if (opts.budget_ms && spent > opts.budget_ms) break;
        }
      }
      opts.onRound?.(r);
    }
  } finally {
    for (const own of sessions.values()) for (const s of own) await s.release();
  }
  const out = new Map<string, Measurement>();
  for (const j of jobs) {
    const c = [...cpu.get(j.name)!].sort((a, b) => a - b);
    out.set(j.name, {
      ms: c[0],
      median_ms: c[Math.floor(c.length / 2)],
      wall_ms: Math.min(...wall.get(j.name)!),
      runs: runs.get(j.name)!,
    });
  }
  return out;
}

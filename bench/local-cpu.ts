// The local-cpu profile against onnxruntime on this machine: what the profile
// predicts beside what onnxruntime takes, for the graphs test/cost.test.ts
// prices (test/support/local-cpu-graphs.ts). Timings, so a bench and not a
// test: on a shared 2-core machine another tenant can slow a core for the
// milliseconds a window lasts, and a test that failed for that failed for the
// wrong reason. The tests keep what is deterministic (the prices); here every
// graph is measured in one measureRounds call, so all are interleaved round by
// round and see the same machine, and compared as ratios measured side by side.
//
//   node --import tsx bench/local-cpu.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { feedsFor, measureRounds, saveForRun } from '../src/cost/calibrate/measure.ts';
import { MICROBENCHMARKS } from '../src/cost/calibrate/micro.ts';
import type { Graph } from '../src/ir/graph.ts';
import { removeScratch } from '../src/scratch.ts';
import { COMPARISONS, localCpuMs } from '../test/support/local-cpu-graphs.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// As calibration measures: CPU time of a run, the fastest of many windows of back-to-back runs.
const MEASURE = { rounds: 10, windows: 2, window_ms: 20 };

export interface LocalCpuLine {
  what: string;
  predicted?: number;
  measured: number;
  /** The bound the measured (or measured/predicted) number must lie within. */
  within: string;
  pass: boolean;
}

export interface LocalCpuBench {
  lines: LocalCpuLine[];
  pass: boolean;
}

const micro = (name: string) => MICROBENCHMARKS.find((b) => b.name === name)!.graph();

export async function benchLocalCpu(): Promise<LocalCpuBench> {
  const graphs: Record<string, Graph> = {
    linear: micro('linear-t1024-c64'),
    small: micro('elementwise-262144'),
    big: micro('elementwise-4194304'),
  };
  COMPARISONS.forEach((c, i) => {
    for (const [k, g] of Object.entries(c.graphs())) graphs[`${i}/${k}`] = g;
  });
  const predicted = Object.fromEntries(Object.entries(graphs).map(([k, g]) => [k, localCpuMs(g)]));
  const jobs = Object.entries(graphs).map(([name, g]) => ({ name, file: saveForRun(g), feeds: feedsFor(g.inputs) }));
  const load0 = os.loadavg()[0];
  let measured: Record<string, number>;
  try {
    const m = await measureRounds(jobs, MEASURE);
    measured = Object.fromEntries(jobs.map((j) => [j.name, m.get(j.name)!.ms]));
  } finally {
    for (const j of jobs) removeScratch(path.dirname(j.file));
  }
  const load1 = os.loadavg()[0];

  const lines: LocalCpuLine[] = [];
  // One microbenchmark's time itself, loosely: within a factor of two.
  const linear = measured.linear / predicted.linear;
  lines.push({
    what: 'linear-t1024-c64, ms',
    predicted: predicted.linear,
    measured: measured.linear,
    within: '2x',
    pass: linear < 2 && linear > 0.5,
  });
  // Sixteen times the elements: the chain streams from memory instead of cache, so more than 8x slower.
  const grew = measured.big / measured.small;
  lines.push({
    what: 'elementwise chain, 4,194,304 / 262,144 elements',
    measured: grew,
    within: '8x to 64x',
    pass: grew > 8 && grew < 64,
  });
  COMPARISONS.forEach((c, i) => {
    const of = (ms: Record<string, number>) =>
      c.ratio(Object.fromEntries(Object.keys(c.graphs()).map((k) => [k, ms[`${i}/${k}`]])));
    const [p, m] = [of(predicted), of(measured)];
    lines.push({
      what: c.what,
      predicted: p,
      measured: m,
      within: `${c.factor}x`,
      pass: Math.abs(Math.log(p / m)) < Math.log(c.factor),
    });
  });

  const result: LocalCpuBench = { lines, pass: lines.every((l) => l.pass) };
  const num = (x: number) => x.toFixed(x >= 10 ? 1 : 2);
  console.log(
    `local-cpu profile vs onnxruntime here (CPU time, fastest of ${MEASURE.rounds * MEASURE.windows} interleaved ${MEASURE.window_ms} ms windows; load average ${load0.toFixed(2)} → ${load1.toFixed(2)})`,
  );
  for (const l of lines) {
    const p = l.predicted === undefined ? '' : `predicted ${num(l.predicted)}, `;
    console.log(`  ${l.what}: ${p}measured ${num(l.measured)} (within ${l.within}): ${l.pass ? 'PASS' : 'FAIL'}`);
  }
  fs.mkdirSync(path.join(ROOT, 'out'), { recursive: true });
  fs.writeFileSync(
    path.join(ROOT, 'out', 'bench-local-cpu.json'),
    JSON.stringify(
      { date: new Date().toISOString(), cpus: os.cpus().length, loadavg: [load0, load1], ...MEASURE, ...result },
      null,
      2,
    ) + '\n',
  );
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = (await benchLocalCpu()).pass ? 0 : 1;
}

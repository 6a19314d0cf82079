// evolve's scoring throughput on workers: the same search (narrow fixture,
// 128 px, 4 DDIM steps, 2 samples) scored by 1 and then by 2 `pocketdiff
// worker` processes on a local redis-server (127.0.0.1, a free port), each
// run from an empty score cache. Rounds alternate 1, 2, 2, 1 workers; jobs
// per second is finished jobs over the scoring time (from the models' hashing
// to the end: evolve's in-process setup, the same on both sides, left out). On a 2-core machine two
// workers share the cores onnxruntime already spreads one job over.
//
//   node --import tsx bench/queue.ts
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { evolve } from '../src/evolve/run.ts';
import { Redis } from 'ioredis';
import { buildTestConfig } from '../test/support/builder-fixtures.ts';
import { freePort, startRedis, startWorker, stop } from '../test/support/redis.ts';
import { median } from './stats.ts';

export interface QueueBench {
  jobs: number;
  /** Jobs per second with 1 and 2 workers (median of the rounds). */
  one_worker: number;
  two_workers: number;
  ratio: number;
}

export async function benchQueue(): Promise<QueueBench | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    console.log('queue: skipped (redis-server is not installed: apt-get install redis-server)');
    return undefined;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketdiff-bench-queue-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const redis = await startRedis(port);
  try {
    const file = path.join(dir, 'narrow.yaml');
    const root = path.resolve(import.meta.dirname, '..');
    fs.writeFileSync(
      file,
      [
        'model:',
        `  unet: ${path.join(root, 'test/fixtures/unet-sd15shape-narrow/model.onnx')}`,
        `  vae_decoder: ${path.join(root, 'test/fixtures/vae-decoder-tiny/model.onnx')}`,
        `  text_encoder: ${buildTestConfig('text-encoder-narrow', dir)}`,
        'schedule: {scheduler: ddim, steps: 4}',
        'guidance: {scale: 1}',
        '',
      ].join('\n'),
    );
    const rates: Record<number, number[]> = { 1: [], 2: [] };
    let jobs = 0;
    for (const [i, n] of [1, 2, 2, 1].entries()) {
      // Finished jobs stay in Redis a day (a rerun reuses them): each round starts from an empty Redis.
      const flush = new Redis({ host: '127.0.0.1', port });
      await flush.flushall();
      flush.disconnect();
      const workers = [];
      for (let k = 0; k < n; k++) workers.push(await startWorker(url));
      const log = new DiagnosticLog();
      let first = 0;
      const t0 = performance.now();
      const r = await evolve(
        file,
        {
          device: 'galaxy-s23',
          budget: 3.3,
          objective: 'image',
          samples: 2,
          seed: 0,
          metric: 'latent',
          group: 3,
          resolution: 128,
          cache: path.join(dir, `cache-${i}`),
          out: path.join(dir, `out-${i}`, 'e.yaml'),
          queue: url,
          onProgress: (line) => {
            if (!first && line.startsWith('hashing')) first = performance.now();
          },
        },
        log,
      );
      const t1 = performance.now();
      if (!r) throw new Error(log.items.map(formatDiagnostic).join('\n'));
      jobs = r.scores.computed;
      rates[n].push(jobs / ((t1 - (first || t0)) / 1000));
      for (const w of workers) await stop(w);
    }
    const out: QueueBench = {
      jobs,
      one_worker: median(rates[1]),
      two_workers: median(rates[2]),
      ratio: median(rates[2]) / median(rates[1]),
    };
    console.log(
      `queue: evolve scoring on workers (unet-sd15shape-narrow, 128 px, 4 steps, ${jobs} jobs per run, redis-server on loopback, ${os.cpus().length} cores)`,
    );
    console.log(
      `  1 worker ${out.one_worker.toFixed(1).padStart(6)} jobs/s   2 workers ${out.two_workers.toFixed(1).padStart(6)} jobs/s   ratio ${out.ratio.toFixed(2)}`,
    );
    return out;
  } finally {
    await stop(redis, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await benchQueue();
  process.exit(0);
}

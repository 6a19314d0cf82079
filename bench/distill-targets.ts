// `distill targets` over many shards in one process: memory must stay flat
// (a shard's samples are held while it is made, then let go), so the RSS
// after the last shard is compared with the RSS after the fourth, in one run.
//
//   target: growth from shard 4 to shard 16 ≤ 64 MiB
//
//   node --import tsx bench/distill-targets.ts
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { writeTargets } from '../src/distill/targets.ts';
import { scratchDir } from '../src/scratch.ts';
import { distillSetup } from '../test/support/distill.ts';

const SHARDS = 16;
const PER_SHARD = 16;
const GROWTH_TARGET = 64 << 20;

export interface DistillTargetsBench {
  shards: number;
  samples: number;
  seconds: number;
  rss_after_4: number;
  rss_after_last: number;
  pass: boolean;
}

export async function benchDistillTargets(): Promise<DistillTargetsBench> {
  const work = scratchDir('bench-distill');
  const setup = await distillSetup(
    work,
    Array.from({ length: SHARDS }, () => PER_SHARD),
  );
  const rss: number[] = [];
  const log = new DiagnosticLog();
  const t0 = performance.now();
  const index = await writeTargets(
    {
      plan: setup.plan,
      teacher: setup.teacher,
      data: [setup.data],
      out: path.join(work, 'targets'),
      modes: ['vanilla', 'cfg'],
      onShard: () => rss.push(process.memoryUsage().rss),
    },
    log,
  );
  if (!index) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  const seconds = (performance.now() - t0) / 1000;
  const [early, last] = [rss[3]!, rss[rss.length - 1]!];
  const result = {
    shards: SHARDS,
    samples: index.count,
    seconds,
    rss_after_4: early,
    rss_after_last: last,
    pass: last - early <= GROWTH_TARGET,
  };
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(
    `distill targets: ${SHARDS} shards × ${PER_SHARD} samples (vanilla + cfg) in ${seconds.toFixed(1)} s; RSS ${mib(early)} after shard 4, ${mib(last)} after shard ${SHARDS} (growth ${mib(last - early)}, target ≤ ${mib(GROWTH_TARGET)}) ${result.pass ? 'PASS' : 'FAIL'}`,
  );
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href)
  await benchDistillTargets();

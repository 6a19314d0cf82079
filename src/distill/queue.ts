// `distill targets --queue`: one BullMQ job per shard, served by `pocketdiff
// worker` processes (worker.ts here) that read the plan, teacher and data and
// write the shard at the same absolute paths (a shared file system). BullMQ
// hands a job whose worker died to another; the shard's bytes depend only on
// (plan, teacher, data, options), so whoever finishes it writes the same file.
import crypto from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { checkRedis } from '../evolve/queue.ts';
import type { Slice, TargetMode } from './targets.ts';

export const DISTILL_QUEUE = 'pocketdiff-distill';
const ATTEMPTS = 3;

export interface TargetJobData {
  /** The pocketdiff version that made the job: a worker of another version refuses it. */
  version: string;
  plan: string;
  plan_sha256: string;
  teacher: string;
  /** sha256 of the teacher's manifest.json: a worker that reads another refuses the job. */
  teacher_sha256: string;
  stage: number;
  modes: TargetMode[];
  teacher_outputs: boolean;
  /** Samples per teacher call. */
  batch: number;
  /** Image size for a teacher with dynamic dims (null: its default). */
  size: number | null;
  shard: number;
  /** The input samples the shard takes. */
  slices: Slice[];
  file: string;
}

export interface TargetJobResult {
  count: number;
  bytes: number;
  sha256: string;
}

/** Runs the jobs on the workers; their results in the jobs' order, or undefined with a coded error. */
export async function runTargetJobs(
  url: string,
  jobs: TargetJobData[],
  log: DiagnosticLog,
  /** Called with a job's index as it finishes. */
  onDone: (job: number) => void,
): Promise<TargetJobResult[] | undefined> {
  const at = await checkRedis(url, log);
  if (!at) return undefined;
  if (!jobs.length) return [];
  const connection = { ...at, maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(n * 100, 1000) };
  const queue = new Queue<TargetJobData, TargetJobResult>(DISTILL_QUEUE, { connection });
  const events = new QueueEvents(DISTILL_QUEUE, { connection });
  const health = new Redis({
    ...at,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (n: number) => Math.min(n * 100, 500),
  });
  queue.on('error', () => {});
  events.on('error', () => {});
  health.on('error', () => {});
  queue.setMaxListeners(0);
  events.setMaxListeners(0);
  let stop: (why: string) => void = () => {};
  const lost = new Promise<string>((resolve) => (stop = resolve));
  let misses = 0;
  const timer = setInterval(() => {
    health.ping().then(
      () => (misses = 0),
      (e: Error) => {
        if (++misses >= 3) stop(e.message);
      },
    );
  }, 1000);
  try {
    await events.waitUntilReady();
    // A job's id is everything its bytes depend on. Only missing shards are
    // asked for, so a finished or failed job of that id from an earlier run
    // made a file that is gone since: it goes, and the shard is made again.
    // One still running (another run's) is waited on.
    const ids = jobs.map(
      (d) => `targets-${crypto.createHash('sha256').update(JSON.stringify(d)).digest('hex').slice(0, 32)}`,
    );
    for (const id of ids) {
      const old = await queue.getJob(id);
      if (old && ((await old.isCompleted()) || (await old.isFailed()))) await old.remove();
    }
    const added = await queue.addBulk(
      jobs.map((d, k) => ({
        name: 'targets',
        data: d,
        opts: {
          jobId: ids[k],
          attempts: ATTEMPTS,
          backoff: { type: 'fixed', delay: 500 },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 24 * 3600 },
        },
      })),
    );
    const failed: string[] = [];
    const waits = added.map(async (job, k) => {
      try {
        const r = await job.waitUntilFinished(events);
        onDone(k);
        return r;
      } catch (e) {
        failed.push(`shard ${jobs[k]!.shard} (${jobs[k]!.file}): ${(e as Error).message}`);
        return undefined;
      }
    });
    const results = await Promise.race([Promise.all(waits), lost.then((why) => ({ lost: why }))]);
    if ('lost' in results) {
      log.error(Code.EvolveQueueLost, `lost Redis at ${url} while workers made targets: ${results.lost}`, undefined, [
        'the shards that finished are kept: restart Redis and run the same command again to finish',
      ]);
      return undefined;
    }
    if (failed.length) {
      failed.sort();
      log.error(Code.EvolveJobFailed, `target job for ${failed[0]}`, undefined, [
        ...(failed.length > 1 ? [`${failed.length - 1} more job(s) failed`] : []),
        `a job is tried ${ATTEMPTS} times; a worker's refusal (version, plan or teacher hashes) is not retried`,
      ]);
      return undefined;
    }
    return results as TargetJobResult[];
  } finally {
    clearInterval(timer);
    const quit = Promise.allSettled([queue.close(), events.close()]).then(() => true);
    const closed = await Promise.race([quit, new Promise<false>((r) => setTimeout(() => r(false), 2000).unref())]);
    if (!closed) await Promise.allSettled([queue.disconnect(), events.disconnect()]);
    health.disconnect();
  }
}

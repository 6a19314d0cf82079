// Scoring on workers: each missing sample score (a gate vector × a prompt
// and seed) is a BullMQ job on Redis; `pocketdiff worker` processes serve
// them on any machine that reads the same model paths (worker.ts). BullMQ
// brings the retries, the stalled-job recovery (a worker killed mid-job) and
// the job ids: a job's id is its score's cache key, so a job added twice is
// one job and a result is counted once. Results are cached as they arrive,
// so a run that loses Redis stops with a coded error and its rerun resumes.
import os from 'node:os';
import { Queue, QueueEvents, Worker, type Job, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { TOOL_VERSION } from '../version.ts';
import type { RemoteScoring, ScoreRequest } from './score.ts';

export const QUEUE_NAME = 'pocketdiff-score';

/** What a worker needs to rebuild the scoring setup: evolve's own options, with absolute paths. */
export interface ScoringSetup {
  recipe: string;
  device: string;
  resolution: number;
  metric: string;
  clipText?: string;
  clipVision?: string;
  prompts?: string;
  samples: number;
  seed: number;
}

export interface ScoreJobData {
  /** The pocketdiff version that made the job: a worker of another version refuses it. */
  version: string;
  /** Hash of the models' bytes, gates, sampling and metric (run.ts): a worker that computes another refuses it. */
  context: string;
  setup: ScoringSetup;
  gates: number[];
  sample: number;
  prompt: string;
  seed: number;
}

export interface ScoreJobResult {
  value: number;
}

/** Attempts per job before evolve stops on it (a throw that is not a refusal is retried). */
export const ATTEMPTS = 3;

/** `redis://[:password@]host:port[/db]` as BullMQ connection options; undefined if it is not one. */
export function parseRedisUrl(url: string): { host: string; port: number; db: number; password?: string } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'redis:' || !u.hostname) return undefined;
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  const port = u.port ? Number(u.port) : 6379;
  if (!Number.isInteger(db) || db < 0 || !Number.isInteger(port)) return undefined;
  return { host: u.hostname, port, db, ...(u.password ? { password: decodeURIComponent(u.password) } : {}) };
}

/** Reachable within a few seconds, or a coded error. */
export async function checkRedis(url: string, log: DiagnosticLog): Promise<ReturnType<typeof parseRedisUrl>> {
  const at = parseRedisUrl(url);
  if (!at) {
    log.error(Code.Usage, `--queue '${url}' is not a Redis URL (redis://HOST:PORT[/DB])`);
    return undefined;
  }
  const probe = new Redis({
    ...at,
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return at;
  } catch (e) {
    log.error(Code.EvolveQueueUnreachable, `cannot reach Redis at ${url}: ${(e as Error).message}`, undefined, [
      'start Redis (or check the address), or run evolve without --queue to score in this process',
    ]);
    return undefined;
  } finally {
    probe.disconnect();
  }
}

export class QueueScoring implements RemoteScoring {
  private constructor(
    private readonly url: string,
    private readonly queue: Queue<ScoreJobData, ScoreJobResult>,
    private readonly events: QueueEvents,
    private readonly health: Redis,
    private readonly job: (r: ScoreRequest) => ScoreJobData,
  ) {}

  static async connect(
    url: string,
    job: (r: ScoreRequest) => ScoreJobData,
    log: DiagnosticLog,
  ): Promise<QueueScoring | undefined> {
    const at = await checkRedis(url, log);
    if (!at) return undefined;
    // Reconnects back off up to a second; the health check below decides when Redis is gone.
    const connection = { ...at, maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(n * 100, 1000) };
    const queue = new Queue<ScoreJobData, ScoreJobResult>(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    queue.on('error', () => {});
    events.on('error', () => {});
    // One listener per job waiting (waitUntilFinished): hundreds in a round.
    queue.setMaxListeners(0);
    events.setMaxListeners(0);
    const health = new Redis({
      ...at,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (n: number) => Math.min(n * 100, 500),
    });
    health.on('error', () => {});
    await events.waitUntilReady();
    return new QueueScoring(url, queue, events, health, job);
  }

  async run(
    requests: ScoreRequest[],
    onResult: (key: string, value: number) => void,
    log: DiagnosticLog,
  ): Promise<boolean> {
    let stop: (why: string) => void = () => {};
    const lost = new Promise<string>((resolve) => (stop = resolve));
    // Redis gone for three pings in a row (about 3 s): stop with what is cached.
    let misses = 0;
    const timer = setInterval(() => {
      this.health.ping().then(
        () => (misses = 0),
        (e: Error) => {
          if (++misses >= 3) stop(e.message);
        },
      );
    }, 1000);
    try {
      const added = await Promise.race([this.add(requests), lost.then((why) => ({ lost: why }))]);
      if ('lost' in added) return this.lostError(added.lost, log);
      const failed: string[] = [];
      const waits = added.map(async ({ job, request }) => {
        try {
          const r = await job.waitUntilFinished(this.events);
          onResult(request.key, r.value);
        } catch (e) {
          failed.push(`${job.id} (prompt '${request.prompt}', seed ${request.seed}): ${(e as Error).message}`);
        }
      });
      const end = await Promise.race([Promise.all(waits).then(() => undefined), lost]);
      if (end !== undefined) return this.lostError(end, log);
      if (failed.length) {
        failed.sort();
        log.error(Code.EvolveJobFailed, `scoring job ${failed[0]}`, undefined, [
          ...(failed.length > 1 ? [`${failed.length - 1} more job(s) failed`] : []),
          `a job is tried ${ATTEMPTS} times; a worker's refusal (version, model hashes) is not retried`,
          'finished scores are cached: fix the cause and run evolve again to resume',
        ]);
        return false;
      }
      return true;
    } finally {
      clearInterval(timer);
    }
  }

  /** Adds the jobs (ids are their cache keys, so an existing job is reused) and retries any left failed by an earlier run. */
  private async add(
    requests: ScoreRequest[],
  ): Promise<{ job: Job<ScoreJobData, ScoreJobResult>; request: ScoreRequest }[]> {
    const jobs = await this.queue.addBulk(
      requests.map((r) => ({
        name: 'score',
        data: this.job(r),
        opts: {
          jobId: `score-${r.key}`,
          attempts: ATTEMPTS,
          backoff: { type: 'fixed', delay: 500 },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 24 * 3600 },
        },
      })),
    );
    for (const j of jobs) if (await j.isFailed()) await j.retry('failed');
    return jobs.map((job, i) => ({ job, request: requests[i] }));
  }

  private lostError(why: string, log: DiagnosticLog): false {
    log.error(Code.EvolveQueueLost, `lost Redis at ${this.url} while workers were scoring: ${why}`, undefined, [
      'the scores that finished are cached: restart Redis and run evolve again with the same arguments to resume',
    ]);
    return false;
  }

  async close(): Promise<void> {
    // Closing waits for Redis; a Redis that is gone must not hold the process.
    const quit = Promise.allSettled([this.queue.close(), this.events.close()]).then(() => true);
    const closed = await Promise.race([quit, new Promise<false>((r) => setTimeout(() => r(false), 2000).unref())]);
    if (!closed) await Promise.allSettled([this.queue.disconnect(), this.events.disconnect()]);
    this.health.disconnect();
  }
}

export const jobData =
  (context: string, setup: ScoringSetup) =>
  (r: ScoreRequest): ScoreJobData => ({
    version: TOOL_VERSION,
    context,
    setup,
    gates: r.gates,
    sample: r.sample,
    prompt: r.prompt,
    seed: r.seed,
  });

export interface WorkerSettings {
  concurrency: number;
  /** A job whose worker stops renewing its lock this long is handed to another (a killed worker). */
  stalledMs: number;
  onInfo?: (line: string) => void;
}

/** A BullMQ worker as every `pocketdiff worker` queue runs one (evolve's scores, distill's shards). */
export function startQueueWorker<D, R>(
  queue: string,
  work: Processor<D, R>,
  connection: { host: string; port: number; db: number; password?: string },
  o: WorkerSettings,
): Worker<D, R> {
  const worker = new Worker<D, R>(queue, work, {
    connection: { ...connection, maxRetriesPerRequest: null },
    concurrency: o.concurrency,
    // Recorded on each job it finishes (job.processedBy).
    name: `${os.hostname()}-${process.pid}`,
    lockDuration: o.stalledMs,
    stalledInterval: o.stalledMs,
    // A job whose worker died twice is still retried through its attempts, not failed as stalled.
    maxStalledCount: 3,
  });
  worker.on('failed', (job, e) => o.onInfo?.(`job ${job?.id ?? '?'} failed: ${e.message.split('\n')[0]}`));
  worker.on('error', (e) => o.onInfo?.(`worker: ${e.message}`));
  return worker;
}

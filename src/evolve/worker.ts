// `pocketdiff worker`: serves evolve's scoring jobs from a BullMQ queue. A
// job names the run's setup (recipe, device, resolution, metric, prompts and
// seeds, as absolute paths every machine must read alike) and one score to
// compute. The worker rebuilds that setup once (the same steps evolve runs,
// run.ts prepareScoring), checks it hashes to the job's context, and scores.
// A job from another pocketdiff version, or whose models hash differently
// here, is refused (not retried): its score would not be the one asked for.
import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import { DiagnosticLog, formatDiagnostic } from '../diagnostics.ts';
import { TOOL_VERSION } from '../version.ts';
import { QUEUE_NAME, startQueueWorker, type ScoreJobData, type ScoreJobResult, type WorkerSettings } from './queue.ts';
import { prepareScoring, type PreparedScoring } from './run.ts';

export interface ScoringWorker {
  worker: Worker<ScoreJobData, ScoreJobResult>;
  /** Stops taking jobs, lets the running ones finish, and releases the scoring setup. */
  close(): Promise<void>;
}

export function startWorker(
  connection: { host: string; port: number; db: number; password?: string },
  o: WorkerSettings,
): ScoringWorker {
  let current: { key: string; prepared: Promise<PreparedScoring | string> } | undefined;

  const setupFor = (data: ScoreJobData): Promise<PreparedScoring | string> => {
    const key = JSON.stringify(data.setup);
    if (current?.key !== key) {
      const previous = current?.prepared;
      const log = new DiagnosticLog();
      o.onInfo?.(
        `preparing ${data.setup.recipe} on ${data.setup.device} at ${data.setup.resolution} px (${data.setup.metric})`,
      );
      current = {
        key,
        prepared: (async () => {
          const old = await previous;
          if (old && typeof old !== 'string') await old.close();
          return (await prepareScoring(data.setup, log)) ?? log.errors().map(formatDiagnostic).join('\n');
        })(),
      };
    }
    return current.prepared;
  };

  const score = async (job: Job<ScoreJobData, ScoreJobResult>): Promise<ScoreJobResult> => {
    const d = job.data;
    if (d.version !== TOOL_VERSION) {
      throw new UnrecoverableError(
        `refused by a worker of pocketdiff ${TOOL_VERSION}: the job comes from pocketdiff ${d.version}, whose scores may differ; run workers of the evolving version`,
      );
    }
    const prepared = await setupFor(d);
    if (typeof prepared === 'string')
      throw new UnrecoverableError(`the worker cannot set up this run's scoring:\n${prepared}`);
    if (prepared.scorer.context !== d.context) {
      throw new UnrecoverableError(
        `refused: the models, recipe or sampling read by this worker hash to ${prepared.scorer.context.slice(0, 16)}…, the job's to ${d.context.slice(0, 16)}… (a model file differs from the one evolve hashed, or the recipe changed)`,
      );
    }
    const want = prepared.scorer.sampleOf(d.sample);
    if (want.prompt !== d.prompt || want.seed !== d.seed) {
      throw new UnrecoverableError(
        `refused: sample ${d.sample} here is '${want.prompt}' at seed ${want.seed}, the job's '${d.prompt}' at seed ${d.seed} (the prompts file differs)`,
      );
    }
    const value = await prepared.scorer.measureSample(Float32Array.from(d.gates), d.sample);
    return { value };
  };

  const worker = startQueueWorker<ScoreJobData, ScoreJobResult>(QUEUE_NAME, score, connection, o);
  const close = async () => {
    await worker.close();
    const p = await current?.prepared;
    if (p && typeof p !== 'string') await p.close();
  };
  return { worker, close };
}

// `pocketdiff worker`'s distillation jobs: one target shard each (queue.ts).
// The worker reads the job's plan and teacher once (kept while jobs name the
// same pair), refuses a job of another pocketdiff version or whose plan or
// teacher hash differently here (not retried: its bytes would differ), and
// writes the shard where the job says, as the local run would.
import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import { hashFile } from '../artifact/hash.ts';
import { DiagnosticLog, formatDiagnostic } from '../diagnostics.ts';
import { prepareRun, type PreparedRun } from '../run/run-artifact.ts';
import { TOOL_VERSION } from '../version.ts';
import { readPlan } from './plan-file.ts';
import type { DistillPlan } from './plan-schema.ts';
import { startQueueWorker, type WorkerSettings } from '../evolve/queue.ts';
import { DISTILL_QUEUE, type TargetJobData, type TargetJobResult } from './queue.ts';
import { targetShard } from './targets.ts';

export function startDistillWorker(
  connection: { host: string; port: number; db: number; password?: string },
  o: WorkerSettings,
): Worker<TargetJobData, TargetJobResult> {
  let current: { key: string; ready: { plan: DistillPlan; teacher: PreparedRun } | string } | undefined;
  const prepare = (d: TargetJobData) => {
    const key = `${d.plan}\n${d.teacher}\n${d.size}`;
    if (current?.key !== key) {
      const log = new DiagnosticLog();
      const plan = readPlan(d.plan, log);
      const teacher = plan && prepareRun(d.teacher, d.size ?? undefined, log);
      current = { key, ready: plan && teacher ? { plan, teacher } : log.errors().map(formatDiagnostic).join('\n') };
    }
    return current.ready;
  };
  const work = async (job: Job<TargetJobData, TargetJobResult>): Promise<TargetJobResult> => {
    const d = job.data;
    o.onInfo?.(`job ${job.id}: shard ${d.shard} (${d.file})`);
    if (d.version !== TOOL_VERSION) {
      throw new UnrecoverableError(
        `refused by a worker of pocketdiff ${TOOL_VERSION}: the job comes from pocketdiff ${d.version}, whose targets may differ`,
      );
    }
    const here = { plan: hashFile(d.plan).sha256, teacher: hashFile(`${d.teacher}/manifest.json`).sha256 };
    if (here.plan !== d.plan_sha256 || here.teacher !== d.teacher_sha256) {
      throw new UnrecoverableError(
        `refused: the ${here.plan !== d.plan_sha256 ? 'plan' : "teacher's manifest"} this worker reads hashes otherwise than the job's (another file at the same path)`,
      );
    }
    const ready = prepare(d);
    if (typeof ready === 'string')
      throw new UnrecoverableError(`the worker cannot read the plan or the teacher:\n${ready}`);
    const stage = ready.plan.stages[d.stage - 1];
    if (!stage) throw new UnrecoverableError(`the plan has no stage ${d.stage}`);
    const log = new DiagnosticLog();
    const written = await targetShard(
      ready.teacher,
      ready.plan,
      stage,
      d.shard,
      d.slices,
      d.file,
      { modes: d.modes, teacherOutputs: d.teacher_outputs, batch: d.batch },
      log,
    );
    if (!written) throw new UnrecoverableError(log.errors().map(formatDiagnostic).join('\n'));
    return written;
  };
  const worker = startQueueWorker<TargetJobData, TargetJobResult>(DISTILL_QUEUE, work, connection, o);
  return worker;
}

// pocketdiff worker redis://HOST:PORT[/DB] [--concurrency N] [--stalled-ms MS]
// Serves `pocketdiff evolve --queue` scoring jobs and `pocketdiff distill
// targets --queue` shards until SIGINT or SIGTERM.
import { startDistillWorker } from '../distill/worker.ts';
import { checkRedis } from '../evolve/queue.ts';
import { startWorker } from '../evolve/worker.ts';
import { parse, usageError } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff worker redis://HOST:PORT[/DB] [--concurrency N] [--stalled-ms MS]';

/** The worker's flags (deploy/ manifests are checked against them). */
export const WORKER_FLAGS = { concurrency: { type: 'string' }, 'stalled-ms': { type: 'string' } } as const;

export const workerCommand: Command = {
  name: 'worker',
  usage,
  summary:
    'serve `evolve --queue` scoring jobs and `distill targets --queue` shards from Redis (BullMQ) on this machine, until SIGINT/SIGTERM',
  async run(argv, ctx) {
    const args = parse(argv, WORKER_FLAGS, usage, ctx.log);
    if (!args) return Exit.Usage;
    const bad = usageError(ctx.log, usage, Exit.Usage);
    const [url, ...extra] = args.positionals;
    if (!url || extra.length) return bad('expected one redis://HOST:PORT[/DB]');
    const concurrency = Number(args.values.concurrency ?? 1);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
      return bad(`--concurrency must be an integer from 1 to 64, not '${args.values.concurrency}'`);
    const stalledMs = Number(args.values['stalled-ms'] ?? 30000);
    if (!Number.isInteger(stalledMs) || stalledMs < 500)
      return bad(`--stalled-ms must be an integer of at least 500, not '${args.values['stalled-ms']}'`);
    const at = await checkRedis(url, ctx.log);
    if (!at) return Exit.Error;
    const { worker, close } = startWorker(at, { concurrency, stalledMs, onInfo: (line) => ctx.stderr(line) });
    const distill = startDistillWorker(at, { concurrency, stalledMs, onInfo: (line) => ctx.stderr(line) });
    await Promise.all([worker.waitUntilReady(), distill.waitUntilReady()]);
    ctx.stderr(`worker: serving ${url} (concurrency ${concurrency})`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await Promise.all([close(), distill.close()]);
    return Exit.Ok;
  },
};

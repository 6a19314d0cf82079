// evolve's scoring on workers: a real redis-server (Debian's, started here on
// 127.0.0.1 at a free port, no persistence) and `pocketdiff worker`
// processes, on the narrow fixture. The output must equal the in-process
// run's byte for byte, through a worker SIGKILLed mid-run and through Redis
// going away; refused jobs say why.
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { whatIf } from '../src/steps/whatif.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { QUEUE_NAME, type ScoreJobData } from '../src/evolve/queue.ts';
import { evolve, type EvolveOptions, type EvolveResult } from '../src/evolve/run.ts';
import { TOOL_VERSION } from '../src/version.ts';
import { buildTestConfig } from './support/builder-fixtures.ts';
import { DEVICE, evolveOptions, narrowRecipe, outputs } from './support/evolve.ts';
import { children, freePort, startRedis, startWorker, stop } from './support/redis.ts';
import { tempDir } from './support/ort.ts';

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const work = tempDir('queue');

const recipe = (dir: string) =>
  narrowRecipe(dir, { textEncoder: buildTestConfig('text-encoder-narrow', work), steps: 4 });

let budget = 0;
const options = (dir: string, extra: Parameters<typeof evolveOptions>[2] = {}) => evolveOptions(budget, dir, extra);

async function run(file: string, o: EvolveOptions): Promise<EvolveResult> {
  const log = new DiagnosticLog();
  const r = await evolve(file, o, log);
  assert.ok(r, log.items.map(formatDiagnostic).join('\n'));
  return r!;
}

let reference: EvolveResult;
let port = 0;
let url = '';
let redis: ChildProcess;
let workers: ChildProcess[] = [];

test.before(async () => {
  if (!HAVE_REDIS) return;
  const file = recipe(path.join(work, 'local'));
  const log = new DiagnosticLog();
  budget = Number((0.85 * (await whatIf(file, { device: DEVICE }, log))!.report.total_ms).toFixed(3));
  reference = await run(file, options(path.join(work, 'local')));
  port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = await startRedis(port);
  workers = [await startWorker(url), await startWorker(url)];
});

test.after(async () => {
  for (const c of [...children]) await stop(c, 'SIGKILL');
});

test("two workers on Redis give the in-process run's output byte for byte, and both did work", async () => {
  if (!HAVE_REDIS) return console.log('    skipped: redis-server is not installed');
  const dir = path.join(work, 'two');
  const r = await run(recipe(dir), options(dir, { queue: url }));
  assert.equal(outputs(r), outputs(reference));
  assert.is(r.scores.computed, reference.scores.computed);
  const q = new Queue<ScoreJobData>(QUEUE_NAME, { connection: { host: '127.0.0.1', port } });
  const done = await q.getCompleted(0, -1);
  await q.close();
  assert.is(done.length, r.scores.computed);
  assert.is(new Set(done.map((j) => j.processedBy)).size, 2, 'both workers scored');
});

test('a worker SIGKILLed mid-run: its job goes to another, the output is identical, each result counted once', async () => {
  if (!HAVE_REDIS) return;
  const dir = path.join(work, 'kill');
  let killed = false;
  const victim = workers[0];
  const r = await run(recipe(dir), {
    ...options(dir, { queue: url }),
    onProgress: (line) => {
      const m = /jobs: (\d+)\/(\d+) finished/.exec(line);
      if (!killed && m && Number(m[1]) >= 20 && Number(m[2]) > 40) {
        killed = true;
        victim.kill('SIGKILL');
      }
    },
  });
  assert.ok(killed, 'the worker was killed while jobs were pending');
  assert.ok(victim.signalCode === 'SIGKILL' || (await new Promise((res) => victim.once('exit', () => res(true)))));
  assert.equal(outputs(r), outputs(reference));
  // Every score computed once: the cache holds one line per result, and as many as the in-process run computed.
  const lines = fs
    .readFileSync(path.join(dir, 'cache', fs.readdirSync(path.join(dir, 'cache'))[0]), 'utf8')
    .split('\n')
    .filter(Boolean);
  assert.is(lines.length, reference.scores.computed);
  assert.is(new Set(lines.map((l) => JSON.parse(l).k)).size, lines.length);
  assert.is(r.scores.computed, reference.scores.computed);
  // Mid-job: the job the killed worker held was recovered as stalled and finished by the other.
  const q = new Queue<ScoreJobData>(QUEUE_NAME, { connection: { host: '127.0.0.1', port } });
  const jobs = await Promise.all(lines.map((l) => q.getJob(`score-${JSON.parse(l).k}`)));
  await q.close();
  assert.ok(
    jobs.some((j) => j && j.stalledCounter >= 1),
    'a job of the killed worker was taken over',
  );
  workers[0] = await startWorker(url);
});

test('Redis stopped mid-run: a coded error; Redis back, the rerun resumes from the cache and ends identical', async () => {
  if (!HAVE_REDIS) return;
  const dir = path.join(work, 'redis-gone');
  const file = recipe(dir);
  const log = new DiagnosticLog();
  let stopped = false;
  const r = await evolve(
    file,
    {
      ...options(dir, { queue: url }),
      onProgress: (line) => {
        const m = /jobs: (\d+)\/\d+ finished/.exec(line);
        if (!stopped && m && Number(m[1]) >= 10) {
          stopped = true;
          redis.kill('SIGKILL');
        }
      },
    },
    log,
  );
  assert.ok(stopped);
  assert.is(r, undefined);
  assert.equal(
    log.errors().map((d) => d.code),
    ['PD10011'],
  );
  assert.not.ok(fs.existsSync(path.join(dir, 'out')), 'nothing written');
  redis = await startRedis(port);
  const again = await run(file, options(dir, { queue: url }));
  assert.ok(again.scores.reused >= 10, `${again.scores.reused} reused`);
  assert.equal(outputs(again), outputs(reference));
});

test('a job from another version, or whose models hash differently, is refused with a clear message; evolve names the job (PD10009)', async () => {
  if (!HAVE_REDIS) return;
  const q = new Queue<ScoreJobData, { value: number }>(QUEUE_NAME, { connection: { host: '127.0.0.1', port } });
  const file = recipe(path.join(work, 'refuse'));
  const setup = { recipe: file, device: DEVICE, resolution: 32, metric: 'latent', samples: 2, seed: 0 };
  const base: ScoreJobData = {
    version: TOOL_VERSION,
    context: 'f'.repeat(64),
    setup,
    gates: [],
    sample: 0,
    prompt: 'x',
    seed: 0,
  };
  const reason = async (data: ScoreJobData, id: string) => {
    await q.add('score', data, { jobId: id, attempts: 3 });
    for (let i = 0; i < 600; i++) {
      const j = await q.getJob(id);
      if (await j!.isFailed()) return { reason: j!.failedReason, attempts: j!.attemptsMade };
      await new Promise((x) => setTimeout(x, 100));
    }
    throw new Error(`job ${id} never failed`);
  };
  try {
    const version = await reason({ ...base, version: '0.0.0-other' }, 'refuse-version');
    const said = `the worker said: ${version.reason}`;
    assert.ok(
      version.reason.startsWith(
        `refused by a worker of pocketdiff ${TOOL_VERSION}: the job comes from pocketdiff 0.0.0-other`,
      ),
      said,
    );
    assert.is(version.attempts, 1, `a refusal is not retried (${said})`);
    const hash = await reason(base, 'refuse-hash');
    assert.ok(
      /refused: the models, recipe or sampling read by this worker hash to [0-9a-f]{16}…, the job's to ffffffffffffffff…/.test(
        hash.reason,
      ),
      `the worker said: ${hash.reason}`,
    );
  } finally {
    await q.close();
  }

  // Through evolve: the prompts file changes after evolve read it, so the workers' samples differ.
  const dir = path.join(work, 'prompts');
  const prompts = path.join(dir, 'prompts.txt');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(prompts, 'a red bicycle\n');
  const log = new DiagnosticLog();
  const r = await evolve(
    recipe(dir),
    {
      ...options(dir, { queue: url, prompts }),
      onProgress: (line) => line.startsWith('hashing') && fs.writeFileSync(prompts, 'a blue boat\n'),
    },
    log,
  );
  assert.is(r, undefined);
  assert.equal(
    log.errors().map((d) => d.code),
    ['PD10009'],
  );
  assert.match(
    log.errors()[0].message,
    /scoring job score-[0-9a-f]{64} \(prompt 'a red bicycle', seed 0\): refused: sample 0 here is 'a blue boat'/,
  );
});

test.run();

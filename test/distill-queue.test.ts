// `distill targets --queue` on a real redis-server (127.0.0.1, a free port)
// with two `pocketdiff worker` processes, one SIGKILLed while it holds a
// shard: the shards and index.json are byte for byte the local run's.
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli } from './support/cli.ts';
import { distillSetup, type DistillSetup } from './support/distill.ts';
import { children, freePort, startRedis, startWorker, stop } from './support/redis.ts';
import { tempDir } from './support/temp.ts';

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const work = tempDir('distill-queue');
let setup: DistillSetup;
let url = '';
let workers: ChildProcess[] = [];

test.before(async () => {
  if (!HAVE_REDIS) {
    if (process.env.CI) throw new Error('redis-server is missing: .ci/run installs it');
    console.error('distill-queue.test: redis-server not installed, skipping (CI installs it)');
    return;
  }
  setup = await distillSetup(work, [6, 6, 6, 6]);
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  await startRedis(port);
  workers = [await startWorker(url), await startWorker(url)];
});

test.after(async () => {
  for (const c of [...children]) await stop(c, 'SIGKILL');
});

const files = (dir: string) =>
  Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]),
  );

/** `distill targets` of the setup's data into `out`, with more flags. */
const targets = (out: string, ...flags: string[]) =>
  cli(['distill', 'targets', setup.plan, '--teacher', setup.teacher, '--data', setup.data, '--out', out, ...flags]);

test("two workers, one SIGKILLed holding a shard, give the local run's shards and index.json byte for byte", async () => {
  if (!HAVE_REDIS) return;
  const local = await targets(path.join(work, 'local'));
  assert.is(local.code, 0, local.stderr);
  // The victim dies as soon as it says it took a job: mid-shard, before writing.
  const victim = workers[0]!;
  let took = '';
  victim.stderr!.on('data', (d: Buffer) => {
    took += d;
    if (/job targets-[0-9a-f-]+: shard \d/.test(took) && victim.exitCode === null) victim.kill('SIGKILL');
  });
  const queued = await targets(path.join(work, 'queued'), '--queue', url);
  assert.is(queued.code, 0, queued.stderr);
  assert.is(victim.signalCode, 'SIGKILL', `the victim was killed holding a job (it said: ${took})`);
  const [a, b] = [files(path.join(work, 'local')), files(path.join(work, 'queued'))];
  assert.equal(Object.keys(b), [
    'index.json',
    'targets-000000.tar',
    'targets-000001.tar',
    'targets-000002.tar',
    'targets-000003.tar',
  ]);
  assert.ok(JSON.stringify(a) === JSON.stringify(b), "every file is the local run's, byte for byte");
  workers[0] = await startWorker(url);
});

test('a rerun with --queue keeps the shards already there; an unreachable Redis is a coded error', async () => {
  if (!HAVE_REDIS) return;
  const out = path.join(work, 'queued');
  const before = files(out);
  const again = await targets(out, '--queue', url);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /\(already there\)/);
  const after = files(out);
  assert.equal(Object.keys(after), Object.keys(before));
  for (const f of Object.keys(after)) assert.ok(after[f] === before[f], `${f} changed on the rerun`);
  // The shards deleted: the jobs that made them finished in an earlier run, and are made again.
  fs.rmSync(out, { recursive: true });
  const remade = await targets(out, '--queue', url);
  assert.is(remade.code, 0, remade.stderr);
  const third = files(out);
  assert.equal(Object.keys(third), Object.keys(before));
  for (const f of Object.keys(third)) assert.ok(third[f] === before[f], `${f} differs when made again`);
  const down = await targets(path.join(work, 'down'), '--queue', `redis://127.0.0.1:${await freePort()}`);
  assert.equal(down.log.codes(), ['PD10010']);
});

test.run();

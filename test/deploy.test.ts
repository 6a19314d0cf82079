// deploy/: the docker-compose file and the Kubernetes manifest parse, and
// each runs `pocketdiff worker` with a Redis URL and flags the worker takes.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { WORKER_FLAGS } from '../src/commands/worker.ts';
import { parseRedisUrl } from '../src/evolve/queue.ts';

function documents(file: string): Record<string, any>[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  for (const d of docs) assert.equal(d.errors, [], `${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  return docs.map((d) => d.toJS());
}

/** The argv after `bin/pocketdiff.js worker`, checked as the worker command parses it. */
function workerArgs(command: string[], url: (arg: string) => void): void {
  const i = command.indexOf('worker');
  assert.equal(command.slice(0, i), ['node', 'bin/pocketdiff.js']);
  const args = parseArgs({ args: command.slice(i + 1), options: WORKER_FLAGS, allowPositionals: true, strict: true });
  assert.is(args.positionals.length, 1);
  url(args.positionals[0]);
}

test('docker-compose.yml: Redis without persistence, workers pointed at it, the project mounted at its own path', () => {
  const [c] = documents('deploy/docker-compose.yml');
  assert.equal(Object.keys(c.services).sort(), ['redis', 'worker']);
  assert.match(c.services.redis.image, /^redis:/);
  assert.ok(
    c.services.redis.ports.every((p: string) => p.startsWith('127.0.0.1:')),
    'Redis published on loopback only',
  );
  const w = c.services.worker;
  workerArgs(w.command, (u) => assert.equal(parseRedisUrl(u), { host: 'redis', port: 6379, db: 0 }));
  assert.equal(w.depends_on, ['redis']);
  const [from, to] = w.volumes[0].split(':');
  assert.is(from, to.replace(/:.*$/, ''));
  assert.match(w.working_dir, /POCKETDIFF_DIR/);
});

test('kubernetes.yaml: a worker Deployment whose Redis URL comes from a Secret', () => {
  const docs = documents('deploy/kubernetes.yaml');
  const d = docs.find((x) => x.kind === 'Deployment')!;
  assert.ok(d);
  assert.is(d.apiVersion, 'apps/v1');
  assert.equal(d.spec.selector.matchLabels, d.spec.template.metadata.labels);
  const c = d.spec.template.spec.containers[0];
  workerArgs(c.command, (u) => assert.is(u, '$(REDIS_URL)'));
  const env = c.env.find((e: any) => e.name === 'REDIS_URL');
  assert.ok(env.valueFrom.secretKeyRef.name && env.valueFrom.secretKeyRef.key);
  const mount = c.volumeMounts[0];
  assert.is(c.workingDir, mount.mountPath);
  assert.ok(d.spec.template.spec.volumes.some((v: any) => v.name === mount.name));
});

test.run();

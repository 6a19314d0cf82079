// Real redis-server and `pocketdiff worker` processes for tests and benches:
// Redis on 127.0.0.1 at a free port without persistence, workers spawned
// from bin/pocketdiff.js; every process started here is killed at exit.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'pocketdiff.js');

export const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRedis(port: number): Promise<ChildProcess> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  children.add(p);
  const r = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  r.on('error', () => {});
  for (let i = 0; i < 50; i++) {
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return p;
    } catch {
      await new Promise((x) => setTimeout(x, 100));
    }
  }
  throw new Error('redis-server did not start');
}

export async function startWorker(url: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, [BIN, 'worker', url, '--stalled-ms', '1000'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(p);
  let err = '';
  await new Promise<void>((resolve, reject) => {
    p.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('worker: serving')) resolve();
    });
    p.on('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
  });
  return p;
}

export async function stop(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  await done;
  children.delete(p);
}

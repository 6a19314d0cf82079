// src/scratch.ts: temp folders and partial files do not outlive their process.
// Real child processes exit, throw and get killed; the test looks at the disk.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sweepStale } from '../src/scratch.ts';
import { tempDir } from './support/temp.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const test = suite('scratch');
const SCRATCH = path.join(ROOT, 'src', 'scratch.ts');

/** A child that makes a scratch folder (and a tracked file) under `tmp`, prints both, then does `then`. */
function script(tmp: string, then: string): string {
  return `
    import fs from 'node:fs';
    import { scratchDir, track } from ${JSON.stringify(SCRATCH)};
    const dir = scratchDir('child', ${JSON.stringify(tmp)});
    fs.writeFileSync(dir + '/model.onnx', 'x');
    const partial = ${JSON.stringify(tmp)} + '/out.partial';
    fs.writeFileSync(track(partial), 'half');
    console.log(JSON.stringify({ dir, partial }));
    ${then}`;
}
const args = (src: string) => ['--import', 'tsx', '--input-type=module', '-e', src];

test('an exit, clean or by an uncaught error, removes what is still tracked', () => {
  for (const then of ['process.exit(3);', "throw new Error('boom');"]) {
    const tmp = tempDir('scratch-exit');
    const r = spawnSync(process.execPath, args(script(tmp, then)), { cwd: ROOT, encoding: 'utf8' });
    assert.ok(r.status !== 0, then);
    const { dir, partial } = JSON.parse(r.stdout.trim().split('\n')[0]);
    assert.match(path.basename(dir), new RegExp(`^pocketdiff-child-p${r.pid}-`));
    assert.not.ok(fs.existsSync(dir), `${then}: ${dir} left behind`);
    assert.not.ok(fs.existsSync(partial), `${then}: ${partial} left behind`);
  }
});

test('a released path stays', () => {
  const tmp = tempDir('scratch-release');
  const r = spawnSync(
    process.execPath,
    args(script(tmp, 'const { release } = await import(' + JSON.stringify(SCRATCH) + '); release(partial);')),
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  const { dir, partial } = JSON.parse(r.stdout.trim());
  assert.not.ok(fs.existsSync(dir));
  assert.is(fs.readFileSync(partial, 'utf8'), 'half');
});

test("a killed process's folder is swept by the next one, and nobody else's is", async () => {
  const tmp = tempDir('scratch-kill');
  const child = spawn(process.execPath, args(script(tmp, 'setInterval(() => {}, 1000);')), { cwd: ROOT });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b) => {
      out += b;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', () => reject(new Error('child exited early')));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const { dir } = JSON.parse(line);
  assert.ok(fs.existsSync(dir), 'SIGKILL leaves the folder (nothing runs)');
  // Neighbours that must survive: this live process's folder, a name that is not ours.
  const mine = path.join(tmp, `pocketdiff-measure-p${process.pid}-abcdef`);
  const other = path.join(tmp, 'pocketdiff-notes-keep');
  for (const d of [mine, other]) fs.mkdirSync(d);
  // A dead owner's folder younger than a minute is left (its owner may be in another pid namespace).
  assert.equal(sweepStale(tmp), []);
  assert.ok(fs.existsSync(dir));
  assert.equal(sweepStale(tmp, Date.now() + 120_000), [dir]);
  assert.not.ok(fs.existsSync(dir));
  assert.ok(fs.existsSync(mine) && fs.existsSync(other));
});

test.run();

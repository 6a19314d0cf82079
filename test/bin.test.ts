// bin/pocketdiff.js runs a bundled copy of src/ from node_modules/.cache. These tests run it in
// a scratch project (bin/, lib/, src/, package.json, models/devices copied; each npm package linked)
// so they can edit the sources and watch the copy follow.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tempDir } from './support/ort.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const test = suite('bin/pocketdiff.js');
const scratch = tempDir('pocketdiff-bin-');
test.after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function project(): string {
  const p = path.join(scratch, 'project');
  fs.cpSync(path.join(ROOT, 'bin'), path.join(p, 'bin'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'lib'), path.join(p, 'lib'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'src'), path.join(p, 'src'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'package.json'), path.join(p, 'package.json'));
  fs.cpSync(path.join(ROOT, 'models', 'devices'), path.join(p, 'models', 'devices'), { recursive: true });
  fs.mkdirSync(path.join(p, 'node_modules'));
  // node_modules is a real folder (the cache goes inside it) whose packages link to the project's.
  for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === '.cache' || name === '.bin') continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(p, 'node_modules', name), 'dir');
  }
  return p;
}

function cli(p: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(p, 'bin', 'pocketdiff.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const copies = (p: string) => {
  const dir = path.join(p, 'node_modules', '.cache', 'pocketdiff', 'js');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
};

test('the bundled copy prints what the sources under tsx print, follows edits, and finds the project root', () => {
  const p = project();
  assert.equal(copies(p), []);

  const viaTsx = cli(p, ['convert', '--help'], { POCKETDIFF_TSX: '1' });
  assert.equal(copies(p), [], 'POCKETDIFF_TSX=1 writes no copy');
  const first = cli(p, ['convert', '--help']);
  assert.equal(first, viaTsx);
  assert.match(first.stdout, /pocketdiff convert IN\.onnx OUT\.onnx/);
  assert.equal(copies(p).length, 1);
  assert.ok(fs.existsSync(path.join(p, 'node_modules', '.cache', 'pocketdiff', 'js', copies(p)[0], 'cli.js')));
  assert.equal(cli(p, ['convert', '--help']), first, 'a second start reuses the copy');
  assert.equal(copies(p).length, 1);

  // A source edit gives a new copy that carries it.
  const convert = path.join(p, 'src', 'commands', 'convert.ts');
  fs.writeFileSync(
    convert,
    fs
      .readFileSync(convert, 'utf8')
      .replace("const usage = 'pocketdiff convert", "const usage = 'EDITED pocketdiff convert"),
  );
  const edited = cli(p, ['convert', '--help']);
  assert.match(edited.stdout, /EDITED pocketdiff convert/);
  assert.equal(copies(p).length, 2);

  // Paths the product resolves from the project root (models/devices) work from the copy.
  const devices = cli(p, ['devices', '--json']);
  assert.equal(devices.status, 0, devices.stderr);
  assert.equal(devices, cli(p, ['devices', '--json'], { POCKETDIFF_TSX: '1' }));
  assert.ok(JSON.parse(devices.stdout).devices.some((d: { name: string }) => d.name === 'iphone-14-pro'));
});

test('an internal error from the bundled copy names the TypeScript source line', () => {
  const p = path.join(scratch, 'project');
  const convert = path.join(p, 'src', 'commands', 'convert.ts');
  const text = fs.readFileSync(convert, 'utf8');
  const edited = text.replace(/(\n  run\(argv[^\n]*\{\n)/, "$1    throw new Error('boom');\n");
  assert.ok(edited !== text, 'convert.ts has the expected run() signature');
  fs.writeFileSync(convert, edited);
  const line = edited.split('\n').findIndex((l) => l.includes("throw new Error('boom')")) + 1;
  const r = cli(p, ['convert', 'a.onnx', 'b.onnx']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /internal error: Error: boom/);
  assert.match(r.stderr, new RegExp(`src/commands/convert\\.ts:${line}:`));
  fs.writeFileSync(convert, text);
});

test('a source that does not compile still gets its error, through the tsx fallback', () => {
  const p = path.join(scratch, 'project');
  fs.writeFileSync(path.join(p, 'src', 'commands', 'broken.ts'), 'export const x = ;\n');
  const cli2 = path.join(p, 'src', 'cli.ts');
  fs.writeFileSync(cli2, `import './commands/broken.ts';\n` + fs.readFileSync(cli2, 'utf8'));
  const r = cli(p, ['convert', '--help']);
  assert.not.equal(r.status, 0);
  assert.match(r.stderr, /broken\.ts/);
  assert.equal(
    copies(p).filter((c) => c.includes('.tmp-')),
    [],
    'a failed build leaves no partial copy',
  );
});

test.run();

// The command line's own surface: --version, `help <command>`, and flag
// mistakes said in pocketdiff's words with a did-you-mean (not parseArgs').
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { TOOL_VERSION } from '../src/version.ts';

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = new DiagnosticLog();
  const status = await main(argv, { log, stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { status, stdout: out.join('\n'), stderr: err.join('\n'), log };
}

test('--version and `version` print the package version', async () => {
  for (const argv of [['--version'], ['-v'], ['version']]) {
    const r = await cli(argv);
    assert.is(r.status, 0);
    assert.is(r.stdout, `pocketdiff ${TOOL_VERSION}`);
  }
});

test('`help <command>` is `<command> --help`; `help` alone lists every command and says how to get one', async () => {
  const a = await cli(['help', 'evolve']);
  const b = await cli(['evolve', '--help']);
  assert.is(a.status, 0);
  assert.is(a.stdout, b.stdout);
  assert.match(a.stdout, /^usage: pocketdiff evolve RECIPE\.yaml --device D/);
  const all = await cli(['help']);
  assert.is(all.status, 0);
  for (const name of ['compile', 'evolve', 'worker', 'whatif'])
    assert.match(all.stdout, new RegExp(`^  ${name} `, 'm'));
  assert.match(all.stdout, /pocketdiff help <command>/);
});

test("an unknown flag gets a did-you-mean among the command's flags; a flag without its value says so", async () => {
  let r = await cli(['whatif', 'recipes/example.yaml', '--devise', 'galaxy-s23']);
  assert.is(r.status, 2);
  assert.equal(r.log.codes(), ['PD3001']);
  const msg = formatDiagnostic(r.log.items[0]);
  assert.match(msg, /unknown option '--devise'; did you mean '--device'\?/);
  assert.not.match(msg, /positional argument/);
  r = await cli(['whatif', 'recipes/example.yaml', '--device']);
  assert.match(r.log.items[0].message, /^--device needs a value/);
  r = await cli(['whatif', 'recipes/example.yaml', '--device', 'galaxy-s23', '--json=yes']);
  assert.match(r.log.items[0].message, /^--json is a switch and takes no value/);
});

test('every command that reports takes --json; under --json the errors are JSON too (code, severity, message, location)', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { tempDir } = await import('./support/temp.ts');
  const dir = tempDir('cli-json');
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'schedule:\n  steps: 0\n');
  const r = await cli(['check', bad, '--json']);
  assert.is(r.status, 2);
  assert.is(r.stdout, '');
  const j = JSON.parse(r.stderr);
  assert.equal(Object.keys(j), ['diagnostics']);
  assert.is(j.diagnostics[0].code, 'PD7005');
  assert.is(j.diagnostics[0].severity, 'error');
  assert.equal(j.diagnostics[0].location, { file: bad, line: 2, col: 10 });
  assert.ok(typeof j.diagnostics[0].message === 'string' && j.diagnostics[0].message.length > 10);
  // A usage mistake too.
  assert.is(JSON.parse((await cli(['compile', bad, '--json', '--bogus'])).stderr).diagnostics[0].code, 'PD3001');
  // Without --json the same error is the one-line form.
  assert.match((await cli(['check', bad])).stderr, /bad\.yaml:2:10: error PD7005: /);

  // convert and models report what they wrote.
  const out = path.join(dir, 'converted.onnx');
  const conv = await cli(['convert', 'test/fixtures/vae-decoder-tiny/model.onnx', out, '--json']);
  assert.is(conv.status, 0, conv.stderr);
  const c = JSON.parse(conv.stdout);
  assert.is(c.external_data, 'converted.onnx.data');
  assert.equal(
    c.files.map((f: { file: string }) => path.basename(f.file)),
    ['converted.onnx', 'converted.onnx.data'],
  );
  assert.is(c.files[1].bytes, fs.statSync(`${out}.data`).size);
  const built = await cli([
    'models',
    'build',
    'models/test/text-encoder-tiny.json',
    '--out',
    path.join(dir, 'te'),
    '--json',
  ]);
  assert.is(built.status, 0, built.stderr);
  assert.equal(Object.keys(JSON.parse(built.stdout)), ['file', 'class', 'weights', 'seconds']);
  // Milliseconds in JSON are rounded to the microsecond.
  const check = JSON.parse((await cli(['check', 'recipes/snapfusion-iphone14pro.yaml', '--json'])).stdout);
  const ms = check.targets[0].predicted_ms;
  assert.is(Math.round(ms * 1000) / 1000, ms);
});

test('inspect marks the sizes it assumed for dynamic dims, and shows a non-SD model by its top-level modules', async () => {
  const r = await cli(['inspect', 'test/fixtures/unet-tiny/model.onnx']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^  sample  float32 \[1\*, 4, 64\*, 64\*\]$/m);
  assert.match(
    r.stdout,
    /^\* assumed for dynamic dims: .*height=64.*width=64 \(--input NAME=d0,d1,… sets them; MACs are for these sizes\)$/m,
  );
  // Sized by the user: no longer assumed.
  const sized = JSON.parse(
    (await cli(['inspect', 'test/fixtures/unet-tiny/model.onnx', '--input', 'sample=2,4,32,32', '--json'])).stdout,
  );
  assert.equal(sized.inputs[0].shape, [2, 4, 32, 32]);
  assert.is(sized.inputs[0].assumed, undefined);
  assert.not.ok('height' in sized.assumed_dims || 'width' in sized.assumed_dims);
  const resnet = await cli(['inspect', 'models/calibration/tv-resnet18-224/model.onnx', '--json']);
  const j = JSON.parse(resnet.stdout);
  assert.equal(j.blocks, []);
  assert.equal(
    j.modules.map((m: { name: string }) => m.name).filter((n: string) => /^layer\d$/.test(n)),
    ['layer1', 'layer2', 'layer3', 'layer4'],
  );
  assert.is(
    j.modules.reduce((s: number, m: { params: number }) => s + m.params, 0),
    j.params,
    'every weight counted once',
  );
  assert.ok(
    Math.abs(j.modules.reduce((s: number, m: { macs: number }) => s + m.macs, 0) - j.macs.total) < 1,
    'every MAC counted once',
  );
  assert.match(
    (await cli(['inspect', 'models/calibration/tv-resnet18-224/model.onnx'])).stdout,
    /^layer4 +11 nodes +8,388,608 /m,
  );
});

test("each command's --help explains its arguments: what --out writes, --graph-only, selectors, the schemes and devices there are", async () => {
  const help = async (name: string) => (await cli([name, '--help'])).stdout;
  const compile = await help('compile');
  assert.match(
    compile,
    /--out DIR +where artifacts go \(default out\/\): one folder per target, DIR\/<recipe>\/<device>\//,
  );
  assert.match(compile, /--graph-only +write graphs without weights/);
  assert.match(compile, /--force +rebuild artifacts that are up to date/);
  const whatif = (await help('whatif')).replace(/\n\s+/g, ' ');
  const { SCHEMES } = await import('../src/precision.ts');
  const { deviceNames } = await import('../src/devices/index.ts');
  for (const scheme of SCHEMES) assert.match(whatif, new RegExp(`\\b${scheme} \\(`), scheme);
  for (const d of deviceNames()) assert.ok(whatif.includes(d), d);
  assert.match(whatif, /`\*` globs one path segment/);
  for (const name of [
    'compile',
    'check',
    'whatif',
    'predict',
    'diff',
    'run',
    'inspect',
    'convert',
    'calibrate',
    'models',
    'evolve',
    'worker',
    'devices',
  ]) {
    const text = await help(name);
    assert.ok(text.split('\n\n').length >= 3, `${name} --help has details beyond its usage and summary`);
    assert.ok(
      text
        .split('\n')
        .slice(1)
        .every((l) => l.length <= 120),
      `${name} --help lines (after the usage) are wrapped`,
    );
  }
});

test.run();

// pocketdiff convert as a user meets it: exit statuses, the diagnostic line format,
// and the real bin/pocketdiff.js process.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Exit } from '../src/commands/command.ts';
import { cli, makeTmp, ROOT, UNET_TINY, writeAddModel } from './support/onnx-io.ts';

const cliSuite = suite('CLI: pocketdiff convert exit codes and diagnostic format');
const cliTmp = makeTmp('cli');
cliSuite.before(cliTmp.before);
cliSuite.after(cliTmp.after);

// The statuses are src/commands/command.ts's Exit table (0 ok; a reported error and a usage
// mistake are both user mistakes; 1 is kept for pocketdiff's own bugs).
cliSuite('exit statuses: Exit.Ok on success, Exit.Error on reported errors, Exit.Usage on usage mistakes', async () => {
  const out = path.join(cliTmp.state.dir, 'ok', 'model.onnx');
  const ok = await cli('convert', UNET_TINY, out, '--external-data', 'w.bin');
  assert.is(ok.status, Exit.Ok);
  assert.is(Exit.Ok, 0);
  assert.is(ok.err, '');
  for (const args of [
    [],
    ['convert'],
    ['convert', UNET_TINY],
    ['convert', UNET_TINY, out, 'extra'],
    ['convert', UNET_TINY, out, '--bogus'],
    ['convert', UNET_TINY, out, '--inline', '--external-data', 'w.bin'],
    ['convert', UNET_TINY, out, '--external-data'],
    ['no-such-command'],
  ]) {
    const r = await cli(...args);
    assert.is(r.status, Exit.Usage, `pocketdiff ${args.join(' ')} → usage (${Exit.Usage}), got ${r.status}:\n${r.err}`);
  }
  const missing = await cli('convert', path.join(cliTmp.state.dir, 'absent.onnx'), out);
  assert.is(missing.status, Exit.Error);
  assert.match(missing.err, /: error PD1001: model file not found/);
});

cliSuite('a diagnostic prints as `file (node …): error PDxxxx: message`', async () => {
  const model = writeAddModel(path.join(cliTmp.state.dir, 'abs'), { location: '/etc/passwd' }, null);
  const r = await cli('convert', model, path.join(cliTmp.state.dir, 'abs-out', 'model.onnx'));
  assert.is(r.status, Exit.Error);
  assert.is(
    r.err,
    `${model} (node 'W'): error PD1003: external data location '/etc/passwd' is absolute; only paths inside the model's folder are read\n`,
  );
});

cliSuite('bin/pocketdiff.js: the process exit status and stderr', () => {
  const model = writeAddModel(path.join(cliTmp.state.dir, 'bin'), { location: '../w.bin' }, null);
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, 'bin', 'pocketdiff.js'), 'convert', model, path.join(cliTmp.state.dir, 'bin-out.onnx')],
    { encoding: 'utf8' },
  );
  assert.is(r.status, Exit.Error, r.stderr);
  assert.match(r.stderr, /^.*model\.onnx \(node 'W'\): error PD1004: /m);
  const usage = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'pocketdiff.js'), 'convert'], { encoding: 'utf8' });
  assert.is(usage.status, Exit.Usage);
  assert.match(usage.stderr, /error PD3001: expected IN\.onnx and OUT\.onnx/);
});
cliSuite.run();

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
  for (const name of ['compile', 'evolve', 'worker', 'whatif']) assert.match(all.stdout, new RegExp(`^  ${name} `, 'm'));
  assert.match(all.stdout, /pocketdiff help <command>/);
});

test('an unknown flag gets a did-you-mean among the command\'s flags; a flag without its value says so', async () => {
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

test.run();

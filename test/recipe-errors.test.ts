// Broken recipes: each file in test/recipes/broken/ is one user mistake and
// says, in its first line, the one diagnostic `pocketdiff check` must give:
//
//   # expect: PD7002 5:1 did you mean 'schedule'
//   # expect: PD7005 ../fixtures/parent-bad-range.yaml:4:10 at least 1
//
// a code, where (line:col in the recipe, or in another file relative to it:
// a parent the recipe extends), and optionally a piece of the message. The
// check runs in-process through the CLI and must exit with status 2 and
// exactly one error: one root cause, one diagnostic. How long the checks
// take is a bench line (npm run bench -- recipe-check), not a test.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';

const DIR = path.resolve('test/recipes/broken');

interface Expectation {
  code: string;
  file: string;
  line: number;
  col: number;
  text: string;
}

function expectation(file: string): Expectation {
  const head = fs.readFileSync(file, 'utf8').split('\n')[0];
  const m = /^# expect: (PD\d{4}) (?:(.+\.ya?ml):)?(\d+):(\d+)(?: (.*))?$/.exec(head);
  if (!m)
    throw new Error(
      `${path.basename(file)}: line 1 must be '# expect: PDnnnn [FILE:]LINE:COL [message part]', not '${head}'`,
    );
  return {
    code: m[1],
    file: m[2] ? path.resolve(path.dirname(file), m[2]) : file,
    line: Number(m[3]),
    col: Number(m[4]),
    text: m[5]?.trim() ?? '',
  };
}

const files = fs
  .readdirSync(DIR)
  .filter((f) => /^\d{2,3}-[a-z0-9-]+\.yaml$/.test(f))
  .sort()
  .map((f) => path.join(DIR, f));

test('there are at least 60 broken recipes, each with an expectation', () => {
  assert.ok(files.length >= 60, `only ${files.length} broken recipes`);
  for (const f of files) expectation(f);
  assert.equal(
    fs.readdirSync(DIR).filter((f) => !files.includes(path.join(DIR, f))),
    [],
    'files in broken/ must be named NN-short-name.yaml',
  );
});

for (const file of files) {
  const name = path.basename(file);
  test(name, async () => {
    const want = expectation(file);
    const log = new DiagnosticLog();
    const out: string[] = [];
    const sink = (t: string) => void out.push(t);
    const status = await main(['check', file], { log, stdout: sink, stderr: sink });
    const shown = log.items.map(formatDiagnostic).join('\n') || out.join('\n');
    assert.not.ok(
      out.some((t) => t.startsWith('internal error')),
      `crashed:\n${out.join('\n')}`,
    );
    assert.is(status, 2, `exit status\n${shown}`);
    const errors = log.errors();
    assert.is(errors.length, 1, `expected exactly one error (one root cause), got ${errors.length}:\n${shown}`);
    const [d] = errors;
    assert.is(d.code, want.code, `code\n${shown}`);
    const at = d.location ?? {};
    assert.is(at.file && path.resolve(at.file), want.file, `file\n${shown}`);
    assert.is(`${at.line}:${at.col}`, `${want.line}:${want.col}`, `line:col\n${shown}`);
    if (want.text)
      assert.ok(formatDiagnostic(d).includes(want.text), `message or notes should contain "${want.text}":\n${shown}`);
  });
}

test.run();

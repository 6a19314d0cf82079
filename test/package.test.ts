// pocketdiff as a package: a scratch project installs the checkout by path
// (npm install, offline), imports it by name, and calls compile, whatif and
// diff; its TypeScript sees the published typings (types/pocketdiff.d.ts,
// current with src/api.ts). And `npx pocketdiff --help` prints no warning.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderTypes, TYPES_FILE } from '../scripts/types.ts';
import { TOOL_VERSION } from '../src/version.ts';
import { ROOT, tinyRecipe } from './support/ci.ts';
import { tempDir } from './support/ort.ts';

const work = tempDir('package');
const consumer = path.join(work, 'consumer');

test('types/pocketdiff.d.ts is what `npm run types` writes from src/api.ts', () => {
  assert.ok(
    renderTypes() === fs.readFileSync(TYPES_FILE, 'utf8'),
    'types/pocketdiff.d.ts is stale: run `npm run types`',
  );
});

test('a project that installs the checkout imports it by name and compiles, prices and diffs', () => {
  fs.mkdirSync(consumer, { recursive: true });
  fs.writeFileSync(
    path.join(consumer, 'package.json'),
    JSON.stringify(
      { name: 'consumer', private: true, type: 'module', dependencies: { pocketdiff: `file:${ROOT}` } },
      null,
      2,
    ),
  );
  const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund'], {
    cwd: consumer,
    encoding: 'utf8',
  });
  assert.is(install.status, 0, install.stdout + install.stderr);
  assert.is(fs.realpathSync(path.join(consumer, 'node_modules', 'pocketdiff')), fs.realpathSync(ROOT));

  const recipe = tinyRecipe(path.join(work, 'recipes'), 'tiny');
  fs.writeFileSync(
    path.join(consumer, 'use.mjs'),
    `import { compile, whatif, diff, diffMarkdown, version } from 'pocketdiff';
const [recipe, out] = process.argv.slice(2);
const built = await compile(recipe, { out });
const again = await compile(recipe, { out });
const priced = await whatif(recipe, { device: 'galaxy-s23', remove: ['up_blocks.0.attentions.0'] });
const dir = built.result.artifacts[0].dir;
const same = await diff(dir, dir);
const bad = await whatif(recipe, { device: 'galaxy-s99' });
console.log(JSON.stringify({ version, built, again: again.result.artifacts[0].status, priced, same: same.result.changed, markdown: diffMarkdown(same.result), bad }));
`,
  );
  const r = spawnSync(process.execPath, ['use.mjs', recipe, path.join(work, 'out')], {
    cwd: consumer,
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, '', 'a library call prints nothing');
  const got = JSON.parse(r.stdout);
  assert.is(got.version, TOOL_VERSION);
  assert.is(got.built.ok, true);
  assert.equal(got.built.diagnostics, []);
  const a = got.built.result.artifacts[0];
  assert.is(a.status, 'built');
  assert.ok(fs.existsSync(path.join(a.dir, 'unet.onnx')) && a.predicted_ms > 0);
  assert.equal(got.built.result.budget_exceeded, []);
  assert.is(got.again, 'up to date');
  assert.ok(
    got.priced.ok && got.priced.result.total_ms > 0 && got.priced.result.delta_ms < 0,
    JSON.stringify(got.priced),
  );
  assert.is(got.same, false);
  assert.match(got.markdown, /No change/);
  // Errors are returned, coded, not thrown or printed.
  assert.is(got.bad.ok, false);
  assert.is(got.bad.result, undefined);
  assert.equal(
    got.bad.diagnostics.map((d: { code: string }) => d.code),
    ['PD7009'],
  );
});

test('its TypeScript gets the typings: results are typed, a wrong call does not compile', () => {
  fs.writeFileSync(
    path.join(consumer, 'use.ts'),
    `import { compile, whatif, diff, type ArtifactDiff, type Outcome, type WhatIfReport } from 'pocketdiff';
const built = await compile('r.yaml', { out: 'out', force: true });
const ms: number | undefined = built.result?.artifacts[0].predicted_ms;
const status: 'built' | 'up to date' | undefined = built.result?.artifacts[0].status;
const priced: Outcome<WhatIfReport> = await whatif('r.yaml', { device: 'galaxy-s23', steps: 4 });
const d: ArtifactDiff | undefined = (await diff('a', 'b', { failOverMs: 10 })).result;
const code: string | undefined = priced.diagnostics[0]?.code;
// @ts-expect-error: whatif needs a device
await whatif('r.yaml', {});
// @ts-expect-error: a manifest's total_ms is a number
const wrong: string = d!.latency!.new;
export { ms, status, code, wrong };
`,
  );
  fs.writeFileSync(
    path.join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        types: [],
      },
      files: ['use.ts'],
    }),
  );
  const tsc = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer],
    { encoding: 'utf8' },
  );
  assert.is(tsc.status, 0, tsc.stdout + tsc.stderr);
  // The same file with a real type error fails: the typings are not `any`.
  fs.writeFileSync(
    path.join(consumer, 'use.ts'),
    `import { compile } from 'pocketdiff';\nconst n: number = (await compile('r.yaml')).result!.artifacts[0].dir;\nexport { n };\n`,
  );
  const bad = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer],
    { encoding: 'utf8' },
  );
  assert.is(bad.status, 2);
  assert.match(bad.stdout, /use\.ts\(2,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
});

test('`npx pocketdiff --help` in the checkout prints its help and no warning', () => {
  const r = spawnSync('npx', ['pocketdiff', '--help'], { cwd: ROOT, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: pocketdiff <command> \[options\]$/m);
  assert.match(r.stdout, /^ {2}diff {2,}what changed between two artifacts/m);
  assert.is(r.stderr, '');
});

test.run();

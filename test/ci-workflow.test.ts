// examples/ci/github-actions.yml: it parses under GitHub's own workflow parser,
// and its compile, diff and verdict steps, run as plain bash scripts the way
// a runner runs them (bash -eo pipefail, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
// files, `npx pocketdiff` on PATH), do what the README says on a tiny recipe:
// a push build keeps its manifests, a pull request's summary gets the diff,
// a budget miss or a latency regression over FAIL_OVER_MS fails the job.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  convertWorkflowTemplate,
  NoOperationTraceWriter,
  parseWorkflow,
  type WorkflowTemplate,
} from '@actions/workflow-parser';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, tinyRecipe } from './support/ci.ts';
import { tempDir } from './support/ort.ts';

const WORKFLOW = path.join(ROOT, 'examples', 'ci', 'github-actions.yml');
const work = tempDir('ci-workflow');

async function template(content: string): Promise<{ errors: string[]; template: WorkflowTemplate }> {
  const parsed = parseWorkflow({ name: 'github-actions.yml', content }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  return { errors, template: await convertWorkflowTemplate(parsed.context, parsed.value!) };
}

/** The `run:` script of the step with this id (or name). */
function script(t: WorkflowTemplate, key: string): string {
  for (const job of t.jobs) {
    if (job.type !== 'job') continue;
    for (const s of job.steps) if ((s.id === key || s.name?.toString() === key) && 'run' in s) return s.run.toString();
  }
  throw new Error(`no run step '${key}'`);
}

// `npx pocketdiff …` as it runs in a checkout after `npm ci`.
const shims = path.join(work, 'bin');
fs.mkdirSync(shims, { recursive: true });
fs.writeFileSync(
  path.join(shims, 'npx'),
  `#!/usr/bin/env bash\n[ "$1" = pocketdiff ] || { echo "unexpected: npx $*" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${path.join(ROOT, 'bin', 'pocketdiff.js')}" "$@"\n`,
  { mode: 0o755 },
);

interface StepRun {
  status: number;
  log: string;
  outputs: Record<string, string>;
  summary: string;
}

/** Runs a step's script in a workspace as a runner would; its outputs and summary are what it appended. */
function runStep(code: string, cwd: string, env: Record<string, string>): StepRun {
  const file = path.join(cwd, '.step.sh');
  fs.writeFileSync(file, code);
  const output = path.join(cwd, '.github-output');
  const summary = path.join(cwd, '.github-summary');
  fs.writeFileSync(output, '');
  fs.writeFileSync(summary, '');
  const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: `${shims}:${process.env.PATH}`,
      HOME: process.env.HOME ?? '/tmp',
      GITHUB_OUTPUT: output,
      GITHUB_STEP_SUMMARY: summary,
      ...env,
    },
  });
  const outputs = Object.fromEntries(
    fs
      .readFileSync(output, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { status: r.status ?? -1, log: r.stdout + r.stderr, outputs, summary: fs.readFileSync(summary, 'utf8') };
}

/** A checkout with recipes/tiny.yaml. */
function workspace(name: string, o: Parameters<typeof tinyRecipe>[2]): string {
  const ws = path.join(work, name);
  tinyRecipe(path.join(ws, 'recipes'), 'tiny', o);
  return ws;
}

const ENV = { RECIPE: 'recipes/tiny.yaml', FAIL_OVER_MS: '' };

test("the workflow parses under GitHub's workflow parser, which does reject a broken one", async () => {
  const content = fs.readFileSync(WORKFLOW, 'utf8');
  const { errors, template: t } = await template(content);
  assert.equal(errors, []);
  assert.equal(t.errors ?? [], []);
  const job = t.jobs[0];
  assert.is(job.type, 'job');
  const uses = job.type === 'job' ? job.steps.map((s) => ('uses' in s ? s.uses.toString() : '')).filter(Boolean) : [];
  for (const a of [
    'actions/checkout@v4',
    'actions/setup-node@v4',
    'actions/cache@v4',
    'actions/cache/restore@v4',
    'actions/upload-artifact@v4',
    'actions/cache/save@v4',
  ])
    assert.ok(uses.includes(a), a);
  assert.match(content, /hashFiles\('models\/sd15\/\*\.json'/);
  const broken = await template(content.replace('runs-on: ubuntu-latest', 'runs_on: ubuntu-latest'));
  assert.ok(
    broken.errors.some((e) => /Unexpected value 'runs_on'/.test(e)),
    broken.errors.join('\n'),
  );
});

test("push, pull request, regression and budget miss, through the workflow's own scripts", async () => {
  const { template: t } = await template(fs.readFileSync(WORKFLOW, 'utf8'));
  const compile = script(t, 'compile');
  const diff = script(t, 'diff');
  const verdict = script(t, 'Fail on a budget miss or a latency regression');

  // A push to main: compiles, keeps the manifests for pull requests.
  const main = workspace('main', { remove: ['down_blocks.1.attentions.0'] });
  const push = runStep(compile, main, ENV);
  assert.is(push.status, 0, push.log);
  assert.equal(push.outputs, { status: '0', name: 'tiny' });
  assert.match(push.summary, /^### pocketdiff compile: `recipes\/tiny\.yaml`$/m);
  assert.match(
    push.summary,
    /^galaxy-s23: out\/tiny\/galaxy-s23  \(predicted [\d.]+ ms \(80%: [\d.]+–[\d.]+\) of a 100 ms budget\)$/m,
  );
  assert.ok(fs.existsSync(path.join(main, 'pocketdiff-manifests', 'tiny', 'galaxy-s23', 'manifest.json')));
  assert.ok(
    fs.existsSync(path.join(main, 'out', 'tiny', 'galaxy-s23', 'unet.onnx.data')),
    'the artifact is there to upload',
  );

  // A pull request that removes one more block, with the push build's manifests restored from the cache.
  const pr = workspace('pr', { remove: ['down_blocks.1.attentions.0', 'up_blocks.0.attentions.0'] });
  fs.cpSync(path.join(main, 'pocketdiff-manifests'), path.join(pr, 'pocketdiff-manifests'), { recursive: true });
  const built = runStep(compile, pr, ENV);
  assert.is(built.status, 0, built.log);
  const diffed = runStep(diff, pr, ENV);
  assert.is(diffed.status, 0, diffed.log);
  assert.equal(diffed.outputs, { grew: '0' });
  assert.match(diffed.summary, /^### pocketdiff diff: tiny on galaxy-s23$/m);
  assert.match(diffed.summary, /^\| UNet \| .*\(−[\d.]+%\) \|.* ms \(−[\d.]+ ms\) \|$/m);
  assert.match(diffed.summary, /^- UNet: now removes `up_blocks\.0\.attentions\.0`$/m);
  assert.is(runStep(verdict, pr, { ...ENV, STATUS: '0', GREW: '0' }).status, 0);

  // A pull request that removes nothing grows the latency: over FAIL_OVER_MS=0 the job fails.
  const slower = workspace('slower', { remove: [] });
  fs.cpSync(path.join(main, 'pocketdiff-manifests'), path.join(slower, 'pocketdiff-manifests'), { recursive: true });
  assert.is(runStep(compile, slower, ENV).status, 0);
  const regressed = runStep(diff, slower, { ...ENV, FAIL_OVER_MS: '0' });
  assert.is(regressed.status, 0, regressed.log);
  assert.equal(regressed.outputs, { grew: '1' });
  assert.match(regressed.log, /warning PD7020: galaxy-s23: predicted latency grew by/);
  const failed = runStep(verdict, slower, { ...ENV, FAIL_OVER_MS: '0', STATUS: '0', GREW: '1' });
  assert.is(failed.status, 1);
  assert.match(failed.log, /predicted latency grew by more than FAIL_OVER_MS=0 ms/);

  // No base build cached: the summary says so, the job goes on.
  const first = workspace('first', {});
  assert.is(runStep(compile, first, ENV).status, 0);
  const nothing = runStep(diff, first, ENV);
  assert.is(nothing.status, 0, nothing.log);
  assert.match(nothing.summary, /No build of `tiny\/galaxy-s23` on the base branch to compare with\./);

  // A budget miss: compile exits 3, the summary says so readably, the verdict step fails the job.
  const over = workspace('over', { budgetMs: 0.01 });
  const miss = runStep(compile, over, ENV);
  assert.is(miss.status, 0, 'the compile step itself records the status and goes on');
  assert.is(miss.outputs.status, '3');
  assert.match(miss.summary, /^### pocketdiff compile: `recipes\/tiny\.yaml` is over its latency budget$/m);
  assert.match(miss.summary, /of a 0\.01 ms budget: OVER\)$/m);
  assert.match(miss.summary, /warning PD7019: galaxy-s23: predicted [\d.]+ ms exceeds budget_ms 0\.01/);
  const verdictMiss = runStep(verdict, over, { ...ENV, STATUS: '3', GREW: '' });
  assert.is(verdictMiss.status, 1);
  assert.match(verdictMiss.log, /pocketdiff compile exited 3: see the job summary/);
});

test.run();

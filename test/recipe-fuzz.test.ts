// Fuzzing recipes: mutated copies of real recipes (deleted, swapped and
// re-indented lines, flipped types, typos, truncation, stray bytes, broken
// extends, YAML oddities) must never make pocketdiff throw or hang. Every
// failure is a coded diagnostic located inside the file it names.
//
// Deterministic: a seeded PRNG picks the mutations, so a failure reproduces
// (FUZZ_SEED and FUZZ_CASES override the defaults to explore further).
// Every case runs loadRecipe; every CHECK_EVERY-th (and more of those that
// load) also runs the full `check` pipeline against the tiny UNet and VAE
// exports.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic, type Diagnostic } from '../src/diagnostics.ts';
import { mulberry32, uniform32 } from '../src/random.ts';
import { loadRecipe } from '../src/recipe/load.ts';
import { tempDir } from './support/temp.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20260425);
const CASES = Number(process.env.FUZZ_CASES ?? 1200);
const CHECK_EVERY = 20;
/** Recipes that load reach the models and passes: check more of them. */
const CHECK_LOADED_EVERY = 4;
const LOAD_LIMIT_MS = 2000;
const CHECK_LIMIT_MS = 20000;

const UNET = path.resolve('test/fixtures/unet-tiny/model.onnx');
const VAE = path.resolve('test/fixtures/vae-decoder-tiny/model.onnx');
const SEEDS = [
  'recipes/example.yaml',
  'recipes/snapfusion-iphone14pro.yaml',
  'recipes/snapfusion-galaxy-s23.yaml',
  'test/recipes/valid/tiny.yaml',
  'test/recipes/valid/euler.yaml',
  'test/recipes/fixtures/parent-ok.yaml',
  'test/recipes/broken/19-unknown-removal-key.yaml',
  'test/recipes/broken/59-conflict-duplicate-device.yaml',
  'test/recipes/broken/78-block-typo-in-mapping.yaml',
];

// ---- seeded choices (src/random.ts's mulberry32) -------------------------------

class Rng {
  private readonly draw: () => number;
  constructor(seed: number) {
    this.draw = mulberry32(seed);
  }
  next(): number {
    return uniform32(this.draw);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---- mutations: text in, text out ---------------------------------------------

const KEYS = [
  'model',
  'unet',
  'vae_decoder',
  'text_encoder',
  'remove',
  'duplicate',
  'block',
  'keep_shortcut',
  'schedule',
  'scheduler',
  'steps',
  'spacing',
  'train_timesteps',
  'beta_schedule',
  'beta_start',
  'beta_end',
  'prediction_type',
  'steps_offset',
  'fold_step',
  'guidance',
  'scale',
  'fold',
  'uncond',
  'baked',
  'targets',
  'device',
  'budget_ms',
  'resolution',
  'name',
  'extends',
  'description',
  '$schema',
  'batch',
  '__proto__',
  'constructor',
  'toString',
  '',
  '1',
  'x'.repeat(300),
  'ünïcødé',
  '-',
];
const ENUMS = [
  'ddim',
  'euler',
  'leading',
  'trailing',
  'linspace',
  'epsilon',
  'v_prediction',
  'batch',
  'none',
  'scaled_linear',
  'linear',
  'input',
  'default',
  'true',
  'false',
];
const VALUES = [
  '0',
  '-1',
  '1',
  '8',
  '2000',
  '1e309',
  '-.inf',
  '.nan',
  '0x1F',
  '0o17',
  '1.5',
  '7.5',
  '1_000',
  '"8"',
  "'ddim'",
  'yes',
  'no',
  'true',
  'false',
  '~',
  'null',
  '',
  '[]',
  '{}',
  '[a, 1]',
  '{a: 1}',
  '{block: conv_in}',
  '[down_blocks.0.attentions.*]',
  'default',
  'input',
  'batch',
  'iphone-14-pro',
  'galaxy-s23',
  'toaster',
  'iPhone 14',
  'missing.onnx',
  '../',
  '/',
  '.',
  '/dev/null',
  'model.onnx',
  '"\\u0000"',
  '"\\ud800"',
  '!!binary aGVsbG8=',
  '!!str 8',
  '!!int "8"',
  '!!float 1',
  '!!js/function "x"',
  '!custom 1',
  '&a 8',
  '*a',
  '*nope',
  '|\n  block\n  text',
  '>-\n  folded',
  '"unterminated',
  "'also",
  '[unclosed',
  '{unclosed',
  'a: b: c',
  '? x',
  '- item',
  '@reserved',
  '`tick`',
  '%percent',
  '#comment',
  'x'.repeat(5000),
  '9'.repeat(400),
  '-0',
  '0.00085',
  '1e-300',
];
const SELECTORS = [
  'down_blocks.0.attentions.*',
  'down_blocks.1.attentions.0',
  'down_blocks.1.atentions.0',
  'down_blocks.9.*',
  '*',
  '**',
  '*.*',
  '',
  'conv_in',
  'conv_out',
  'time_embedding',
  'mid_block.resnets.0',
  'mid_block.resnets.*',
  'up_blocks.*.resnets.*',
  'up_blocks.0.upsamplers.0',
  'down_blocks.0.downsamplers.0',
  'down_blocks.1.resnets.0',
  '[',
  '(',
  '\\',
  '.*',
  '^$',
  'a'.repeat(200),
];
const JUNK = [
  '\0',
  '\t',
  '\r',
  '\r\n',
  '\u00a0',
  '\ufeff',
  '\u2028',
  '\u0085',
  '😀',
  '\ud800',
  'é',
  '\x1b[31m',
  ':',
  ': ',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '"',
  "'",
  '&a ',
  '*a',
  '!',
  '%',
  '@',
  '`',
  '|',
  '>',
  '#',
  '? ',
  '---\n',
  '...\n',
  '\n',
];

type Mutation = (text: string, rng: Rng, ctx: { self: string; prev: string }) => string;

const lines = (t: string) => t.split('\n');
const keyLine = /^(\s*-?\s*)([^\s:#][^:#]*?):(\s|$)(.*)$/;

function pickLine(ls: string[], rng: Rng, pred: (l: string) => boolean = () => true): number {
  const idx = ls.map((l, i) => (pred(l) ? i : -1)).filter((i) => i >= 0);
  return idx.length ? rng.pick(idx) : -1;
}

function typo(word: string, rng: Rng): string {
  if (!word) return 'x';
  const i = rng.int(word.length);
  const c = String.fromCharCode(97 + rng.int(26));
  switch (rng.int(4)) {
    case 0:
      return word.slice(0, i) + word.slice(i + 1);
    case 1:
      return word.slice(0, i) + c + word.slice(i);
    case 2:
      return word.slice(0, i) + c + word.slice(i + 1);
    default:
      return i + 1 < word.length ? word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2) : word + c;
  }
}

const MUTATIONS: Record<string, Mutation> = {
  deleteLine(t, rng) {
    const ls = lines(t);
    ls.splice(rng.int(ls.length), 1 + (rng.chance(0.2) ? rng.int(4) : 0));
    return ls.join('\n');
  },
  duplicateLine(t, rng) {
    const ls = lines(t);
    const i = rng.int(ls.length);
    ls.splice(i + rng.int(3), 0, ls[i]);
    return ls.join('\n');
  },
  swapLines(t, rng) {
    const ls = lines(t);
    const i = rng.int(ls.length);
    const j = rng.int(ls.length);
    [ls[i], ls[j]] = [ls[j], ls[i]];
    return ls.join('\n');
  },
  reindent(t, rng) {
    const ls = lines(t);
    const i = pickLine(ls, rng, (l) => l.trim() !== '');
    if (i < 0) return t;
    const body = ls[i].trimStart();
    ls[i] = (rng.chance(0.15) ? '\t' : '') + ' '.repeat(rng.int(9)) + body;
    return ls.join('\n');
  },
  insertKey(t, rng) {
    const ls = lines(t);
    const indent = ' '.repeat(rng.pick([0, 0, 2, 2, 4, 6, 3]));
    const key = rng.chance(0.7) ? rng.pick(KEYS) : typo(rng.pick(KEYS), rng);
    ls.splice(rng.int(ls.length + 1), 0, `${indent}${rng.chance(0.2) ? '- ' : ''}${key}: ${rng.pick(VALUES)}`);
    return ls.join('\n');
  },
  flipType(t, rng) {
    const ls = lines(t);
    const i = pickLine(ls, rng, (l) => keyLine.test(l) || /^\s*- \S/.test(l));
    if (i < 0) return t;
    const m = keyLine.exec(ls[i]);
    ls[i] = m ? `${m[1]}${m[2]}: ${rng.pick(VALUES)}` : ls[i].replace(/- .*/, `- ${rng.pick(VALUES)}`);
    return ls.join('\n');
  },
  truncate(t, rng) {
    return t.slice(0, rng.int(t.length + 1));
  },
  injectBytes(t, rng) {
    let out = t;
    for (let n = 1 + rng.int(4); n > 0; n--) {
      const at = rng.int(out.length + 1);
      const junk = rng.chance(0.6) ? rng.pick(JUNK) : String.fromCharCode(rng.int(rng.chance(0.8) ? 256 : 0x10000));
      out = out.slice(0, at) + junk + out.slice(at);
    }
    return out;
  },
  typoKey(t, rng) {
    const ls = lines(t);
    const i = pickLine(ls, rng, (l) => keyLine.test(l));
    if (i < 0) return t;
    const m = keyLine.exec(ls[i])!;
    ls[i] = `${m[1]}${typo(m[2], rng)}:${m[3]}${m[4]}`;
    return ls.join('\n');
  },
  typoEnum(t, rng) {
    const present = ENUMS.filter((e) => new RegExp(`:\\s*${e}\\b`).test(t));
    if (!present.length) return t;
    const e = rng.pick(present);
    return t.replace(new RegExp(`(:\\s*)${e}\\b`), `$1${rng.chance(0.3) ? rng.pick(ENUMS) : typo(e, rng)}`);
  },
  selector(t, rng) {
    const ls = lines(t);
    const i = pickLine(ls, rng, (l) => /^\s*- (block: )?[a-z_*]/.test(l) || /block: /.test(l));
    const sel = rng.chance(0.5) ? rng.pick(SELECTORS) : typo(rng.pick(SELECTORS), rng);
    if (i < 0) return `${t}\nunet:\n  ${rng.pick(['remove', 'duplicate'])}:\n    - ${sel}\n`;
    ls[i] = ls[i].replace(/(- (block: )?|block: ).*$/, `$1${sel}`);
    return ls.join('\n');
  },
  breakExtends(t, rng, ctx) {
    const target = rng.pick([
      'missing.yaml',
      ctx.self,
      ctx.prev,
      'snapfusion-iphone14pro.yaml',
      'snapfusion-galaxy-s23.yaml',
      'parent-ok.yaml',
      '.',
      '/',
      '..',
      '',
      '/dev/null',
      '/dev/zero',
      '"3"',
      '3',
      '[a.yaml]',
      '{a: 1}',
      '~',
      'example.yaml',
      `../${path.basename(os.tmpdir())}`,
      'case-\0.yaml',
    ]);
    const line = `extends: ${target}`;
    return /^extends:.*$/m.test(t) && rng.chance(0.7) ? t.replace(/^extends:.*$/m, line) : `${line}\n${t}`;
  },
  yamlOddity(t, rng) {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const odd = rng.pick([
      'a: &x [*x]',
      'base: &b {steps: 8}\nschedule: *b',
      'schedule:\n  <<: {steps: 8}',
      '? [a, b]\n: c',
      '? {a: 1}\n: 2',
      'guidance: !!binary aGVsbG8=',
      'schedule: !!js/function "f"',
      '%YAML 1.1\n---',
      '---',
      '...',
      `deep: ${deep(200)}`,
      `deeper: ${deep(rng.chance(0.1) ? 20000 : 2000)}`,
      Array.from({ length: rng.pick([60, 70, 1000]) }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n'),
      `seq: ${'- '.repeat(rng.pick([50, 100, 5000]))}x`,
      'bomb: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]',
      `long: ${'y'.repeat(100000)}`,
      'schedule: {steps: 8, steps: 9}',
      'targets: [{device: a}, {device: a}]',
      '"quoted key": 1',
      "'single': 2",
      'empty:',
      ':',
      '- - -',
      '[',
      '{',
      '}',
      '\t',
      '\ufeff',
      'schedule: ~',
      'unet: {remove: null}',
      'model: {unet: 3, vae_decoder: [x]}',
    ]);
    const ls = lines(t);
    ls.splice(rng.int(ls.length + 1), 0, odd);
    return ls.join('\n');
  },
};
const NAMES = Object.keys(MUTATIONS);

// ---- running the cases -------------------------------------------------------

interface Failure {
  index: number;
  mutations: string[];
  file: string;
  why: string;
}

function lineCount(file: string, cache: Map<string, number>): number | undefined {
  if (!cache.has(file)) {
    try {
      cache.set(file, fs.readFileSync(file, 'utf8').split('\n').length);
    } catch {
      return undefined;
    }
  }
  return cache.get(file);
}

/** Why the errors are not acceptable, or undefined when they are. */
function badErrors(errors: Diagnostic[], recipeOnly: boolean): string | undefined {
  if (!errors.length) return 'failed without an error';
  const lc = new Map<string, number>();
  for (const d of errors) {
    const where = `${formatDiagnostic(d)}`;
    if (!/^PD\d{4}$/.test(d.code)) return `uncoded diagnostic: ${where}`;
    const at = d.location;
    // Recipe errors point into a recipe; model errors (check) may point at a node.
    if (!recipeOnly && (!at?.file || !/\.ya?ml$/.test(at.file))) continue;
    if (!at?.file || at.line === undefined || at.col === undefined) return `no file:line:col: ${where}`;
    const n = lineCount(at.file, lc);
    if (n === undefined) {
      if (d.code === 'PD7010') continue;
      return `located in an unreadable file: ${where}`;
    }
    if (at.line < 1 || at.line > n + 1 || at.col < 1) return `location outside the file (${n} lines): ${where}`;
  }
  return undefined;
}

test(`${CASES} mutated recipes never crash or hang (seed ${SEED})`, async () => {
  const dir = tempDir('pocketdiff-fuzz-');
  const seeds = SEEDS.map((f) => {
    // Model references point at the tiny exports, so `check` stays fast.
    const text = fs
      .readFileSync(f, 'utf8')
      .replace(/^(\s+)unet: \S.*$/m, `$1unet: ${UNET}`)
      .replace(/^(\s+)vae_decoder: \S.*$/m, `$1vae_decoder: ${VAE}`);
    fs.writeFileSync(path.join(dir, path.basename(f)), text);
    return text;
  });
  const rng = new Rng(SEED);
  const failures: Failure[] = [];
  const used = new Map<string, number>();
  let loaded = 0;
  let checked = 0;
  let checkOk = 0;
  let slowestLoad = { ms: 0, index: -1 };
  let slowestCheck = { ms: 0, index: -1 };
  let loadMs = 0;
  let checkMs = 0;
  const t0 = performance.now();
  for (let index = 0; index < CASES; index++) {
    const self = `case-${String(index).padStart(4, '0')}.yaml`;
    const file = path.join(dir, self);
    const mutations: string[] = [];
    let text = rng.pick(seeds);
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const name = rng.pick(NAMES);
      mutations.push(name);
      used.set(name, (used.get(name) ?? 0) + 1);
      text = MUTATIONS[name](text, rng, { self, prev: `case-${String(Math.max(0, index - 1)).padStart(4, '0')}.yaml` });
    }
    fs.writeFileSync(file, text);
    const fail = (why: string) => failures.push({ index, mutations, file, why });

    const log = new DiagnosticLog();
    const t = performance.now();
    let recipe;
    try {
      recipe = loadRecipe(file, log);
    } catch (e) {
      fail(`loadRecipe threw: ${(e as Error).stack ?? e}`);
      continue;
    }
    const ms = performance.now() - t;
    loadMs += ms;
    if (ms > slowestLoad.ms) slowestLoad = { ms, index };
    if (ms > LOAD_LIMIT_MS) fail(`loadRecipe took ${ms.toFixed(0)} ms`);
    if (recipe) {
      loaded++;
      if (log.hasErrors) fail(`loaded, yet reported errors:\n${log.items.map(formatDiagnostic).join('\n')}`);
    } else {
      const bad = badErrors(log.errors(), true);
      if (bad) fail(bad);
    }

    if (index % CHECK_EVERY === 0 || (recipe && index % CHECK_LOADED_EVERY === 0)) {
      const clog = new DiagnosticLog();
      const out: string[] = [];
      const sink = (s: string) => void out.push(s);
      const tc = performance.now();
      const status = await main(['check', file], { log: clog, stdout: sink, stderr: sink });
      const cms = performance.now() - tc;
      checked++;
      checkMs += cms;
      if (cms > slowestCheck.ms) slowestCheck = { ms: cms, index };
      if (cms > CHECK_LIMIT_MS) fail(`check took ${cms.toFixed(0)} ms`);
      if (status === 0) {
        checkOk++;
        if (!recipe) fail('check passed a recipe that loadRecipe rejected');
      } else if (status !== 2) {
        fail(`check exited ${status}:\n${out.join('\n')}`);
      } else {
        const bad = badErrors(clog.errors(), false);
        if (bad) fail(`check: ${bad}`);
        if (!recipe && clog.errors().length !== log.errors().length)
          fail('check and loadRecipe disagree on the recipe errors');
      }
    }
  }
  const total = performance.now() - t0;
  console.log(
    `\n  fuzz: ${CASES} cases (seed ${SEED}), ${loaded} loaded, ${CASES - loaded} rejected with coded errors; ` +
      `loadRecipe ${(loadMs / CASES).toFixed(2)} ms mean, slowest ${slowestLoad.ms.toFixed(0)} ms (case ${slowestLoad.index})`,
  );
  console.log(
    `  check: ${checked} cases, ${checkOk} passed, ${(checkMs / Math.max(1, checked)).toFixed(0)} ms mean, slowest ${slowestCheck.ms.toFixed(0)} ms (case ${slowestCheck.index}); total ${(total / 1000).toFixed(1)} s`,
  );
  console.log(
    `  mutations: ${[...used]
      .sort()
      .map(([k, n]) => `${k}×${n}`)
      .join(' ')}`,
  );
  if (failures.length) {
    const shown = failures
      .slice(0, 8)
      .map((f) => `case ${f.index} [${f.mutations.join(', ')}] ${f.file}\n    ${f.why.replace(/\n/g, '\n    ')}`);
    assert.unreachable(`${failures.length} of ${CASES} cases failed (files kept in ${dir}):\n${shown.join('\n')}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();

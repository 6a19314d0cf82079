// Valid recipes: the shipped ones and test/recipes/valid/ pass `check`;
// defaults fill what a recipe leaves out; `extends` merges (scalars override,
// mappings merge, lists replace) and paths resolve against the file that wrote
// them; the recipe hash is stable; schemas/recipe.schema.json is current and
// agrees with the zod schema on valid and broken recipes.
import fs from 'node:fs';
import path from 'node:path';
import * as ajv2020 from 'ajv/dist/2020.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { SCHEMA_FILES } from '../src/schemas.ts';
import { renderSchema } from '../src/schema/json-schema.ts';
import { loadRecipe, type LoadedRecipe } from '../src/recipe/load.ts';
import { tempDir } from './support/temp.ts';

const SHIPPED = fs
  .readdirSync('recipes')
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => path.join('recipes', f));
const VALID = [
  'test/recipes/valid/empty.yaml',
  'test/recipes/valid/tiny.yaml',
  'test/recipes/valid/euler.yaml',
  'test/recipes/valid/sub/child.yaml',
];
const BROKEN = 'test/recipes/broken';
const UNET_TINY = path.resolve('test/fixtures/unet-tiny/model.onnx');
const VAE_TINY = path.resolve('test/fixtures/vae-decoder-tiny/model.onnx');
const TE_TINY = path.resolve('test/fixtures/text-encoder-tiny/model.onnx');

function load(file: string): LoadedRecipe {
  const log = new DiagnosticLog();
  const r = loadRecipe(file, log);
  assert.ok(r, `${file}:\n${log.items.map(formatDiagnostic).join('\n')}`);
  assert.is(log.items.length, 0, log.items.map(formatDiagnostic).join('\n'));
  return r;
}

/** A scratch folder with `files` written into it; removed after `fn`. */
function withFiles<T>(files: Record<string, string>, fn: (dir: string) => T): T {
  const dir = tempDir('pocketdiff-recipe-');
  try {
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function check(file: string): Promise<{ status: number; shown: string; ms: number }> {
  const log = new DiagnosticLog();
  const out: string[] = [];
  const sink = (t: string) => void out.push(t);
  const t0 = performance.now();
  const status = await main(['check', file], { log, stdout: sink, stderr: sink });
  return { status, shown: [...log.items.map(formatDiagnostic), ...out].join('\n'), ms: performance.now() - t0 };
}

// ---- check -------------------------------------------------------------------

for (const file of [...SHIPPED, ...VALID]) {
  test(`check ${file}`, async () => {
    const { status, shown, ms } = await check(file);
    // Valid: no error. A target predicted over its budget_ms makes check exit 3, as compile does.
    assert.not.match(shown, /\berror PD/);
    if (status === 3) assert.match(shown, /: over budget on .*\n[^]*warning PD7019: /);
    else {
      assert.is(status, 0, shown);
      assert.ok(shown.includes(': ok'), shown);
    }
    console.log(`  check ${file}: ${ms.toFixed(0)} ms${status === 3 ? ' (over budget: exit 3)' : ''}`);
  });
}

// ---- defaults ------------------------------------------------------------------

test('an empty recipe is valid: every field takes its default', () => {
  const r = load('test/recipes/valid/empty.yaml');
  assert.is(r.name, 'empty');
  assert.equal(r.recipe, {
    model: { unet: 'default', vae_decoder: 'default', text_encoder: 'default' },
    unet: { remove: [], duplicate: [] },
    schedule: {
      scheduler: 'ddim',
      steps: 50,
      spacing: 'leading',
      train_timesteps: 1000,
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      beta_end: 0.012,
      prediction_type: 'epsilon',
      steps_offset: 1,
      fold_step: false,
    },
    guidance: { scale: 7.5, fold: 'batch', uncond: 'input' },
    targets: [],
  });
});

test('defaults fill in inside sections a recipe does write', () => {
  const r = load('test/recipes/valid/euler.yaml');
  assert.is(r.name, 'euler-25');
  assert.is(r.recipe.schedule.train_timesteps, 1000);
  assert.is(r.recipe.schedule.prediction_type, 'epsilon');
  assert.is(r.recipe.guidance.scale, 7.5);
  assert.is(r.recipe.guidance.uncond, 'input');
  assert.is(r.recipe.model.text_encoder, TE_TINY);
  // A model the recipe does not name is the embedded default's.
  const partial = path.join(tempDir('recipe-defaults'), 'partial.yaml');
  fs.writeFileSync(partial, `model:\n  unet: ${UNET_TINY}\n`);
  assert.equal(load(partial).recipe.model, { unet: UNET_TINY, vae_decoder: 'default', text_encoder: 'default' });
  const tiny = load('test/recipes/valid/tiny.yaml');
  assert.equal(tiny.recipe.targets[1], { device: 'galaxy-s23', resolution: 512 });
  assert.equal(tiny.recipe.unet.remove[0], 'down_blocks.1.attentions.0');
  assert.equal(tiny.recipe.unet.remove[1], { block: 'down_blocks.1.resnets.0', keep_shortcut: true });
});

// ---- extends and paths ---------------------------------------------------------

test('extends: scalars override, mappings merge, lists replace', () => {
  const r = load('test/recipes/valid/sub/child.yaml');
  const s = r.recipe.schedule;
  assert.is(r.name, 'tiny-child');
  assert.is(
    r.recipe.description,
    'removal, a kept shortcut, duplication, folded CFG and DDIM step',
    'kept from the parent',
  );
  assert.equal([s.steps, s.spacing], [4, 'leading'], 'overridden by the child');
  assert.equal([s.prediction_type, s.fold_step], ['v_prediction', true], 'kept from the parent');
  assert.equal(r.recipe.unet.remove, ['mid_block.attentions.0'], 'the child list replaces the parent list');
  assert.equal(r.recipe.unet.duplicate, ['up_blocks.0.attentions.1'], 'a list the child does not write is inherited');
  assert.equal(r.recipe.targets, [{ device: 'galaxy-s23', resolution: 512 }]);
  assert.is(r.recipe.guidance.scale, 5);
  assert.is(r.recipe.guidance.fold, 'batch');
  assert.not.ok('extends' in r.recipe, 'extends is resolved away');
});

test('paths resolve against the recipe that wrote them', () => {
  const r = load('test/recipes/valid/sub/child.yaml');
  assert.is(r.recipe.model.unet, UNET_TINY, 'written by ../tiny.yaml');
  assert.is(r.recipe.model.vae_decoder, VAE_TINY);
  assert.is(r.recipe.model.text_encoder, TE_TINY);
  assert.equal(
    r.recipe.guidance.uncond,
    { baked: path.resolve('test/recipes/valid/sub/uncond.pb') },
    'written by sub/child.yaml',
  );
  assert.is(r.file, path.resolve('test/recipes/valid/sub/child.yaml'));
});

test('locate: a value points at the file and line that wrote it', () => {
  const r = load('test/recipes/valid/sub/child.yaml');
  const child = path.resolve('test/recipes/valid/sub/child.yaml');
  const parent = path.resolve('test/recipes/valid/tiny.yaml');
  assert.equal(r.locate(['schedule', 'steps']), { file: child, line: 10, col: 10 });
  assert.equal(r.locate(['schedule', 'prediction_type']), { file: parent, line: 22, col: 20 });
  assert.equal(r.locate(['unet', 'remove', 0]), { file: child, line: 8, col: 7 });
  assert.equal(r.locate(['unet', 'duplicate', 0]), { file: parent, line: 17, col: 7 });
  assert.equal(r.locate(['targets', 0, 'device']), { file: child, line: 16, col: 13 });
});

test('extends chains through several files, nearest wins', () => {
  withFiles(
    {
      'a.yaml': 'schedule: {steps: 10, spacing: trailing}\nguidance: {scale: 3}\nmodel: {unet: a.onnx}\n',
      'b.yaml': 'extends: a.yaml\nschedule: {steps: 20}\ntargets: [{device: galaxy-s23}]\n',
      'c.yaml': 'extends: ./b.yaml\nschedule: {scheduler: euler}\n',
    },
    (dir) => {
      const r = load(path.join(dir, 'c.yaml'));
      assert.equal(
        [r.recipe.schedule.scheduler, r.recipe.schedule.steps, r.recipe.schedule.spacing],
        ['euler', 20, 'trailing'],
      );
      assert.is(r.recipe.guidance.scale, 3);
      assert.is(r.recipe.model.unet, path.join(dir, 'a.onnx'));
      assert.equal(r.recipe.targets, [{ device: 'galaxy-s23', resolution: 512 }]);
      assert.is(r.name, 'c');
    },
  );
});

test('quantize: int4 keep_int8 names the model ends kept at int8 (first, last), [] for none', () => {
  withFiles(
    {
      'q.yaml':
        'quantize:\n  vae_decoder: {scheme: int4, keep_int8: [last]}\n  unet: [{scheme: int4, keep_int8: []}]\n',
      'bad.yaml': 'quantize:\n  unet: {scheme: int4, keep_int8: [middle]}\n',
    },
    (dir) => {
      const r = load(path.join(dir, 'q.yaml'));
      assert.equal(r.recipe.quantize, {
        vae_decoder: { scheme: 'int4', blocks: '*', keep_int8: ['last'] },
        unet: [{ scheme: 'int4', blocks: '*', keep_int8: [] }],
      });
      const log = new DiagnosticLog();
      assert.is(loadRecipe(path.join(dir, 'bad.yaml'), log), undefined);
      const shown = log.items.map(formatDiagnostic).join('\n');
      assert.match(shown, /bad\.yaml:2:/);
      assert.match(shown, /first/);
    },
  );
});

// ---- the recipe hash ------------------------------------------------------------

test('the recipe hash is stable and follows the values, not the text', () => {
  const base = 'schedule:\n  steps: 8\n  spacing: trailing\nguidance:\n  scale: 5\n';
  withFiles(
    {
      'base.yaml': base,
      'reordered.yaml':
        '# the same recipe, written differently\nguidance: {scale: 5.0}\nschedule:\n    spacing: "trailing"\n    steps: 8\n',
      'explicit-default.yaml': base + '  fold: batch\nunet:\n  remove: []\n',
      'changed.yaml': base.replace('steps: 8', 'steps: 9'),
      'changed-deep.yaml': base + 'unet:\n  remove: [down_blocks.0.attentions.0]\n',
    },
    (dir) => {
      const h = (f: string) => load(path.join(dir, f)).hash;
      assert.match(h('base.yaml'), /^[0-9a-f]{64}$/);
      assert.is(h('base.yaml'), h('base.yaml'), 'the same file hashes the same');
      assert.is(h('reordered.yaml'), h('base.yaml'), 'key order, quoting, comments and layout do not matter');
      assert.is(h('explicit-default.yaml'), h('base.yaml'), 'a default written out is the same recipe');
      assert.is.not(h('changed.yaml'), h('base.yaml'));
      assert.is.not(h('changed-deep.yaml'), h('base.yaml'));
    },
  );
  assert.is(load('recipes/snapfusion-iphone14pro.yaml').hash, load('recipes/snapfusion-iphone14pro.yaml').hash);
  assert.is.not(load('recipes/snapfusion-galaxy-s23.yaml').hash, load('recipes/snapfusion-iphone14pro.yaml').hash);
});

// ---- the JSON schema ---------------------------------------------------------------

const recipeSchemaFile = SCHEMA_FILES.find((s) => s.file === 'recipe.schema.json')!;

test('schemas/recipe.schema.json is generated from the zod schema and current', () => {
  const want = renderSchema(recipeSchemaFile);
  const have = fs.existsSync('schemas/recipe.schema.json') ? fs.readFileSync('schemas/recipe.schema.json', 'utf8') : '';
  assert.ok(have === want, 'schemas/recipe.schema.json is stale: run `npm run schemas` and commit the result');
});

test('recipes point editors at the schema', () => {
  for (const f of [...SHIPPED, 'test/recipes/valid/tiny.yaml']) {
    const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(fs.readFileSync(f, 'utf8'));
    assert.ok(m, `${f} has no yaml-language-server $schema line`);
    assert.is(path.resolve(path.dirname(f), m[1]), path.resolve('schemas/recipe.schema.json'), f);
  }
});

// ajv is CommonJS: under ESM its class arrives as the default export.
const Ajv2020 = ajv2020.default as unknown as typeof ajv2020.Ajv2020;
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(JSON.parse(renderSchema(recipeSchemaFile)));
/** What an editor sees: the file alone, no extends or defaults applied (an empty file is an empty mapping). */
const asWritten = (file: string): unknown => parseYaml(fs.readFileSync(file, 'utf8')) ?? {};

test('the JSON schema accepts every valid recipe', () => {
  for (const f of [...SHIPPED, ...VALID, 'test/recipes/fixtures/parent-ok.yaml']) {
    assert.ok(validate(asWritten(f)), `${f}: ${JSON.stringify(validate.errors)}`);
  }
});

test('the JSON schema rejects what the zod schema rejects in a single file', () => {
  // Unknown keys, wrong types, bad values and ranges, missing fields, as
  // loadRecipe reports them in the file itself (not YAML syntax, cross-field
  // conflicts, extends, or anything that needs the models).
  const SCHEMA_CODES = ['PD7002', 'PD7003', 'PD7004', 'PD7005', 'PD7011'];
  let rejected = 0;
  for (const f of fs.readdirSync(BROKEN).sort()) {
    const file = path.resolve(BROKEN, f);
    const log = new DiagnosticLog();
    if (loadRecipe(file, log)) continue;
    if (!log.errors().every((d) => SCHEMA_CODES.includes(d.code) && d.location?.file === file)) continue;
    if (/^extends:/m.test(fs.readFileSync(file, 'utf8')) && !log.errors().some((d) => d.message.includes("'extends'")))
      continue;
    assert.not.ok(validate(asWritten(file)), `${f} (${log.errors()[0].code}) validates against recipe.schema.json`);
    rejected++;
  }
  assert.ok(rejected >= 40, `only ${rejected} broken recipes checked against the JSON schema`);
  console.log(`  the JSON schema rejects all ${rejected} single-file schema errors`);
});

test.run();

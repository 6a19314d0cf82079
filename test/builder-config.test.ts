// Config handling of `pocketdiff models build`: detection, refused keys and
// values (coded, located at file:line:col), bad JSON, usage errors, and the
// promise that a failed build writes nothing.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { planModel } from '../src/builder/build.ts';
import { main } from '../src/cli.ts';
import { Exit } from '../src/commands/command.ts';
import { models } from '../src/commands/models.ts';
import { DiagnosticLog, formatDiagnostic, type Diagnostic } from '../src/diagnostics.ts';
import { TEST_CONFIGS } from './support/builder-fixtures.ts';
import { tempDir } from './support/temp.ts';

const test = suite('builder config');
const tmp = tempDir('pd-builder-config-');
let n = 0;

function writeConfig(value: unknown, text?: string): string {
  const file = path.join(tmp, `config-${++n}.json`);
  fs.writeFileSync(file, text ?? JSON.stringify(value, null, 2) + '\n');
  return file;
}

const tiny = () => JSON.parse(fs.readFileSync(path.join(TEST_CONFIGS, 'unet-tiny.json'), 'utf8'));
const vae = () => JSON.parse(fs.readFileSync(path.join(TEST_CONFIGS, 'vae-decoder-tiny.json'), 'utf8'));
const clip = () => JSON.parse(fs.readFileSync(path.join(TEST_CONFIGS, 'text-encoder-tiny.json'), 'utf8'));

function plan(file: string): { ok: boolean; items: Diagnostic[]; text: string } {
  const log = new DiagnosticLog();
  const ok = !!planModel(file, log);
  return { ok, items: log.items, text: log.items.map(formatDiagnostic).join('\n') };
}

async function cli(...argv: string[]): Promise<{ status: number; out: string; text: string; codes: string[] }> {
  const log = new DiagnosticLog();
  let out = '';
  const status = await models.run(argv, { log, stdout: (t) => (out += t + '\n'), stderr: () => {} });
  return { status, out, text: log.items.map(formatDiagnostic).join('\n'), codes: log.codes() };
}

test('detects the model from _class_name, architectures, model_type or the keys alone', () => {
  for (const [cfg, kind] of [
    [tiny(), 'unet'],
    [vae(), 'vae'],
    [clip(), 'clip'],
    [{ ...tiny(), _class_name: undefined }, 'unet'],
    [{ ...vae(), _class_name: undefined }, 'vae'],
    [{ ...clip(), architectures: undefined }, 'clip'],
    [{ ...clip(), architectures: undefined, model_type: undefined }, 'clip'],
  ] as const) {
    const log = new DiagnosticLog();
    const p = planModel(writeConfig(cfg), log);
    assert.is(p?.model.kind, kind, log.items.map(formatDiagnostic).join('\n'));
  }
});

test('an unknown model class is refused (PD4003), naming the class and where it is written', () => {
  const r = plan(writeConfig({ _class_name: 'UNet3DConditionModel', in_channels: 4 }));
  assert.not.ok(r.ok);
  assert.equal(
    r.items.map((d) => d.code),
    ['PD4003'],
  );
  assert.match(r.text, /config-\d+\.json:2:3: error PD4003: model class "UNet3DConditionModel"/);
  // The vision class without a projection is not built (CLIPVisionModelWithProjection is: test/builder-clip.test.ts).
  assert.match(
    plan(writeConfig({ ...clip(), architectures: ['CLIPVisionModel'] })).text,
    /PD4003: architectures \["CLIPVisionModel"\] name no model/,
  );
  assert.match(plan(writeConfig({ foo: 1 })).text, /PD4003: cannot tell which model/);
});

test('values the builder does not implement are refused (PD4004) with key, value and file:line:col', () => {
  const cfg = { ...tiny(), resnet_time_scale_shift: 'scale_shift', upcast_attention: true };
  const file = writeConfig(cfg);
  const r = plan(file);
  assert.not.ok(r.ok);
  assert.equal(
    r.items.map((d) => d.code),
    ['PD4004', 'PD4004'],
  );
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const line = (key: string) => lines.findIndex((l) => l.includes(`"${key}"`)) + 1;
  assert.ok(
    r.text.includes(
      `${file}:${line('resnet_time_scale_shift')}:3: error PD4004: UNet2DConditionModel config key 'resnet_time_scale_shift' = "scale_shift": only "default" is implemented`,
    ),
    r.text,
  );
  assert.ok(
    r.text.includes(
      `${file}:${line('upcast_attention')}:3: error PD4004: UNet2DConditionModel config key 'upcast_attention' = true`,
    ),
    r.text,
  );
});

test('more refused values: block types, activations, SDXL-style keys, VAE and CLIP variants', () => {
  const refused: [unknown, RegExp][] = [
    [
      { ...tiny(), down_block_types: ['DownBlock2D', 'SimpleCrossAttnDownBlock2D'] },
      /'down_block_types'.*block type "SimpleCrossAttnDownBlock2D" is not implemented/,
    ],
    [{ ...tiny(), act_fn: 'gelu' }, /'act_fn' = "gelu": only "silu" or "swish"/],
    [{ ...tiny(), addition_embed_type: 'text_time' }, /'addition_embed_type'/],
    [{ ...tiny(), time_embedding_type: 'fourier' }, /'time_embedding_type'/],
    [{ ...tiny(), center_input_sample: true }, /'center_input_sample'/],
    [{ ...tiny(), conv_in_kernel: 4 }, /'conv_in_kernel' = 4: even kernel sizes/],
    [{ ...vae(), up_block_types: ['UpDecoderBlock2D', 'AttnUpDecoderBlock2D'] }, /AttnUpDecoderBlock2D/],
    [{ ...vae(), use_post_quant_conv: false }, /'use_post_quant_conv'/],
    [{ ...clip(), hidden_act: 'relu' }, /CLIPTextModel config key 'hidden_act' = "relu"/],
  ];
  for (const [cfg, re] of refused) {
    const r = plan(writeConfig(cfg));
    assert.not.ok(r.ok);
    assert.ok(
      r.items.every((d) => d.code === 'PD4004'),
      r.text,
    );
    assert.match(r.text, re);
  }
});

test('an unknown key is refused, not ignored (PD4005), with a did-you-mean', () => {
  const cfg = tiny();
  cfg.cross_attention_dims = cfg.cross_attention_dim;
  const r = plan(writeConfig(cfg));
  assert.equal(
    r.items.map((d) => d.code),
    ['PD4005'],
  );
  assert.match(r.text, /unknown UNet2DConditionModel config key 'cross_attention_dims'/);
  assert.match(r.text, /note: did you mean 'cross_attention_dim'\?/);
  // Keys starting with `_` are metadata, and PretrainedConfig's generic fields are inert.
  assert.ok(plan(writeConfig({ ...tiny(), _diffusers_version: '0.27.2', _name_or_path: 'x' })).ok);
  assert.ok(
    plan(writeConfig({ ...clip(), torch_dtype: 'float16', transformers_version: '4.38.0', return_dict: true })).ok,
  );
});

test('values that are not valid at all (PD4006): wrong types, mismatched lengths, groups that do not divide', () => {
  const cases: [unknown, RegExp][] = [
    [
      { ...tiny(), block_out_channels: 'wide' },
      /'block_out_channels' = "wide": must be a non-empty list of positive integers/,
    ],
    [{ ...tiny(), up_block_types: ['UpBlock2D'] }, /up_block_types has 1 entries but block_out_channels has 2/],
    [{ ...tiny(), attention_head_dim: [8, 8, 8] }, /attention_head_dim has 3 entries but there are 2 blocks/],
    [{ ...tiny(), norm_num_groups: 24 }, /norm_num_groups = 24 does not divide the channel count\(s\) 32, 64, 128 /],
    [{ ...tiny(), attention_head_dim: 7 }, /7 attention heads do not divide 64 channels/],
    [{ ...clip(), num_attention_heads: 5 }, /5 attention heads do not divide hidden_size 32/],
  ];
  for (const [cfg, re] of cases) {
    const r = plan(writeConfig(cfg));
    assert.not.ok(r.ok);
    assert.ok(
      r.items.every((d) => d.code === 'PD4006'),
      r.text,
    );
    assert.match(r.text, re);
  }
});

test('bad JSON points at file:line:col (PD4002); a missing file is PD4001', () => {
  const file = writeConfig(undefined, '{\n  "in_channels": 4,\n  "out_channels": ,\n}\n');
  const r = plan(file);
  assert.equal(
    r.items.map((d) => d.code),
    ['PD4002'],
  );
  assert.ok(r.text.startsWith(`${file}:3:19: error PD4002: config is not valid JSON`), r.text);
  assert.match(plan(writeConfig(undefined, '[1, 2]')).text, /PD4002: config must be a JSON object/);
  assert.match(plan(path.join(tmp, 'absent.json')).text, /PD4001: config file not found/);
});

test('usage errors: missing --out, bad flag values, unknown subcommand (PD3001)', async () => {
  const cfg = path.join(TEST_CONFIGS, 'unet-tiny.json');
  for (const argv of [
    ['build', cfg],
    ['build', cfg, '--out', path.join(tmp, 'x'), '--weights', 'zeros'],
    ['build', cfg, '--out', path.join(tmp, 'x'), '--seed', '-3'],
    ['build', cfg, '--out', path.join(tmp, 'x'), '--dtype', 'bfloat16'],
    ['build', cfg, '--out', path.join(tmp, 'x'), '--opset', '13'],
    ['build', cfg, '--out', path.join(tmp, 'x'), '--bogus'],
    ['build', cfg, '--out', path.join(tmp, 'x'), '--external-data', 'model.onnx'],
    ['build', '--out', path.join(tmp, 'x')],
    ['frobnicate'],
    [],
  ]) {
    const r = await cli(...argv);
    assert.is(r.status, Exit.Usage, argv.join(' '));
    assert.equal(r.codes, ['PD3001'], `${argv.join(' ')}: ${r.text}`);
  }
  assert.match((await cli('build', cfg)).text, /--out DIR is required/);
  assert.not.ok(fs.existsSync(path.join(tmp, 'x')));
});

test('a refused config writes nothing: the output folder is not even created', async () => {
  const out = path.join(tmp, 'never');
  const r = await cli('build', writeConfig({ ...tiny(), upcast_attention: true }), '--out', out);
  assert.is(r.status, Exit.Error, r.text);
  assert.equal(r.codes, ['PD4004']);
  assert.not.ok(fs.existsSync(out));
});

test('a write failure leaves no partial files (PD1012)', async () => {
  const blocker = path.join(tmp, 'blocker');
  fs.writeFileSync(blocker, 'a file where the output folder should be');
  const r = await cli('build', path.join(TEST_CONFIGS, 'vae-decoder-tiny.json'), '--out', path.join(blocker, 'sub'));
  assert.is(r.status, Exit.Error);
  assert.equal(r.codes, ['PD1012']);
  assert.equal(
    fs.readdirSync(tmp).filter((f) => f.includes('partial')),
    [],
  );
});

test('through the CLI: `pocketdiff models build` prints located diagnostics and exits with the error status', async () => {
  let err = '';
  let out = '';
  const io = { stdout: (t: string) => (out += t), stderr: (t: string) => (err += t + '\n') };
  const bad = writeConfig({ ...tiny(), resnet_time_scale_shift: 'scale_shift' });
  assert.is(await main(['models', 'build', bad, '--out', path.join(tmp, 'cli-bad')], io), Exit.Error);
  assert.match(
    err,
    new RegExp(
      `${bad.replace(/[.\\/]/g, '\\$&')}:\\d+:3: error PD4004: UNet2DConditionModel config key 'resnet_time_scale_shift'`,
    ),
  );
  const dir = path.join(tmp, 'cli-ok');
  assert.is(
    await main(
      ['models', 'build', path.join(TEST_CONFIGS, 'vae-decoder-tiny.json'), '--out', dir, '--weights', 'none'],
      io,
    ),
    Exit.Ok,
  );
  assert.match(out, /wrote .*cli-ok\/model\.onnx \(AutoencoderKL, weights none/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();

// The CLIP towers a CLIP score needs: transformers' CLIPTextModelWithProjection
// and CLIPVisionModelWithProjection. Parameter counts of ViT-L/14 from a formula
// written out here; numerics of the tiny towers (onnxruntime-node) against an
// independent numpy implementation of the transformers forward (REFERENCE below,
// run with Debian's python3, python3-numpy and python3-onnx); refused configs;
// detection from architectures and model_type.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildGraph, DEFAULT_BUILD, planModel, writeModel } from '../src/builder/build.ts';
import { DiagnosticLog, formatDiagnostic, type Diagnostic } from '../src/diagnostics.ts';
import type { Graph } from '../src/ir/graph.ts';
import { ROOT, runModel, TEST_CONFIGS, tinyClipTowers, uniform, values } from './support/builder-fixtures.ts';
import { tempDir } from './support/temp.ts';

const test = suite('builder clip');
const tmp = tempDir('pd-builder-clip-');
const PYTHON = '/usr/bin/python3';
const L14 = path.join(ROOT, 'models', 'clip-vit-l14');
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
let n = 0;

function writeConfig(value: unknown): string {
  const file = path.join(tmp, `config-${++n}.json`);
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

function plan(file: string): { kind?: string; items: Diagnostic[]; text: string } {
  const log = new DiagnosticLog();
  const p = planModel(file, log);
  return { kind: p?.model.kind, items: log.items, text: log.items.map(formatDiagnostic).join('\n') };
}

function graphOnly(file: string): Graph {
  const log = new DiagnosticLog();
  const planned = planModel(file, log);
  assert.ok(planned, log.items.map(formatDiagnostic).join('\n'));
  return buildGraph(planned, { weights: 'none', seed: 0, dtype: 'float32', opset: 14 });
}

// ---- parameter counts, from the architecture (transformers modeling_clip.py) ----

const linear = (i: number, o: number, bias = true) => i * o + (bias ? o : 0);
const norm = (c: number) => 2 * c;

/** CLIPEncoder: per layer layer_norm1, q/k/v/out_proj (with bias), layer_norm2, fc1, fc2. */
function encoderParams(cfg: Record<string, number>): number {
  const d = cfg.hidden_size;
  const layer =
    norm(d) + 4 * linear(d, d) + norm(d) + linear(d, cfg.intermediate_size) + linear(cfg.intermediate_size, d);
  return cfg.num_hidden_layers * layer;
}

/** CLIPTextModelWithProjection: token + position embeddings, encoder, final_layer_norm, text_projection (no bias). */
function textParams(cfg: Record<string, number>): number {
  const d = cfg.hidden_size;
  return (
    cfg.vocab_size * d +
    cfg.max_position_embeddings * d +
    encoderParams(cfg) +
    norm(d) +
    linear(d, cfg.projection_dim, false)
  );
}

/**
 * CLIPVisionModelWithProjection: class_embedding, patch_embedding (Conv, no bias), position embedding
 * ((image / patch)² + 1 rows), pre_layrnorm, encoder, post_layernorm, visual_projection (no bias).
 */
function visionParams(cfg: Record<string, number>): number {
  const d = cfg.hidden_size;
  const positions = (cfg.image_size / cfg.patch_size) ** 2 + 1;
  const embeddings = d + cfg.num_channels * cfg.patch_size ** 2 * d + positions * d;
  return embeddings + norm(d) + encoderParams(cfg) + norm(d) + linear(d, cfg.projection_dim, false);
}

const paramCount = (g: Graph) => g.weights.reduce((s, w) => s + w.weight!.dims.reduce((a, b) => a * b, 1), 0);

test("ViT-L/14 towers built graph-only have the formula's parameter counts (304.0M vision, 123.7M text)", () => {
  // Published: CLIP ViT-L/14's vision tower with projection ≈ 304.0M, its text tower with projection
  // ≈ 123.7M; transformers' CLIPModel for openai/clip-vit-large-patch14 (both towers + the scalar
  // logit_scale) counts 427,616,513, and without the 768×768 projection the text tower is the SD v1.5
  // text encoder's 123,060,480 (models/README.md).
  const text = textParams(readJson(path.join(L14, 'text_encoder.json')));
  const vision = visionParams(readJson(path.join(L14, 'vision.json')));
  assert.is(text, 123_650_304);
  assert.is(vision, 303_966_208);
  assert.is(text + vision + 1, 427_616_513);
  assert.is(text - 768 * 768, 123_060_480);
  assert.is(paramCount(graphOnly(path.join(L14, 'text_encoder.json'))), text);
  assert.is(paramCount(graphOnly(path.join(L14, 'vision.json'))), vision);
});

test('ViT-L/14 interface: names and shapes of inputs and outputs, state_dict names, module scopes', () => {
  const io = (g: Graph) => ({
    inputs: g.inputs.map((v) => [v.name, v.type?.shape]),
    outputs: g.outputs.map((v) => [v.name, v.type?.shape]),
  });
  const vision = graphOnly(path.join(L14, 'vision.json'));
  assert.equal(io(vision), {
    inputs: [['pixel_values', ['batch_size', 3, 224, 224]]],
    outputs: [
      ['image_embeds', ['batch_size', 768]],
      ['last_hidden_state', ['batch_size', 257, 1024]],
    ],
  });
  const text = graphOnly(path.join(L14, 'text_encoder.json'));
  assert.equal(io(text), {
    inputs: [['input_ids', ['batch_size', 'sequence_length']]],
    outputs: [
      ['text_embeds', ['batch_size', 768]],
      ['last_hidden_state', ['batch_size', 'sequence_length', 768]],
    ],
  });
  // Named initializers in state_dict order; Linear weights are folded (transposed) `onnx::MatMul_n` as torch.onnx writes them.
  const named = vision.weights.map((w) => w.name).filter((s) => !s.startsWith('onnx::'));
  assert.equal(named.slice(0, 7), [
    'vision_model.embeddings.class_embedding',
    'vision_model.embeddings.patch_embedding.weight',
    'vision_model.embeddings.position_embedding.weight',
    'vision_model.pre_layrnorm.weight',
    'vision_model.pre_layrnorm.bias',
    'vision_model.encoder.layers.0.self_attn.k_proj.bias',
    'vision_model.encoder.layers.0.self_attn.v_proj.bias',
  ]);
  assert.equal(named.slice(-2), ['vision_model.post_layernorm.weight', 'vision_model.post_layernorm.bias']);
  assert.is(vision.weights.filter((w) => w.name.startsWith('onnx::MatMul_')).length, 24 * 6 + 1);
  const nodes = (g: Graph) => new Set(g.nodes().map((x) => x.name));
  for (const name of [
    '/vision_model/embeddings/patch_embedding/Conv',
    '/vision_model/pre_layrnorm/ReduceMean',
    '/vision_model/encoder/layers.23/self_attn/q_proj/MatMul',
    '/vision_model/encoder/layers.23/mlp/activation_fn/Sigmoid',
    '/vision_model/post_layernorm/Sqrt',
    '/visual_projection/MatMul',
  ]) {
    assert.ok(nodes(vision).has(name), name);
  }
  assert.ok(nodes(text).has('/text_projection/MatMul'));
  // No causal mask in the vision tower: the only Adds in self_attn are the four projections' biases (the text tower adds the mask too).
  const attnAdds = (g: Graph) => g.nodes().filter((x) => x.op === 'Add' && x.scope.endsWith('self_attn')).length;
  assert.is(attnAdds(vision), 0);
  assert.is(attnAdds(text), 12);
  assert.is(
    vision.nodes().filter((x) => x.op === 'Add' && /self_attn\.(q|k|v|out)_proj$/.test(x.scope)).length,
    24 * 4,
  );
});

// ---- numerics against the numpy reference ----

/**
 * transformers' CLIPTextModelWithProjection / CLIPVisionModelWithProjection forward (eager attention),
 * in float64 numpy, from the HF config (CLIPTextConfig / CLIPVisionConfig defaults) and the ONNX
 * file's initializers only: named parameters by their state_dict name; the weights of Linear layers
 * applied with MatMul are stored by torch.onnx as their transpose under `onnx::MatMul_<n>`, n counting
 * up in trace order, so they are named back in the order the forward calls those Linears.
 * stdin: a JSON list of {kind, config, model, input, dims}; stdout: a JSON list of {output: flat values}.
 */
const REFERENCE = String.raw`
import json, math, sys
import numpy as np
import onnx
from onnx import numpy_helper

TEXT = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, projection_dim=512, num_hidden_layers=12,
            num_attention_heads=8, max_position_embeddings=77, hidden_act='quick_gelu', layer_norm_eps=1e-5, eos_token_id=49407)
VISION = dict(hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12, num_attention_heads=12,
              num_channels=3, image_size=224, patch_size=32, hidden_act='quick_gelu', layer_norm_eps=1e-5)
ACT = {'quick_gelu': lambda x: x * (1 / (1 + np.exp(-1.702 * x))),
       'gelu': lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))}

def state_dict(model, prefix, cfg, projection):
    init = onnx.load(model).graph.initializer
    sd = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in init if not t.name.startswith('onnx::')}
    folded = sorted((t for t in init if t.name.startswith('onnx::MatMul_')), key=lambda t: int(t.name.rsplit('_', 1)[1]))
    d, inter = cfg['hidden_size'], cfg['intermediate_size']
    linears = []
    for i in range(cfg['num_hidden_layers']):
        p = f'{prefix}.encoder.layers.{i}'
        linears += [(f'{p}.self_attn.{m}', d, d) for m in ('q_proj', 'k_proj', 'v_proj', 'out_proj')]
        linears += [(f'{p}.mlp.fc1', inter, d), (f'{p}.mlp.fc2', d, inter)]
    linears.append((projection, cfg['projection_dim'], d))
    assert len(folded) == len(linears), (len(folded), len(linears))
    for (name, out, inp), t in zip(linears, folded):
        w = numpy_helper.to_array(t).astype(np.float64).T
        assert w.shape == (out, inp), (name, w.shape)
        sd[name + '.weight'] = w
    return sd

def linear(sd, name, x):
    y = x @ sd[name + '.weight'].T
    return y + sd[name + '.bias'] if name + '.bias' in sd else y

def layer_norm(sd, name, x, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * sd[name + '.weight'] + sd[name + '.bias']

def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

def attention(sd, name, x, mask, heads):
    b, s, d = x.shape
    hd = d // heads
    split = lambda t: t.reshape(b, s, heads, hd).transpose(0, 2, 1, 3)
    q = split(linear(sd, name + '.q_proj', x) * hd ** -0.5)
    k = split(linear(sd, name + '.k_proj', x))
    v = split(linear(sd, name + '.v_proj', x))
    w = q @ k.transpose(0, 1, 3, 2)
    if mask is not None:
        w = w + mask
    o = (softmax(w) @ v).transpose(0, 2, 1, 3).reshape(b, s, d)
    return linear(sd, name + '.out_proj', o)

def encoder(sd, prefix, h, mask, cfg):
    eps, act = cfg['layer_norm_eps'], ACT[cfg['hidden_act']]
    for i in range(cfg['num_hidden_layers']):
        p = f'{prefix}.encoder.layers.{i}'
        h = h + attention(sd, p + '.self_attn', layer_norm(sd, p + '.layer_norm1', h, eps), mask, cfg['num_attention_heads'])
        m = layer_norm(sd, p + '.layer_norm2', h, eps)
        h = h + linear(sd, p + '.mlp.fc2', act(linear(sd, p + '.mlp.fc1', m)))
    return h

def text(case):
    cfg = {**TEXT, **json.load(open(case['config']))}
    sd = state_dict(case['model'], 'text_model', cfg, 'text_projection')
    ids = np.array(case['input'], dtype=np.int64).reshape(case['dims'])
    b, s = ids.shape
    h = sd['text_model.embeddings.token_embedding.weight'][ids] + sd['text_model.embeddings.position_embedding.weight'][:s]
    mask = np.triu(np.full((s, s), float(np.finfo(np.float32).min)), 1)
    last = layer_norm(sd, 'text_model.final_layer_norm', encoder(sd, 'text_model', h, mask, cfg), cfg['layer_norm_eps'])
    eos = cfg['eos_token_id']
    col = ids.argmax(-1) if eos == 2 else (ids == eos).astype(np.int64).argmax(-1)
    pooled = last[np.arange(b), col]
    return {'text_embeds': linear(sd, 'text_projection', pooled), 'last_hidden_state': last}

def vision(case):
    cfg = {**VISION, **json.load(open(case['config']))}
    sd = state_dict(case['model'], 'vision_model', cfg, 'visual_projection')
    x = np.array(case['input'], dtype=np.float64).reshape(case['dims'])
    b, c, size, _ = x.shape
    p, d, eps = cfg['patch_size'], cfg['hidden_size'], cfg['layer_norm_eps']
    g = size // p
    patches = x.reshape(b, c, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, g * g, c * p * p)
    embeds = patches @ sd['vision_model.embeddings.patch_embedding.weight'].reshape(d, -1).T
    cls = np.broadcast_to(sd['vision_model.embeddings.class_embedding'], (b, 1, d))
    h = np.concatenate([cls, embeds], 1) + sd['vision_model.embeddings.position_embedding.weight'][None]
    h = layer_norm(sd, 'vision_model.pre_layrnorm', h, eps)
    last = encoder(sd, 'vision_model', h, None, cfg)
    pooled = layer_norm(sd, 'vision_model.post_layernorm', last[:, 0, :], eps)
    return {'image_embeds': linear(sd, 'visual_projection', pooled), 'last_hidden_state': last}

out = [{k: v.ravel().tolist() for k, v in (text if c['kind'] == 'text' else vision)(c).items()} for c in json.load(sys.stdin)]
json.dump(out, sys.stdout)
`;

interface Case {
  kind: 'text' | 'vision';
  config: string;
  model: string;
  input: number[];
  dims: number[];
}

function reference(cases: Case[]): Record<string, number[]>[] {
  const r = spawnSync(PYTHON, ['-c', REFERENCE], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message} (apt-get install python3-numpy python3-onnx)`);
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Largest |got − want| over the largest |want|: the error relative to the output's scale. */
function relativeError(got: number[], want: number[]): number {
  assert.is(got.length, want.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < got.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

function build(config: string, name: string): string {
  const log = new DiagnosticLog();
  const p = planModel(config, log);
  const file = p && writeModel(p, path.join(tmp, name), { ...DEFAULT_BUILD }, log);
  assert.ok(file, log.items.map(formatDiagnostic).join('\n'));
  return file!;
}

/**
 * Two prompts of 16 tokens below 400, a 500 at column 4 + 5·row and a 999 three columns later:
 * legacy pooling (eos_token_id 2, the largest id) takes the 999, eos_token_id 500 takes the 500.
 */
const IDS = Array.from({ length: 2 * 16 }, (_, i) => {
  const [row, col] = [Math.floor(i / 16), i % 16];
  if (col === 0) return 0;
  if (col === 4 + 5 * row) return 500;
  if (col === 7 + 5 * row) return 999;
  return 3 + ((i * 37) % 397);
});
const PIXELS = Array.from(uniform(2 * 3 * 32 * 32, 7));

test('tiny towers match the numpy transformers forward (max relative error ≤ 1e-4), both poolings, both activations', async () => {
  const towers = tinyClipTowers(tmp);
  const textCfg = path.join(TEST_CONFIGS, 'clip-text-tiny.json');
  const visionCfg = path.join(TEST_CONFIGS, 'clip-vision-tiny.json');
  // Variants: pooling at the first eos_token_id (not the largest id), and exact-erf gelu.
  const eosCfg = writeConfig({ ...readJson(textCfg), eos_token_id: 500 });
  const geluCfg = writeConfig({ ...readJson(visionCfg), hidden_act: 'gelu' });
  const cases: Case[] = [
    { kind: 'text', config: textCfg, model: towers.text, input: IDS, dims: [2, 16] },
    { kind: 'vision', config: visionCfg, model: towers.vision, input: PIXELS, dims: [2, 3, 32, 32] },
    { kind: 'text', config: eosCfg, model: build(eosCfg, 'eos'), input: IDS, dims: [2, 16] },
    { kind: 'vision', config: geluCfg, model: build(geluCfg, 'gelu'), input: PIXELS, dims: [2, 3, 32, 32] },
  ];
  const want = reference(cases);
  const shapes: Record<string, number[][]> = {
    text: [
      [2, 16],
      [2, 16, 32],
    ],
    vision: [
      [2, 16],
      [2, 17, 48],
    ],
  };
  for (const [i, c] of cases.entries()) {
    const feeds: Record<string, ort.Tensor> =
      c.kind === 'text'
        ? { input_ids: new ort.Tensor('int64', BigInt64Array.from(c.input, BigInt), c.dims) }
        : { pixel_values: new ort.Tensor('float32', Float32Array.from(c.input), c.dims) };
    const got = await runModel(c.model, feeds);
    const names = c.kind === 'text' ? ['text_embeds', 'last_hidden_state'] : ['image_embeds', 'last_hidden_state'];
    assert.equal(Object.keys(got), names);
    assert.equal(
      names.map((k) => got[k].dims),
      shapes[c.kind],
    );
    assert.equal(Object.keys(want[i]), names);
    for (const k of names) {
      const ref = want[i][k];
      // A live reference: not near zero, and the two inputs of the batch differ.
      assert.ok(Math.max(...ref.map(Math.abs)) > 0.1, `${c.kind} ${k}: reference is near zero`);
      assert.not.equal(ref.slice(0, ref.length / 2), ref.slice(ref.length / 2), `${c.kind} ${k}: batch rows equal`);
      const err = relativeError(values(got[k]), ref);
      assert.ok(err <= 1e-4, `${path.basename(c.config)} ${k}: max relative error ${err.toExponential(2)}`);
    }
  }
  // The two poolings pick different tokens, so the embeddings differ.
  assert.not.equal(want[0].text_embeds, want[2].text_embeds);
});

// ---- refused configs ----

test('vision configs: heads that do not divide hidden_size (PD4006) and image_size not a multiple of patch_size (PD4004), located', () => {
  const tiny = readJson(path.join(TEST_CONFIGS, 'clip-vision-tiny.json'));
  const heads = writeConfig({ ...tiny, num_attention_heads: 5 });
  let r = plan(heads);
  assert.is(r.kind, undefined);
  assert.equal(
    r.items.map((d) => d.code),
    ['PD4006'],
  );
  const lineOf = (file: string, key: string) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .findIndex((l) => l.includes(`"${key}"`)) + 1;
  assert.ok(
    r.text.includes(
      `${heads}:${lineOf(heads, 'num_attention_heads')}:3: error PD4006: 5 attention heads do not divide hidden_size 48`,
    ),
    r.text,
  );
  const image = writeConfig({ ...tiny, image_size: 30 });
  r = plan(image);
  assert.equal(
    r.items.map((d) => d.code),
    ['PD4004'],
  );
  assert.ok(
    r.text.includes(
      `${image}:${lineOf(image, 'image_size')}:3: error PD4004: image_size 30 is not a multiple of patch_size 8`,
    ),
    r.text,
  );
  // Both at once: both reported.
  assert.equal(
    plan(writeConfig({ ...tiny, num_attention_heads: 5, image_size: 30 })).items.map((d) => d.code),
    ['PD4006', 'PD4004'],
  );
  // Keys are checked against CLIPVisionConfig: a text key is unknown here, a bad activation unsupported.
  r = plan(writeConfig({ ...tiny, vocab_size: 1000 }));
  assert.equal(
    r.items.map((d) => d.code),
    ['PD4005'],
  );
  assert.match(r.text, /unknown CLIPVisionModelWithProjection config key 'vocab_size'/);
  assert.match(
    plan(writeConfig({ ...tiny, hidden_act: 'relu' })).text,
    /PD4004: CLIPVisionModelWithProjection config key 'hidden_act' = "relu"/,
  );
  // The text tower with projection refuses as CLIPTextModel does, under its own class name.
  const text = readJson(path.join(TEST_CONFIGS, 'clip-text-tiny.json'));
  assert.match(
    plan(writeConfig({ ...text, num_attention_heads: 5 })).text,
    /PD4006: 5 attention heads do not divide hidden_size 32/,
  );
  assert.match(
    plan(writeConfig({ ...text, image_size: 224 })).text,
    /PD4005: unknown CLIPTextModelWithProjection config key 'image_size'/,
  );
});

// ---- detection ----

test('detects both classes from architectures, and from model_type or the keys when architectures is absent', () => {
  const text = readJson(path.join(TEST_CONFIGS, 'clip-text-tiny.json'));
  const vision = readJson(path.join(TEST_CONFIGS, 'clip-vision-tiny.json'));
  const cases: [unknown, string][] = [
    [text, 'clip_projection'],
    [vision, 'clip_vision'],
    [readJson(path.join(L14, 'text_encoder.json')), 'clip_projection'],
    [readJson(path.join(L14, 'vision.json')), 'clip_vision'],
    [{ ...text, architectures: ['CLIPTextModel'] }, 'clip'],
    [{ ...vision, architectures: ['CLIPVisionModelWithProjection'], model_type: undefined }, 'clip_vision'],
    [{ ...vision, architectures: undefined }, 'clip_vision'],
    [{ ...vision, architectures: undefined, model_type: undefined }, 'clip_vision'],
    // model_type names no projection: a text config without architectures is CLIPTextModel.
    [{ ...text, architectures: undefined }, 'clip'],
  ];
  for (const [cfg, kind] of cases) {
    const r = plan(writeConfig(cfg));
    assert.is(r.kind, kind, `${JSON.stringify(cfg).slice(0, 120)}\n${r.text}`);
  }
  const refused = plan(writeConfig({ ...vision, architectures: ['CLIPVisionModel'] }));
  assert.equal(
    refused.items.map((d) => d.code),
    ['PD4003'],
  );
  assert.match(
    refused.text,
    /architectures \["CLIPVisionModel"\] name no model the builder implements; .*CLIPVisionModelWithProjection \(clip_vision\)/,
  );
  assert.match(
    plan(writeConfig({ ...vision, architectures: undefined, model_type: 'clip' })).text,
    /PD4003: model_type "clip"/,
  );
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();

// Parameter counts derived from the architecture, layer by layer, independently
// of the builder: the arithmetic of diffusers' UNet2DConditionModel.__init__
// written out once more here. The formula must give SD v1.5's published count
// (859,520,964, also the fixture's), and then SD 2.1-base's, which diffusers
// reports as 865,910,724; the built graphs must agree block for block.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findBlocks } from '../src/blocks/find.ts';
import { buildGraph, planModel } from '../src/builder/build.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { ROOT } from './support/builder-fixtures.ts';

const test = suite('builder params');

const conv = (cin: number, cout: number, k: number) => cout * cin * k * k + cout;
const linear = (i: number, o: number, bias = true) => i * o + (bias ? o : 0);
const norm = (c: number) => 2 * c;

function resnet(cin: number, cout: number, temb: number): number {
  return (
    norm(cin) +
    conv(cin, cout, 3) +
    linear(temb, cout) +
    norm(cout) +
    conv(cout, cout, 3) +
    (cin !== cout ? conv(cin, cout, 1) : 0)
  );
}

function transformer(c: number, cross: number, linearProjection: boolean): number {
  const proj = linearProjection ? linear(c, c) : conv(c, c, 1);
  const attn1 = 3 * linear(c, c, false) + linear(c, c);
  const attn2 = linear(c, c, false) + 2 * linear(cross, c, false) + linear(c, c);
  const ff = linear(c, 8 * c) + linear(4 * c, c);
  return norm(c) + 2 * proj + 3 * norm(c) + attn1 + attn2 + ff;
}

/** Params per diffusers module path, from a UNet config. */
function unetParams(cfg: Record<string, any>): Map<string, number> {
  const ch: number[] = cfg.block_out_channels;
  const layers: number = cfg.layers_per_block;
  const cross: number = cfg.cross_attention_dim;
  const lin = !!cfg.use_linear_projection;
  const temb = 4 * ch[0];
  const out = new Map<string, number>();
  out.set('conv_in', conv(cfg.in_channels, ch[0], 3));
  out.set('time_embedding', linear(ch[0], temb) + linear(temb, temb));
  let prev = ch[0];
  const skips = [ch[0]];
  cfg.down_block_types.forEach((type: string, i: number) => {
    for (let j = 0; j < layers; j++) {
      out.set(`down_blocks.${i}.resnets.${j}`, resnet(j === 0 ? prev : ch[i], ch[i], temb));
      if (type.startsWith('CrossAttn')) out.set(`down_blocks.${i}.attentions.${j}`, transformer(ch[i], cross, lin));
      skips.push(ch[i]);
    }
    if (i < ch.length - 1) {
      out.set(`down_blocks.${i}.downsamplers.0`, conv(ch[i], ch[i], 3));
      skips.push(ch[i]);
    }
    prev = ch[i];
  });
  const top = ch[ch.length - 1];
  out.set('mid_block.resnets.0', resnet(top, top, temb));
  out.set('mid_block.attentions.0', transformer(top, cross, lin));
  out.set('mid_block.resnets.1', resnet(top, top, temb));
  const rev = [...ch].reverse();
  cfg.up_block_types.forEach((type: string, i: number) => {
    for (let j = 0; j <= layers; j++) {
      const skip = skips.pop()!;
      out.set(`up_blocks.${i}.resnets.${j}`, resnet(prev + skip, rev[i], temb));
      if (type.startsWith('CrossAttn')) out.set(`up_blocks.${i}.attentions.${j}`, transformer(rev[i], cross, lin));
      prev = rev[i];
    }
    if (i < ch.length - 1) out.set(`up_blocks.${i}.upsamplers.0`, conv(rev[i], rev[i], 3));
  });
  out.set('conv_norm_out', norm(ch[0]));
  out.set('conv_out', conv(ch[0], cfg.out_channels, 3));
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const config = (model: string) => JSON.parse(fs.readFileSync(path.join(ROOT, 'models', model, 'unet.json'), 'utf8'));

function builtBlocks(model: string): Map<string, number> {
  const log = new DiagnosticLog();
  const planned = planModel(path.join(ROOT, 'models', model, 'unet.json'), log);
  assert.ok(planned, log.items.map(formatDiagnostic).join('\n'));
  const g = buildGraph(planned, { weights: 'none', seed: 0, dtype: 'float32', opset: 14 });
  assert.is(
    g.weights.reduce((s, w) => s + w.weight!.dims.reduce((a, b) => a * b, 1), 0),
    sum(unetParams(config(model))),
  );
  return new Map(findBlocks(g).blocks.map((b) => [b.name, b.params]));
}

test('the formula gives SD v1.5 UNet its published 859,520,964', () => {
  assert.is(sum(unetParams(config('sd15'))), 859_520_964);
});

test('the formula gives SD 2.1-base UNet 865,910,724, what diffusers reports', () => {
  const sd21 = unetParams(config('sd21-base'));
  assert.is(sum(sd21), 865_910_724);
  // Cross-check: only attn2's to_k/to_v grow (768 → 1024 inputs); linear proj_in/out have the conv's count.
  const transformers = [...sd21.keys()].filter((k) => k.includes('attentions'));
  const widths = transformers.map((k) => sd21.get(k)! - unetParams(config('sd15')).get(k)!);
  assert.is(
    widths.reduce((a, b) => a + b, 0),
    865_910_724 - 859_520_964,
  );
});

for (const model of ['sd15', 'sd21-base']) {
  test(`${model}: built UNet blocks have the formula's params, block for block`, () => {
    const built = builtBlocks(model);
    const formula = unetParams(config(model));
    assert.equal([...built.keys()].sort(), [...formula.keys()].sort());
    for (const [k, v] of formula) assert.is(built.get(k), v, k);
  });
}

test('SD 2.1-base: 23-layer OpenCLIP ViT-H text encoder has 340,387,840 params', () => {
  const log = new DiagnosticLog();
  const planned = planModel(path.join(ROOT, 'models', 'sd21-base', 'text_encoder.json'), log);
  assert.ok(planned);
  const g = buildGraph(planned, { weights: 'none', seed: 0, dtype: 'float32', opset: 14 });
  const d = 1024;
  const layer = norm(d) + 4 * linear(d, d) + norm(d) + linear(d, 4096) + linear(4096, d);
  const expected = 49408 * d + 77 * d + 23 * layer + norm(d);
  assert.is(expected, 340_387_840);
  assert.is(
    findBlocks(g).blocks.reduce((s, b) => s + b.params, 0),
    expected,
  );
  // gelu (exact, Erf) rather than quick_gelu
  assert.is(g.nodes().filter((n) => n.op === 'Erf').length, 23);
});

test.run();

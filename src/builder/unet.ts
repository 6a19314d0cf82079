// UNet2DConditionModel.forward, traced. Inputs and outputs follow optimum's
// UNetOnnxConfig of the diffusers-0.27 era:
//   sample [batch_size, C, height, width] · timestep int64 [steps] ·
//   encoder_hidden_states [batch_size, sequence_length, D]  →  out_sample
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import type { BlockPlan, UNetPlan } from './config/unet.ts';
import { conv2d, groupNorm, linear2d, silu } from './layers.ts';
import { downsample, resnet, upsample, type ResnetSpec, type TembCache } from './resnet.ts';
import { cast, size } from './tensor-ops.ts';
import { attr, type Tracer } from './trace.ts';
import { transformer2d } from './transformer.ts';

export function buildUNet(t: Tracer, p: UNetPlan): void {
  const f = t.float;
  const sample = t.input('sample', { dtype: f, shape: ['batch_size', p.inChannels, 'height', 'width'] });
  const timestep = t.input('timestep', { dtype: DataType.INT64, shape: ['steps'] });
  const context = t.input('encoder_hidden_states', { dtype: f, shape: ['batch_size', 'sequence_length', p.crossDim] });

  // timesteps.expand(sample.shape[0]), then the sinusoidal projection.
  const steps = expandToBatch(t, timestep, size(t, sample, 0));
  const tEmb = cast(
    t,
    t.module('time_proj', () => timestepEmbedding(t, steps, p)),
    f,
  );
  const emb = t.module('time_embedding', () => {
    const h = linear2d(t, 'linear_1', tEmb, p.c0, p.temb);
    return linear2d(t, 'linear_2', silu(t, 'act', h), p.temb, p.temb);
  });
  const temb: TembCache = { temb: emb };

  let x = conv2d(t, 'conv_in', sample, { cin: p.inChannels, cout: p.c0, kernel: p.convInKernel });
  const skips: Value[] = [x];
  const spec = (cin: number, cout: number, scale: number): ResnetSpec => ({
    cin,
    cout,
    groups: p.groups,
    eps: p.eps,
    outputScale: scale,
    act: 'act',
    tembChannels: p.temb,
  });
  const attend = (name: string, h: Value, a: BlockPlan['attentions'][number]) =>
    transformer2d(t, name, h, context, {
      channels: a.channels,
      heads: a.heads,
      dimHead: a.dimHead,
      layers: a.layers,
      crossDim: p.crossDim,
      groups: p.groups,
      linearProjection: p.linearProjection,
    });

  for (const b of p.down) {
    x = t.module(b.name, () => {
      let h = x;
      b.resnets.forEach((r, j) => {
        h = resnet(t, r.name, h, spec(r.cin, r.cout, p.resnetScale), temb);
        if (b.attentions[j]) h = attend(b.attentions[j].name, h, b.attentions[j]);
        skips.push(h);
      });
      if (b.sampler !== undefined) {
        h = downsample(t, 'downsamplers.0', h, b.sampler, p.downsamplePadding);
        skips.push(h);
      }
      return h;
    });
  }
  x = t.module('mid_block', () => {
    const [r0, r1] = p.mid.resnets;
    let h = resnet(t, r0.name, x, spec(r0.cin, r0.cout, p.midScale), temb);
    h = attend(p.mid.attention.name, h, p.mid.attention);
    return resnet(t, r1.name, h, spec(r1.cin, r1.cout, p.midScale), temb);
  });
  for (const b of p.up) {
    x = t.module(b.name, () => {
      let h = x;
      b.resnets.forEach((r, j) => {
        h = t.op('Concat', [h, skips.pop()!], [attr.int('axis', 1)]);
        h = resnet(t, r.name, h, spec(r.cin, r.cout, p.resnetScale), temb);
        if (b.attentions[j]) h = attend(b.attentions[j].name, h, b.attentions[j]);
      });
      if (b.sampler !== undefined) h = upsample(t, 'upsamplers.0', h, b.sampler);
      return h;
    });
  }
  x = groupNorm(t, 'conv_norm_out', x, { groups: p.groups, channels: p.c0, eps: p.eps });
  // conv_act is diffusers' shared SiLU instance, whose traced name is `act`.
  x = silu(t, 'act', x);
  x = conv2d(t, 'conv_out', x, { cin: p.c0, cout: p.outChannels, kernel: p.convOutKernel });
  t.output(x, 'out_sample', { dtype: f, shape: ['batch_size', p.outChannels, 'height', 'width'] });
}

/**
 * `timesteps.expand(batch)`: the size list, and expand's -1 handling
 * (`where(size == -1, 1, size)`), exactly as the symbolic writes them.
 */
function expandToBatch(t: Tracer, timestep: Value, batch: Value): Value {
  const list = t.op('Concat', [t.op('Unsqueeze', [batch, t.int64([0])])], [attr.int('axis', 0)]);
  const shape = t.op('Reshape', [list, t.int64([-1])], [attr.int('allowzero', 0)]);
  const ones = t.op(
    'ConstantOfShape',
    [t.op('Shape', [shape])],
    [attr.tensor('value', { dtype: DataType.INT64, dims: [1], values: [1] })],
  );
  const minus = t.op('Mul', [ones, t.int64(-1)]);
  const fixed = t.op('Where', [t.op('Equal', [shape, minus]), ones, shape]);
  return t.op('Expand', [timestep, fixed]);
}

/** diffusers get_timestep_embedding (max_period 10000, scale 1), in the time_proj scope. */
function timestepEmbedding(t: Tracer, steps: Value, p: UNetPlan): Value {
  const half = p.c0 / 2;
  const ts = cast(t, t.op('Unsqueeze', [steps, t.int64([1])]), DataType.FLOAT);
  const freqs: number[] = [];
  const logMax = Math.fround(-Math.log(10000));
  for (let i = 0; i < half; i++)
    freqs.push(Math.fround(Math.exp(Math.fround(Math.fround(logMax * i) / (half - p.freqShift)))));
  const table = t.constant({ dtype: DataType.FLOAT, dims: [1, half], values: freqs });
  const args = t.op('Mul', [ts, table]);
  let emb = t.op('Concat', [t.op('Sin', [args]), t.op('Cos', [args])], [attr.int('axis', -1)]);
  if (p.flipSinToCos) {
    const slice = (from: number | bigint, to: number | bigint) => {
      const axes = t.int64([1]);
      const starts = t.int64([from]);
      const ends = t.int64([to]);
      return t.op('Slice', [emb, starts, ends, axes, t.int64([1])]);
    };
    const cos = slice(half, 9223372036854775807n);
    const sin = slice(0, half);
    emb = t.op('Concat', [cos, sin], [attr.int('axis', -1)]);
  }
  return emb;
}

// AutoencoderKL.decode, traced: post_quant_conv, then the Decoder
// (conv_in → mid_block (resnet, attention, resnet) → up_blocks → norm, SiLU, conv_out).
// I/O follows optimum's VaeDecoderOnnxConfig: latent_sample → sample.
import type { VaePlan } from './config/vae.ts';
import { attention } from './attention.ts';
import { conv2d, groupNorm, silu } from './layers.ts';
import { resnet, upsample, type ResnetSpec } from './resnet.ts';
import { cast } from './tensor-ops.ts';
import type { Tracer } from './trace.ts';

/** The decoder's GroupNorm and resnet epsilon (hard-coded in diffusers' Decoder). */
const EPS = 1e-6;

export function buildVaeDecoder(t: Tracer, p: VaePlan): void {
  const f = t.float;
  const z = t.input('latent_sample', { dtype: f, shape: ['batch_size', p.latent, 'height_latent', 'width_latent'] });
  const spec = (cin: number, cout: number): ResnetSpec => ({
    cin,
    cout,
    groups: p.groups,
    eps: EPS,
    outputScale: 1,
    act: 'nonlinearity',
  });
  const rch = [...p.channels].reverse();
  const top = rch[0];
  const latent = conv2d(t, 'post_quant_conv', z, { cin: p.latent, cout: p.latent, kernel: 1, pad: 0 });
  const out = t.module('decoder', () => {
    let x = conv2d(t, 'conv_in', latent, { cin: p.latent, cout: top, kernel: 3 });
    x = t.module('mid_block', () => {
      let h = resnet(t, 'resnets.0', x, spec(top, top));
      h = attention(t, 'attentions.0', h, undefined, {
        queryDim: top,
        heads: 1,
        dimHead: top,
        qkvBias: true,
        groupNorm: { groups: p.groups, eps: EPS },
        residual: true,
        rescale: 1,
        upcastSoftmax: true,
        spatial: true,
      });
      return resnet(t, 'resnets.1', h, spec(top, top));
    });
    // sample.to(upscale_dtype)
    x = cast(t, x, f);
    let prev = top;
    rch.forEach((cout, i) => {
      x = t.module(`up_blocks.${i}`, () => {
        let h = x;
        for (let j = 0; j <= p.layersPerBlock; j++) h = resnet(t, `resnets.${j}`, h, spec(j === 0 ? prev : cout, cout));
        if (i < rch.length - 1) h = upsample(t, 'upsamplers.0', h, cout);
        return h;
      });
      prev = cout;
    });
    x = groupNorm(t, 'conv_norm_out', x, { groups: p.groups, channels: p.channels[0], eps: EPS });
    x = silu(t, 'conv_act', x);
    return conv2d(t, 'conv_out', x, { cin: p.channels[0], cout: p.outChannels, kernel: 3 });
  });
  t.output(out, 'sample', { dtype: f, shape: ['batch_size', p.outChannels, 'height', 'width'] });
}

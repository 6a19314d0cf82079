// ResnetBlock2D, Downsample2D and Upsample2D (diffusers 0.27), traced:
//
//   norm1 → act → conv1 [+ time_emb_proj(act(temb))[:, :, None, None]] → norm2 → act → conv2
//   (conv_shortcut(x) or x) + h, then / output_scale_factor
//
// diffusers shares one SiLU instance between modules (get_activation), so every
// call shows up as the scope `act` (UNet) or `nonlinearity` (VAE), numbered
// act, act_1, act_2 within a block. silu(temb) is the same computation in every
// resnet; TorchScript's CSE keeps only the first, in down_blocks.0.resnets.0,
// and the other resnets read it (so their norm2 activation is `act_1`).
import type { Value } from '../ir/graph.ts';
import { conv2d, groupNorm, linear2d, silu, upsampleNearest2x } from './layers.ts';
import { divScalar } from './tensor-ops.ts';
import type { Tracer } from './trace.ts';

export interface ResnetSpec {
  cin: number;
  cout: number;
  groups: number;
  eps: number;
  outputScale: number;
  /** Scope name of the shared activation module: 'act' (UNet) or 'nonlinearity' (VAE). */
  act: string;
  /** Width of the time embedding; undefined when the block takes no temb (VAE). */
  tembChannels?: number;
}

/** The activated time embedding, computed once (CSE) and shared by every resnet. */
export interface TembCache {
  temb: Value;
  activated?: Value;
}

export function resnet(t: Tracer, name: string, x: Value, s: ResnetSpec, temb?: TembCache): Value {
  return t.module(name, () => {
    let h = groupNorm(t, 'norm1', x, { groups: s.groups, channels: s.cin, eps: s.eps });
    h = silu(t, s.act, h);
    h = conv2d(t, 'conv1', h, { cin: s.cin, cout: s.cout, kernel: 3 });
    if (temb && s.tembChannels !== undefined) {
      temb.activated ??= silu(t, s.act, temb.temb);
      const p = linear2d(t, 'time_emb_proj', temb.activated, s.tembChannels, s.cout);
      const u = t.op('Unsqueeze', [t.op('Unsqueeze', [p, t.int64([2])]), t.int64([3])]);
      h = t.op('Add', [h, u]);
    }
    h = groupNorm(t, 'norm2', h, { groups: s.groups, channels: s.cout, eps: s.eps });
    h = silu(t, s.act, h);
    h = conv2d(t, 'conv2', h, { cin: s.cout, cout: s.cout, kernel: 3 });
    const shortcut =
      s.cin !== s.cout ? conv2d(t, 'conv_shortcut', x, { cin: s.cin, cout: s.cout, kernel: 1, pad: 0 }) : x;
    return divScalar(t, t.op('Add', [shortcut, h]), s.outputScale);
  });
}

export function downsample(t: Tracer, name: string, x: Value, channels: number, padding: number): Value {
  return t.module(name, () =>
    conv2d(t, 'conv', x, { cin: channels, cout: channels, kernel: 3, stride: 2, pad: padding }),
  );
}

export function upsample(t: Tracer, name: string, x: Value, channels: number): Value {
  return t.module(name, () => conv2d(t, 'conv', upsampleNearest2x(t, x), { cin: channels, cout: channels, kernel: 3 }));
}

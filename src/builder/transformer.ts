// Transformer2DModel (continuous input) with BasicTransformerBlock and the
// GEGLU FeedForward, as diffusers 0.27 runs them in the UNet:
//
//   norm (GroupNorm, eps 1e-6) → proj_in → [b, h·w, C] → transformer_blocks.N → [b, C, h, w] → proj_out → + input
//   proj_in/proj_out are 1×1 convs, or Linears on tokens with use_linear_projection (SD 2.x)
//   block: x + attn1(norm1(x)); x + attn2(norm2(x), context); x + ff(norm3(x))
//   ff: net.0 = GEGLU (proj, chunk in two by Slice, a · gelu(b)), net.2 = Linear
import type { Value } from '../ir/graph.ts';
import { attention } from './attention.ts';
import { conv2d, gelu, groupNorm, layerNorm, linear3d } from './layers.ts';
import { reshape, size, transpose } from './tensor-ops.ts';
import { attr, type Tracer } from './trace.ts';

export interface TransformerSpec {
  channels: number;
  heads: number;
  dimHead: number;
  layers: number;
  crossDim: number;
  groups: number;
  linearProjection: boolean;
}

export function transformer2d(t: Tracer, name: string, x: Value, context: Value, s: TransformerSpec): Value {
  return t.module(name, () => {
    const inner = s.heads * s.dimHead;
    const b = size(t, x, 0);
    const hh = size(t, x, 2);
    const ww = size(t, x, 3);
    const n = groupNorm(t, 'norm', x, { groups: s.groups, channels: s.channels, eps: 1e-6 });
    let h: Value;
    let innerDim: Value;
    if (!s.linearProjection) {
      const p = conv2d(t, 'proj_in', n, { cin: s.channels, cout: inner, kernel: 1, pad: 0 });
      innerDim = size(t, p, 1);
      const perm = transpose(t, p, [0, 2, 3, 1]);
      h = reshape(t, perm, [b, t.op('Mul', [hh, ww]), innerDim]);
    } else {
      innerDim = size(t, n, 1);
      const perm = transpose(t, n, [0, 2, 3, 1]);
      h = reshape(t, perm, [b, t.op('Mul', [hh, ww]), innerDim]);
      h = linear3d(t, 'proj_in', h, s.channels, inner);
    }
    for (let i = 0; i < s.layers; i++) h = basicBlock(t, `transformer_blocks.${i}`, h, context, s);
    let out: Value;
    if (!s.linearProjection) {
      const back = transpose(t, reshape(t, h, [b, hh, ww, innerDim]), [0, 3, 1, 2]);
      out = conv2d(t, 'proj_out', back, { cin: inner, cout: s.channels, kernel: 1, pad: 0 });
    } else {
      const p = linear3d(t, 'proj_out', h, inner, s.channels);
      out = transpose(t, reshape(t, p, [b, hh, ww, innerDim]), [0, 3, 1, 2]);
    }
    return t.op('Add', [out, x]);
  });
}

function basicBlock(t: Tracer, name: string, x: Value, context: Value, s: TransformerSpec): Value {
  return t.module(name, () => {
    const dim = s.heads * s.dimHead;
    const common = {
      queryDim: dim,
      heads: s.heads,
      dimHead: s.dimHead,
      qkvBias: false,
      residual: false,
      rescale: 1,
      upcastSoftmax: false,
      spatial: false,
    };
    let h = t.op('Add', [attention(t, 'attn1', layerNorm(t, 'norm1', x, dim, 1e-5), undefined, common), x]);
    h = t.op('Add', [
      attention(t, 'attn2', layerNorm(t, 'norm2', h, dim, 1e-5), context, { ...common, crossDim: s.crossDim }),
      h,
    ]);
    return t.op('Add', [feedForward(t, 'ff', layerNorm(t, 'norm3', h, dim, 1e-5), dim), h]);
  });
}

function feedForward(t: Tracer, name: string, x: Value, dim: number): Value {
  return t.module(name, () => {
    const inner = dim * 4;
    const g = t.module('net.0', () => geglu(t, x, dim, inner));
    return linear3d(t, 'net.2', g, inner, dim);
  });
}

/** GEGLU: `h, gate = proj(x).chunk(2, dim=-1); h * gelu(gate)`; chunk on a traced size lowers to two Slices. */
function geglu(t: Tracer, x: Value, dim: number, inner: number): Value {
  const p = linear3d(t, 'proj', x, dim, inner * 2);
  const shape = t.op('Shape', [p]);
  const axis = t.int64([-1]);
  const last = t.op('Gather', [shape, axis], [attr.int('axis', 0)]);
  const start = t.int64([0]);
  const half = t.op('Div', [t.op('Add', [last, t.int64([1])]), t.int64([2])]);
  const mid = t.op('Mul', [half, t.int64([1])]);
  const a = t.op('Slice', [p, start, mid, axis]);
  const end = t.op('Mul', [half, t.int64([2])]);
  const gate = t.op('Slice', [p, mid, end, axis]);
  return t.op('Mul', [a, gelu(t, gate)]);
}

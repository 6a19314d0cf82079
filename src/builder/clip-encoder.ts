// transformers CLIPEncoder (eager attention), shared by the text and vision
// towers: `layers.N` of
//
//   h = x + self_attn(layer_norm1(x))          CLIPAttention: q·scale, bmm, [+ causal mask], softmax, bmm
//   h = h + mlp(layer_norm2(h))                CLIPMLP: fc1, quick_gelu | gelu, fc2
//
// The text tower passes its causal mask; the vision tower passes none, and then
// the attention weights are not reshaped to add it (as transformers skips it).
import type { Value } from '../ir/graph.ts';
import type { ClipEncoderSpec } from './config/clip.ts';
import { gelu, layerNorm, linear3d } from './layers.ts';
import { mulInt, reshape, size, transpose, type Dim } from './tensor-ops.ts';
import { attr, type Tracer } from './trace.ts';

/** The `encoder` module: every layer in turn. */
export function clipEncoder(t: Tracer, x: Value, mask: Value | undefined, p: ClipEncoderSpec): Value {
  return t.module('encoder', () => {
    let h = x;
    for (let i = 0; i < p.layers; i++) h = encoderLayer(t, `layers.${i}`, h, mask, p);
    return h;
  });
}

function encoderLayer(t: Tracer, name: string, x: Value, mask: Value | undefined, p: ClipEncoderSpec): Value {
  return t.module(name, () => {
    const a = selfAttention(t, 'self_attn', layerNorm(t, 'layer_norm1', x, p.hidden, p.eps), mask, p);
    const h = t.op('Add', [x, a]);
    const m = mlp(t, 'mlp', layerNorm(t, 'layer_norm2', h, p.hidden, p.eps), p);
    return t.op('Add', [h, m]);
  });
}

function selfAttention(t: Tracer, name: string, x: Value, mask: Value | undefined, p: ClipEncoderSpec): Value {
  return t.module(name, () => {
    const d = p.hidden;
    const hd = d / p.heads;
    const bsz = size(t, x, 0);
    const tgt = size(t, x, 1);
    const embed = size(t, x, 2);
    const q = t.op('Mul', [linear3d(t, 'q_proj', x, d, d), t.scalar(Math.fround(hd ** -0.5))]);
    const heads = (v: Value, len: Dim) => transpose(t, reshape(t, v, [bsz, len, p.heads, hd]), [0, 2, 1, 3]);
    const k = heads(linear3d(t, 'k_proj', x, d, d), -1);
    const v = heads(linear3d(t, 'v_proj', x, d, d), -1);
    const bh = mulInt(t, bsz, p.heads);
    const qs = reshape(t, heads(q, tgt), [bh, -1, hd]);
    const ks = reshape(t, k, [bh, -1, hd]);
    const vs = reshape(t, v, [bh, -1, hd]);
    const src = mask && size(t, ks, 1);
    let w = t.op('MatMul', [qs, transpose(t, ks, [0, 2, 1])]);
    if (mask && src) w = reshape(t, t.op('Add', [reshape(t, w, [bsz, p.heads, tgt, src]), mask]), [bh, tgt, src]);
    w = t.op('Softmax', [w], [attr.int('axis', -1)]);
    let o = reshape(t, t.op('MatMul', [w, vs]), [bsz, p.heads, tgt, hd]);
    o = reshape(t, transpose(t, o, [0, 2, 1, 3]), [bsz, tgt, embed]);
    return linear3d(t, 'out_proj', o, d, d);
  });
}

function mlp(t: Tracer, name: string, x: Value, p: ClipEncoderSpec): Value {
  return t.module(name, () => {
    const h = linear3d(t, 'fc1', x, p.hidden, p.intermediate);
    const a = t.module('activation_fn', () =>
      p.act === 'gelu' ? gelu(t, h) : t.op('Mul', [h, t.op('Sigmoid', [t.op('Mul', [h, t.scalar(1.702)])])]),
    );
    return linear3d(t, 'fc2', a, p.intermediate, p.hidden);
  });
}

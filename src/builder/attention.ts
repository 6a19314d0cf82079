// diffusers' Attention with AttnProcessor (the processor picked on torch < 2),
// traced op for op:
//
//   [4-D input]  view(b, c, h·w).transpose(1, 2)
//   [group_norm] group_norm(x.transpose(1, 2)).transpose(1, 2)   (the two transposes cancel)
//   to_q / to_k / to_v          MatMul (+ Add bias)
//   head_to_batch_dim ×3        Reshape [b, s, heads, d/heads] → Transpose → Reshape [b·heads, s, d/heads]
//   get_attention_scores        baddbmm(empty, q, kᵀ, beta=0, alpha=scale)
//                               = MatMul(q, kᵀ)·scale + ConstantOfShape(0)·0 → Softmax → Cast
//   bmm(probs, v), batch_to_head_dim, to_out.0 (MatMul + Add)
//   [4-D input]  transpose(-1, -2).reshape(b, c, h, w)
//   [residual]   + input;   / rescale_output_factor
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { groupNorm, linear3d, linearBody } from './layers.ts';
import { cast, divScalar, floorDiv, mulInt, reshape, shapeList, size, transpose } from './tensor-ops.ts';
import { attr, type Tracer } from './trace.ts';

export interface AttentionSpec {
  queryDim: number;
  /** Width of encoder_hidden_states for cross-attention; undefined for self-attention. */
  crossDim?: number;
  heads: number;
  dimHead: number;
  /** Bias on to_q/to_k/to_v (to_out.0 always has one). */
  qkvBias: boolean;
  /** GroupNorm applied inside the attention (the VAE's mid-block attention). */
  groupNorm?: { groups: number; eps: number };
  residual: boolean;
  rescale: number;
  upcastSoftmax: boolean;
  /** The input is a [B, C, H, W] feature map (VAE) rather than [B, S, C] tokens. */
  spatial: boolean;
}

export function attention(t: Tracer, name: string, x: Value, context: Value | undefined, s: AttentionSpec): Value {
  return t.module(name, () => {
    const residual = x;
    let h = x;
    let dims: Value[] = [];
    let batch: Value | undefined;
    if (s.spatial) {
      dims = [0, 1, 2, 3].map((d) => size(t, x, d));
      const [b, c, hh, ww] = dims;
      h = reshape(t, x, [b, c, t.op('Mul', [hh, ww])]);
      const seqFirst = transpose(t, h, [0, 2, 1]);
      batch = size(t, seqFirst, 0);
      if (!s.groupNorm) h = seqFirst;
    }
    if (s.groupNorm) {
      const n = groupNorm(t, 'group_norm', h, {
        groups: s.groupNorm.groups,
        channels: s.queryDim,
        eps: s.groupNorm.eps,
        rank: 3,
      });
      h = transpose(t, n, [0, 2, 1]);
    }
    const inner = s.heads * s.dimHead;
    const ctx = context ?? h;
    const ctxDim = s.crossDim ?? s.queryDim;
    const q = linear3d(t, 'to_q', h, s.queryDim, inner, s.qkvBias);
    const k = linear3d(t, 'to_k', ctx, ctxDim, inner, s.qkvBias);
    const v = linear3d(t, 'to_v', ctx, ctxDim, inner, s.qkvBias);
    const qh = headToBatch(t, q, s.heads);
    const kh = headToBatch(t, k, s.heads);
    const vh = headToBatch(t, v, s.heads);
    const probs = scores(t, qh, kh, Math.fround(s.dimHead ** -0.5), s.upcastSoftmax);
    let out = batchToHead(t, t.op('MatMul', [probs, vh]), s.heads);
    out = t.module('to_out.0', () => linearBody(t, out, inner, s.queryDim, true));
    if (s.spatial) {
      const [, c, hh, ww] = dims;
      out = reshape(t, transpose(t, out, [0, 2, 1]), [batch!, c, hh, ww]);
    }
    if (s.residual) out = t.op('Add', [out, residual]);
    return divScalar(t, out, s.rescale);
  });
}

/** Attention.head_to_batch_dim: [b, s, d] → [b·heads, s, d/heads]. */
function headToBatch(t: Tracer, x: Value, heads: number): Value {
  const b = size(t, x, 0);
  const seq = size(t, x, 1);
  const dim = size(t, x, 2);
  const dh = floorDiv(t, dim, heads);
  const split = transpose(t, reshape(t, x, [b, seq, heads, dh]), [0, 2, 1, 3]);
  return reshape(t, split, [mulInt(t, b, heads), seq, dh]);
}

/** Attention.batch_to_head_dim: [b·heads, s, d] → [b, s, d·heads]. */
function batchToHead(t: Tracer, x: Value, heads: number): Value {
  const bh = size(t, x, 0);
  const seq = size(t, x, 1);
  const dim = size(t, x, 2);
  const b = floorDiv(t, bh, heads);
  const merged = transpose(t, reshape(t, x, [b, heads, seq, dim]), [0, 2, 1, 3]);
  return reshape(t, merged, [b, seq, mulInt(t, dim, heads)]);
}

/** Attention.get_attention_scores with no mask: softmax(baddbmm(empty, q, kᵀ, beta=0, alpha=scale)). */
function scores(t: Tracer, q: Value, k: Value, scale: number, upcast: boolean): Value {
  const empty = t.op(
    'ConstantOfShape',
    [shapeList(t, [size(t, q, 0), size(t, q, 1), size(t, k, 1)])],
    [attr.tensor('value', { dtype: t.float, dims: [1], values: [0] })],
  );
  const mm = t.op('MatMul', [q, transpose(t, k, [0, 2, 1])]);
  const scaled = t.op('Mul', [mm, t.scalar(scale)]);
  let s = t.op('Add', [scaled, t.op('Mul', [empty, t.scalar(0)])]);
  if (upcast) s = cast(t, s, DataType.FLOAT);
  const p = t.op('Softmax', [s], [attr.int('axis', -1)]);
  return cast(t, p, t.float);
}

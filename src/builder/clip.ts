// transformers CLIPTextModel.forward (eager attention), traced in the style of
// the other modules: input_ids → text_model (embeddings, causal mask, encoder
// layers, final_layer_norm) → last_hidden_state, pooler_output.
// No real export of this model is among the fixtures, so only the parameter
// layout and the computed function are checked, not node-for-node naming.
//
// Deviation kept on purpose: the position_ids buffer is a Constant node, not an
// int64 initializer, so that every initializer is a parameter (the parameter
// count is the sum of initializer sizes, as in the UNet and VAE exports).
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import type { ClipPlan } from './config/clip.ts';
import { gelu, layerNorm, linear3d } from './layers.ts';
import { cast, mulInt, reshape, shapeList, size, transpose, type Dim } from './tensor-ops.ts';
import { attr, type Tracer } from './trace.ts';
import { init } from './weights.ts';

export function buildClip(t: Tracer, p: ClipPlan): void {
  const ids = t.input('input_ids', { dtype: DataType.INT64, shape: ['batch_size', 'sequence_length'] });
  const f = t.float;
  const [last, pooled] = t.module('text_model', () => {
    const seq = size(t, ids, 1);
    const flat = reshape(t, ids, [-1, seq]);
    const emb = t.module('embeddings', () => embeddings(t, flat, p));
    const mask = causalMask(t, flat);
    let h = emb;
    t.module('encoder', () => {
      for (let i = 0; i < p.layers; i++) h = encoderLayer(t, `layers.${i}`, h, mask, p);
    });
    const out = layerNorm(t, 'final_layer_norm', h, p.hidden, p.eps);
    return [out, pool(t, out, flat, p.eosTokenId)];
  });
  t.output(last, 'last_hidden_state', { dtype: f, shape: ['batch_size', 'sequence_length', p.hidden] });
  t.output(pooled, 'pooler_output', { dtype: f, shape: ['batch_size', p.hidden] });
}

function embeddings(t: Tracer, ids: Value, p: ClipPlan): Value {
  const seq = size(t, ids, 1);
  const table = t.constant({ dtype: DataType.INT64, dims: [1, p.positions], values: Array.from({ length: p.positions }, (_, i) => i) });
  const positions = t.op('Slice', [table, t.int64([0]), t.op('Unsqueeze', [seq, t.axes([0])]), t.int64([1]), t.int64([1])]);
  const tokens = t.module('token_embedding', () => t.op('Gather', [t.param('weight', [p.vocab, p.hidden], init.embedding), ids]));
  const pos = t.module('position_embedding', () => t.op('Gather', [t.param('weight', [p.positions, p.hidden], init.embedding), positions]));
  return t.op('Add', [tokens, pos]);
}

/** _create_4d_causal_attention_mask: finfo.min above the diagonal, 0 elsewhere, expanded to [b, 1, s, s]. */
function causalMask(t: Tracer, ids: Value): Value {
  const b = size(t, ids, 0);
  const s = size(t, ids, 1);
  const min = t.float === DataType.FLOAT16 ? -65504 : -3.4028234663852886e38;
  const full = t.op('ConstantOfShape', [shapeList(t, [s, s])], [attr.tensor('value', { dtype: t.float, dims: [1], values: [min] })]);
  const cond = t.op('Range', [t.int64(0), s, t.int64(1)]);
  const next = reshape(t, t.op('Add', [cond, t.int64(1)]), [s, 1]);
  const masked = t.op('Where', [t.op('Less', [cond, next]), t.scalar(0), full]);
  const m4 = t.op('Unsqueeze', [t.op('Unsqueeze', [masked, t.int64([0])]), t.int64([1])]);
  return t.op('Expand', [m4, shapeList(t, [b, 1, s, s])]);
}

function encoderLayer(t: Tracer, name: string, x: Value, mask: Value, p: ClipPlan): Value {
  return t.module(name, () => {
    const a = selfAttention(t, 'self_attn', layerNorm(t, 'layer_norm1', x, p.hidden, p.eps), mask, p);
    const h = t.op('Add', [x, a]);
    const m = mlp(t, 'mlp', layerNorm(t, 'layer_norm2', h, p.hidden, p.eps), p);
    return t.op('Add', [h, m]);
  });
}

function selfAttention(t: Tracer, name: string, x: Value, mask: Value, p: ClipPlan): Value {
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
    const src = size(t, ks, 1);
    let w = t.op('MatMul', [qs, transpose(t, ks, [0, 2, 1])]);
    w = reshape(t, t.op('Add', [reshape(t, w, [bsz, p.heads, tgt, src]), mask]), [bh, tgt, src]);
    w = t.op('Softmax', [w], [attr.int('axis', -1)]);
    let o = reshape(t, t.op('MatMul', [w, vs]), [bsz, p.heads, tgt, hd]);
    o = reshape(t, transpose(t, o, [0, 2, 1, 3]), [bsz, tgt, embed]);
    return linear3d(t, 'out_proj', o, d, d);
  });
}


function mlp(t: Tracer, name: string, x: Value, p: ClipPlan): Value {
  return t.module(name, () => {
    const h = linear3d(t, 'fc1', x, p.hidden, p.intermediate);
    const a = t.module('activation_fn', () =>
      p.act === 'gelu' ? gelu(t, h) : t.op('Mul', [h, t.op('Sigmoid', [t.op('Mul', [h, t.scalar(1.702)])])]),
    );
    return linear3d(t, 'fc2', a, p.intermediate, p.hidden);
  });
}

/**
 * The pooled output: the hidden state at each sequence's end-of-text token.
 * eos_token_id 2 (the legacy configs SD ships) means "the largest token id";
 * otherwise the first position holding eos_token_id.
 */
function pool(t: Tracer, last: Value, ids: Value, eos: number): Value {
  const rows = t.op('Range', [t.int64(0), size(t, last, 0), t.int64(1)]);
  const ids32 = cast(t, ids, DataType.INT32);
  const key = eos === 2 ? ids32 : cast(t, t.op('Equal', [ids32, t.constant({ dtype: DataType.INT32, dims: [], values: [eos] })]), DataType.INT32);
  const col = t.op('ArgMax', [key], [attr.int('axis', -1), attr.int('keepdims', 0)]);
  const index = t.op('Concat', [t.op('Unsqueeze', [rows, t.int64([1])]), t.op('Unsqueeze', [col, t.int64([1])])], [attr.int('axis', 1)]);
  return t.op('GatherND', [last, index]);
}

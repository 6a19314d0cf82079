// transformers CLIPTextModel / CLIPTextModelWithProjection forward (eager
// attention), traced in the style of the other modules: input_ids → text_model
// (embeddings, causal mask, encoder layers, final_layer_norm) → last_hidden_state,
// pooler_output; with a projection, text_projection(pooled) → text_embeds.
// No real export of this model is among the fixtures, so only the parameter
// layout and the computed function are checked, not node-for-node naming.
//
// Deviation kept on purpose: the position_ids buffer is a Constant node, not an
// int64 initializer, so that every initializer is a parameter (the parameter
// count is the sum of initializer sizes, as in the UNet and VAE exports).
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { clipEncoder } from './clip-encoder.ts';
import type { ClipPlan } from './config/clip.ts';
import { layerNorm, linear3d } from './layers.ts';
import { cast, reshape, shapeList, size } from './tensor-ops.ts';
import { attr, type Tracer } from './trace.ts';
import { init } from './weights.ts';

/**
 * CLIPTextModel: outputs last_hidden_state [b, s, hidden], pooler_output [b, hidden].
 * CLIPTextModelWithProjection (`p.projection` set): text_embeds [b, projection], last_hidden_state.
 */
export function buildClip(t: Tracer, p: ClipPlan): void {
  const ids = t.input('input_ids', { dtype: DataType.INT64, shape: ['batch_size', 'sequence_length'] });
  const f = t.float;
  const [last, pooled] = t.module('text_model', () => {
    const seq = size(t, ids, 1);
    const flat = reshape(t, ids, [-1, seq]);
    const emb = t.module('embeddings', () => embeddings(t, flat, p));
    const mask = causalMask(t, flat);
    const h = clipEncoder(t, emb, mask, p);
    const out = layerNorm(t, 'final_layer_norm', h, p.hidden, p.eps);
    return [out, pool(t, out, flat, p.eosTokenId)];
  });
  const lastType = { dtype: f, shape: ['batch_size', 'sequence_length', p.hidden] };
  if (p.projection === undefined) {
    t.output(last, 'last_hidden_state', lastType);
    t.output(pooled, 'pooler_output', { dtype: f, shape: ['batch_size', p.hidden] });
    return;
  }
  // nn.Linear(bias=False) on the 2-D pooled output: MatMul with the folded transpose, as for 3-D inputs.
  const embeds = linear3d(t, 'text_projection', pooled, p.hidden, p.projection, false);
  t.output(embeds, 'text_embeds', { dtype: f, shape: ['batch_size', p.projection] });
  t.output(last, 'last_hidden_state', lastType);
}

function embeddings(t: Tracer, ids: Value, p: ClipPlan): Value {
  const seq = size(t, ids, 1);
  const table = t.constant({
    dtype: DataType.INT64,
    dims: [1, p.positions],
    values: Array.from({ length: p.positions }, (_, i) => i),
  });
  const positions = t.op('Slice', [
    table,
    t.int64([0]),
    t.op('Unsqueeze', [seq, t.axes([0])]),
    t.int64([1]),
    t.int64([1]),
  ]);
  const tokens = t.module('token_embedding', () =>
    t.op('Gather', [t.param('weight', [p.vocab, p.hidden], init.embedding), ids]),
  );
  const pos = t.module('position_embedding', () =>
    t.op('Gather', [t.param('weight', [p.positions, p.hidden], init.embedding), positions]),
  );
  return t.op('Add', [tokens, pos]);
}

/** _create_4d_causal_attention_mask: finfo.min above the diagonal, 0 elsewhere, expanded to [b, 1, s, s]. */
function causalMask(t: Tracer, ids: Value): Value {
  const b = size(t, ids, 0);
  const s = size(t, ids, 1);
  const min = t.float === DataType.FLOAT16 ? -65504 : -3.4028234663852886e38;
  const full = t.op(
    'ConstantOfShape',
    [shapeList(t, [s, s])],
    [attr.tensor('value', { dtype: t.float, dims: [1], values: [min] })],
  );
  const cond = t.op('Range', [t.int64(0), s, t.int64(1)]);
  const next = reshape(t, t.op('Add', [cond, t.int64(1)]), [s, 1]);
  const masked = t.op('Where', [t.op('Less', [cond, next]), t.scalar(0), full]);
  const m4 = t.op('Unsqueeze', [t.op('Unsqueeze', [masked, t.int64([0])]), t.int64([1])]);
  return t.op('Expand', [m4, shapeList(t, [b, 1, s, s])]);
}

/**
 * The pooled output: the hidden state at each sequence's end-of-text token.
 * eos_token_id 2 (the legacy configs SD ships) means "the largest token id";
 * otherwise the first position holding eos_token_id.
 */
function pool(t: Tracer, last: Value, ids: Value, eos: number): Value {
  const rows = t.op('Range', [t.int64(0), size(t, last, 0), t.int64(1)]);
  const ids32 = cast(t, ids, DataType.INT32);
  const key =
    eos === 2
      ? ids32
      : cast(t, t.op('Equal', [ids32, t.constant({ dtype: DataType.INT32, dims: [], values: [eos] })]), DataType.INT32);
  const col = t.op('ArgMax', [key], [attr.int('axis', -1), attr.int('keepdims', 0)]);
  const index = t.op(
    'Concat',
    [t.op('Unsqueeze', [rows, t.int64([1])]), t.op('Unsqueeze', [col, t.int64([1])])],
    [attr.int('axis', 1)],
  );
  return t.op('GatherND', [last, index]);
}

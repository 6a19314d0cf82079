// transformers CLIPVisionModelWithProjection forward (eager attention), traced in
// the style of clip.ts:
//
//   pixel_values [b, C, H, W]
//   vision_model.embeddings     patch_embedding (Conv k=s=patch, no bias) → flatten(2) → transpose(1, 2)
//                               cat(class_embedding.expand(b, 1, -1), patches) + position_embedding(position_ids)
//   vision_model.pre_layrnorm   (transformers' spelling)
//   vision_model.encoder        the text tower's layers, without a mask (clip-encoder.ts)
//   vision_model.post_layernorm on last_hidden_state[:, 0, :]
//   visual_projection           Linear(bias=False) → image_embeds
//
// As in clip.ts, the position_ids buffer is a Constant node, so that every
// initializer is a parameter.
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { clipEncoder } from './clip-encoder.ts';
import type { ClipVisionPlan } from './config/clip.ts';
import { conv2d, layerNorm, linear3d } from './layers.ts';
import { cast, shapeList, size, transpose } from './tensor-ops.ts';
import { attr, type Tracer } from './trace.ts';
import { init } from './weights.ts';

const INT64_MAX = 9223372036854775807n;

/** Outputs image_embeds [b, projection], then last_hidden_state [b, patches + 1, hidden]. */
export function buildClipVision(t: Tracer, p: ClipVisionPlan): void {
  const f = t.float;
  const pixels = t.input('pixel_values', { dtype: f, shape: ['batch_size', p.channels, p.image, p.image] });
  const [last, pooled] = t.module('vision_model', () => {
    const emb = t.module('embeddings', () => embeddings(t, pixels, p));
    const h = clipEncoder(t, layerNorm(t, 'pre_layrnorm', emb, p.hidden, p.eps), undefined, p);
    return [h, layerNorm(t, 'post_layernorm', firstToken(t, h), p.hidden, p.eps)];
  });
  const embeds = linear3d(t, 'visual_projection', pooled, p.hidden, p.projection, false);
  t.output(embeds, 'image_embeds', { dtype: f, shape: ['batch_size', p.projection] });
  t.output(last, 'last_hidden_state', { dtype: f, shape: ['batch_size', positionsOf(p), p.hidden] });
}

/** num_patches + 1 (the class token). */
export function positionsOf(p: ClipVisionPlan): number {
  return (p.image / p.patch) ** 2 + 1;
}

function embeddings(t: Tracer, pixels: Value, p: ClipVisionPlan): Value {
  const batch = size(t, pixels, 0);
  const x = cast(t, pixels, t.float);
  const conv = conv2d(t, 'patch_embedding', x, {
    cin: p.channels,
    cout: p.hidden,
    kernel: p.patch,
    stride: p.patch,
    pad: 0,
    bias: false,
  });
  const patches = transpose(t, flatten2(t, conv), [0, 2, 1]);
  const cls = t.param('class_embedding', [p.hidden], { center: 0, bound: Math.sqrt(3 / p.hidden) });
  const tokens = t.op('Concat', [t.op('Expand', [cls, expandSize(t, [batch, 1, -1])]), patches], [attr.int('axis', 1)]);
  const n = positionsOf(p);
  const ids = t.constant({ dtype: DataType.INT64, dims: [1, n], values: Array.from({ length: n }, (_, i) => i) });
  const pos = t.module('position_embedding', () =>
    t.op('Gather', [t.param('weight', [n, p.hidden], init.embedding), ids]),
  );
  return t.op('Add', [tokens, pos]);
}

/** `x.flatten(2)` on a 4-D tensor: Reshape to Concat(Shape(x)[0:2], [-1]). */
function flatten2(t: Tracer, x: Value): Value {
  const lead = t.op('Slice', [t.op('Shape', [x]), t.int64([0]), t.int64([2]), t.int64([0])]);
  return t.op('Reshape', [x, t.op('Concat', [lead, t.int64([-1])], [attr.int('axis', 0)])], [attr.int('allowzero', 0)]);
}

/** `expand(*sizes)` with traced sizes: -1 ("keep") becomes 1, which Expand broadcasts the same way. */
function expandSize(t: Tracer, dims: (Value | number)[]): Value {
  const sizes = shapeList(t, dims);
  const ones = t.op(
    'ConstantOfShape',
    [t.op('Shape', [sizes])],
    [attr.tensor('value', { dtype: DataType.INT64, dims: [1], values: [1] })],
  );
  const keep = t.op('Equal', [sizes, t.op('Mul', [ones, t.int64(-1)])]);
  return t.op('Where', [keep, ones, sizes]);
}

/** `x[:, 0, :]`: the full slices are traced too. */
function firstToken(t: Tracer, x: Value): Value {
  const all = (v: Value, axis: number) =>
    t.op('Slice', [v, t.int64([0]), t.int64([INT64_MAX]), t.int64([axis]), t.int64([1])]);
  return all(t.op('Gather', [all(x, 0), t.int64(0)], [attr.int('axis', 1)]), 1);
}

// Operators that select, scatter or join parts of tensors along axes. Concat,
// Slice and Gather fold, because the exporter slices, gathers and concatenates
// shape vectors; the data-dependent ones (NonZero, Compress) know their sizes
// only when their data is known.
import { DataType } from '../../../onnx/dtype.ts';
import type { Dim } from '../../graph.ts';
import type { ShapeRule } from '../context.ts';
import { axisOf, dimOp, fmt, isStatic } from '../dim.ts';
import { strides, tabulate } from '../fold.ts';
import type { ConstTensor } from '../tensor-value.ts';

const concat: ShapeRule = {
  op: 'Concat',
  infer(n, ctx) {
    const shapes = n.inputs.map((_, i) => ctx.shape(i));
    const rank = shapes[0].length;
    const axis = axisOf(ctx, ctx.int('axis', 0), rank);
    const dims = [...shapes[0]];
    for (const s of shapes.slice(1)) {
      if (s.length !== rank) ctx.fail(`inputs ${shapes.map(fmt).join(', ')} differ in rank`);
      s.forEach((d, k) => {
        if (k === axis) return;
        if (typeof d === 'number' && typeof dims[k] === 'number' && d !== dims[k])
          ctx.fail(`inputs ${shapes.map(fmt).join(', ')} differ on dim ${k}`);
        if (typeof dims[k] !== 'number') dims[k] = d;
      });
    }
    dims[axis] = dimOp(
      ctx,
      shapes.map((s) => s[axis]),
      (...xs) => xs.reduce((a, b) => a + b, 0),
    );
    const values = n.inputs.map((_, i) => ctx.value(i));
    let data: number[] | undefined;
    if (ctx.foldable(dims) && values.every((v) => v)) {
      // Row-major: for each index before the axis, append each input's block.
      const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
      data = [];
      for (let o = 0; o < outer; o++) {
        for (const v of values as ConstTensor[]) {
          const block = v.dims.slice(axis).reduce((a, b) => a * b, 1);
          for (let j = 0; j < block; j++) data.push(v.data[o * block + j]);
        }
      }
    }
    ctx.out(0, ctx.dtype(0), dims, data);
  },
};

const split: ShapeRule = {
  op: 'Split',
  infer(n, ctx) {
    const t = ctx.type(0);
    const axis = axisOf(ctx, ctx.int('axis', 0), t.shape.length);
    const d = t.shape[axis];
    const count = n.outputs.length;
    // Sizes: attribute before opset 13, optional input after; else equal parts (opset 18: num_outputs, last part smaller).
    const sizes = ctx.opset < 13 ? ctx.intList('split') : ctx.has(1) ? (ctx.ints(1) ?? 'unknown') : undefined;
    let parts: Dim[];
    if (sizes === 'unknown') parts = n.outputs.map(() => ctx.unknownDim());
    else if (sizes && sizes.length) {
      if (sizes.length !== count) ctx.fail(`split sizes ${fmt(sizes)} do not match ${count} outputs`);
      if (typeof d === 'number' && sizes.reduce((a, b) => a + b, 0) !== d)
        ctx.fail(`split sizes ${fmt(sizes)} do not add up to dim ${axis} of ${fmt(t.shape)}`);
      parts = sizes;
    } else if (typeof d !== 'number') parts = n.outputs.map(() => ctx.unknownDim());
    else if (ctx.attr('num_outputs')) {
      const chunk = Math.ceil(d / count);
      parts = n.outputs.map((_, k) => Math.max(0, Math.min(chunk, d - k * chunk)));
    } else {
      if (d % count !== 0) ctx.fail(`dim ${axis} of ${fmt(t.shape)} does not split into ${count} equal parts`);
      parts = n.outputs.map(() => d / count);
    }
    parts.forEach((p, k) =>
      ctx.out(
        k,
        t.dtype,
        t.shape.map((x, j) => (j === axis ? p : x)),
      ),
    );
  },
};

/** Start, step and count along one axis after ONNX Slice's clamping. */
function sliceAxis(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = Math.min(Math.max(start, 0), dim);
    end = Math.min(Math.max(end, 0), dim);
  } else {
    start = Math.min(Math.max(start, 0), dim - 1);
    end = Math.min(Math.max(end, -1), dim - 1);
  }
  return { start, count: Math.max(0, Math.ceil((end - start) / step)) };
}

const slice: ShapeRule = {
  op: 'Slice',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const r = t.shape.length;
    // Attributes before opset 10, inputs (starts, ends, axes, steps) after.
    const old = ctx.opset < 10;
    const starts = old ? ctx.intList('starts') : ctx.ints(1);
    const ends = old ? ctx.intList('ends') : ctx.ints(2);
    const axesIn = old ? ctx.intList('axes') : ctx.has(3) ? ctx.ints(3) : undefined;
    const stepsIn = old ? undefined : ctx.has(4) ? ctx.ints(4) : undefined;
    if (!starts || !ends || (!old && ctx.has(3) && !axesIn) || (ctx.has(4) && !stepsIn)) {
      return ctx.out(
        0,
        t.dtype,
        t.shape.map(() => ctx.unknownDim()),
      );
    }
    const axes = (axesIn ?? starts.map((_, k) => k)).map((a) => axisOf(ctx, a, r));
    const steps = stepsIn ?? starts.map(() => 1);
    if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length)
      ctx.fail('starts, ends, axes and steps differ in length');
    const begin = new Array<number>(r).fill(0);
    const step = new Array<number>(r).fill(1);
    const dims: Dim[] = [...t.shape];
    axes.forEach((a, k) => {
      if (steps[k] === 0) ctx.fail('a slice step is 0');
      const d = t.shape[a];
      if (typeof d !== 'number') {
        dims[a] = ctx.unknownDim();
        return;
      }
      const s = sliceAxis(d, starts[k], ends[k], steps[k]);
      begin[a] = s.start;
      step[a] = steps[k];
      dims[a] = s.count;
    });
    const v = ctx.value(0);
    let data: number[] | undefined;
    if (v && isStatic(dims)) {
      const st = strides(v.dims);
      data = tabulate(dims, (idx) => v.data[idx.reduce((o, i, k) => o + (begin[k] + i * step[k]) * st[k], 0)]);
    }
    ctx.out(0, t.dtype, dims, data);
  },
};

const gather: ShapeRule = {
  op: 'Gather',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const idxShape = ctx.shape(1);
    const axis = axisOf(ctx, ctx.int('axis', 0), t.shape.length);
    const dims = [...t.shape.slice(0, axis), ...idxShape, ...t.shape.slice(axis + 1)];
    const v = ctx.value(0);
    const idx = ctx.value(1);
    let data: number[] | undefined;
    if (v && idx && ctx.foldable(dims)) {
      const n = v.dims[axis];
      const inner = v.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      const outer = v.dims.slice(0, axis).reduce((a, b) => a * b, 1);
      data = [];
      for (let o = 0; o < outer; o++) {
        for (const raw of idx.data) {
          const i = raw < 0 ? raw + n : raw;
          if (i < 0 || i >= n) ctx.fail(`index ${raw} is out of range for dim ${axis} of size ${n}`);
          for (let j = 0; j < inner; j++) data.push(v.data[(o * n + i) * inner + j]);
        }
      }
    }
    ctx.out(0, t.dtype, dims, data);
  },
};

const gatherElements: ShapeRule = {
  op: 'GatherElements',
  infer(_n, ctx) {
    ctx.out(0, ctx.dtype(0), ctx.shape(1));
  },
};

const pad: ShapeRule = {
  op: 'Pad',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const r = t.shape.length;
    // pads: attribute before opset 11, input after; opset 18 adds an axes input.
    const pads = ctx.opset < 11 ? ctx.intList('pads') : ctx.ints(1);
    const axesIn = ctx.opset >= 18 && ctx.has(3) ? ctx.ints(3) : undefined;
    if (!pads || (ctx.opset >= 18 && ctx.has(3) && !axesIn))
      return ctx.out(
        0,
        t.dtype,
        t.shape.map(() => ctx.unknownDim()),
      );
    const axes = (axesIn ?? t.shape.map((_, k) => k)).map((a) => axisOf(ctx, a, r));
    if (pads.length !== axes.length * 2) ctx.fail(`pads ${fmt(pads)} do not match ${axes.length} axes`);
    const dims = [...t.shape];
    axes.forEach((a, k) => {
      dims[a] = dimOp(ctx, [t.shape[a]], (d) => {
        const out = d + pads[k] + pads[k + axes.length];
        if (out < 0) ctx.fail(`pads ${fmt(pads)} leave a negative size on axis ${a}`);
        return out;
      });
    });
    ctx.out(0, t.dtype, dims);
  },
};

const gatherND: ShapeRule = {
  op: 'GatherND',
  infer(_n, ctx) {
    const data = ctx.shape(0);
    const idx = ctx.shape(1);
    const b = ctx.int('batch_dims', 0);
    const last = idx[idx.length - 1];
    if (typeof last !== 'number') return ctx.out(0, ctx.dtype(0), undefined);
    if (b + last > data.length) ctx.fail(`indices ${fmt(idx)} index past the rank of data ${fmt(data)}`);
    ctx.out(0, ctx.dtype(0), [...idx.slice(0, -1), ...data.slice(b + last)]);
  },
};

/** Scatter writes into a copy of its data input. */
function scatter(op: string): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      ctx.out(0, ctx.dtype(0), ctx.shape(0));
    },
  };
}

const topK: ShapeRule = {
  op: 'TopK',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const axis = axisOf(ctx, ctx.int('axis', -1), t.shape.length);
    // k: an attribute before opset 10, a one-element input after.
    const k = ctx.opset < 10 ? ctx.int('k', 0) : (ctx.ints(1)?.[0] ?? ctx.unknownDim());
    const dims = t.shape.map((d, j) => (j === axis ? k : d));
    ctx.out(0, t.dtype, dims);
    ctx.out(1, DataType.INT64, dims);
  },
};

const oneHot: ShapeRule = {
  op: 'OneHot',
  infer(_n, ctx) {
    const idx = ctx.shape(0);
    const axis = ctx.int('axis', -1);
    const a = axis < 0 ? axis + idx.length + 1 : axis;
    if (a < 0 || a > idx.length) ctx.fail(`axis ${axis} is out of range for rank ${idx.length + 1}`);
    const depth = ctx.value(1)?.data[0];
    const dims = [...idx];
    dims.splice(a, 0, depth === undefined ? ctx.unknownDim() : Math.trunc(depth));
    ctx.out(0, ctx.dtype(2), dims);
  },
};

// The sizes of these depend on the data: known only when that data is.
const nonZero: ShapeRule = {
  op: 'NonZero',
  infer(_n, ctx) {
    const r = ctx.shape(0).length;
    const v = ctx.value(0);
    if (!v) return ctx.out(0, DataType.INT64, [r, ctx.unknownDim()]);
    // Output [rank, count]: row k lists the k-th coordinate of every non-zero element, in order.
    const st = strides(v.dims);
    const hits = v.data.flatMap((x, i) => (x ? [i] : []));
    const data = Array.from({ length: r }, (_, k) => hits.map((i) => Math.floor(i / st[k]) % v.dims[k])).flat();
    ctx.out(0, DataType.INT64, [r, hits.length], data);
  },
};

const compress: ShapeRule = {
  op: 'Compress',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const axis = ctx.attr('axis') ? axisOf(ctx, ctx.int('axis', 0), t.shape.length) : undefined;
    const cond = ctx.value(1);
    const kept = cond ? cond.data.filter((x) => x).length : ctx.unknownDim();
    ctx.out(0, t.dtype, axis === undefined ? [kept] : t.shape.map((d, k) => (k === axis ? kept : d)));
  },
};

export const slicingRules: ShapeRule[] = [
  concat,
  split,
  slice,
  gather,
  gatherElements,
  gatherND,
  pad,
  topK,
  oneHot,
  nonZero,
  compress,
  scatter('Scatter'),
  scatter('ScatterElements'),
  scatter('ScatterND'),
];

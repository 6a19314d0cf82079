// Operators that rearrange dims without computing: Shape and Size start the
// exporter's shape arithmetic; Reshape, Expand and Tile end it, so their
// targets must be known values for the output shape to be exact.
import { DataType } from '../../../onnx/dtype.ts';
import type { Dim } from '../../graph.ts';
import type { ShapeRule } from '../context.ts';
import { axisOf, broadcast, dimOp, fmt, isStatic, product } from '../dim.ts';
import { broadcastReader, strides, tabulate } from '../fold.ts';
import { countOf } from '../tensor-value.ts';

const shape: ShapeRule = {
  op: 'Shape',
  infer(_n, ctx) {
    const s = ctx.shape(0);
    // Opset 15 added start/end, clamped like Python slicing.
    const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + s.length : x, 0), s.length);
    const dims = s.slice(clamp(ctx.int('start', 0)), clamp(ctx.int('end', s.length)));
    ctx.out(0, DataType.INT64, [dims.length], isStatic(dims) ? dims : undefined);
  },
};

const size: ShapeRule = {
  op: 'Size',
  infer(_n, ctx) {
    const s = ctx.shape(0);
    ctx.out(0, DataType.INT64, [], isStatic(s) ? [countOf(s)] : undefined);
  },
};

const reshape: ShapeRule = {
  op: 'Reshape',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const target = ctx.opset < 5 ? ctx.intList('shape') : ctx.ints(1);
    if (!target) {
      return ctx.out(0, t.dtype, ctx.opset < 5 ? undefined : ctx.unknownShape(ctx.shape(1)[0]));
    }
    const allowZero = ctx.int('allowzero', 0) === 1;
    const dims: Dim[] = target.map((d, k) => {
      if (d === 0 && !allowZero)
        return k < t.shape.length
          ? t.shape[k]
          : ctx.fail(`target ${fmt(target)} copies dim ${k}, which input ${fmt(t.shape)} lacks`);
      if (d < -1) ctx.fail(`target ${fmt(target)} has a negative dim`);
      return d;
    });
    const infer = dims.indexOf(-1);
    if (infer !== dims.lastIndexOf(-1)) ctx.fail(`target ${fmt(target)} has more than one -1`);
    const known = dims.filter((_, k) => k !== infer);
    if (isStatic(t.shape) && isStatic(known)) {
      const total = countOf(t.shape);
      const rest = countOf(known);
      if (infer >= 0) {
        if (rest === 0 || total % rest !== 0)
          ctx.fail(`cannot reshape ${fmt(t.shape)} (${total} elements) to ${fmt(target)}`);
        dims[infer] = total / rest;
      } else if (rest !== total) ctx.fail(`cannot reshape ${fmt(t.shape)} (${total} elements) to ${fmt(dims)}`);
    } else if (infer >= 0) dims[infer] = ctx.unknownDim();
    ctx.out(0, t.dtype, dims, ctx.value(0)?.data);
  },
};

const flatten: ShapeRule = {
  op: 'Flatten',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const r = t.shape.length;
    const axis = ctx.int('axis', 1);
    const a = axis < 0 ? axis + r : axis;
    if (a < 0 || a > r) ctx.fail(`axis ${axis} is out of range for rank ${r}`);
    ctx.out(0, t.dtype, [product(ctx, t.shape.slice(0, a)), product(ctx, t.shape.slice(a))], ctx.value(0)?.data);
  },
};

const unsqueeze: ShapeRule = {
  op: 'Unsqueeze',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const axes = ctx.axes(13);
    if (axes === 'unknown')
      return ctx.out(0, t.dtype, ctx.unknownShape(dimOp(ctx, [ctx.shape(1)[0]], (c) => t.shape.length + c)));
    if (!axes) return ctx.fail('axes are required');
    const rank = t.shape.length + axes.length;
    const at = new Set(axes.map((a) => axisOf(ctx, a, rank)));
    if (at.size !== axes.length) ctx.fail(`axes ${fmt(axes)} repeat an axis`);
    const rest = [...t.shape];
    const dims = Array.from({ length: rank }, (_, k) => (at.has(k) ? 1 : rest.shift()!));
    ctx.out(0, t.dtype, dims, ctx.value(0)?.data);
  },
};

const squeeze: ShapeRule = {
  op: 'Squeeze',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const axes = ctx.axes(13);
    if (axes === 'unknown')
      return ctx.out(0, t.dtype, ctx.unknownShape(dimOp(ctx, [ctx.shape(1)[0]], (c) => t.shape.length - c)));
    let drop: Set<number>;
    if (axes) {
      drop = new Set(axes.map((a) => axisOf(ctx, a, t.shape.length)));
      for (const a of drop)
        if (typeof t.shape[a] === 'number' && t.shape[a] !== 1)
          ctx.fail(`cannot squeeze axis ${a} of ${fmt(t.shape)}: its size is not 1`);
    } else {
      // Without axes every 1 goes, which needs every dim known.
      if (!isStatic(t.shape)) return ctx.out(0, t.dtype, undefined);
      drop = new Set(t.shape.flatMap((d, k) => (d === 1 ? [k] : [])));
    }
    ctx.out(
      0,
      t.dtype,
      t.shape.filter((_, k) => !drop.has(k)),
      ctx.value(0)?.data,
    );
  },
};

const transpose: ShapeRule = {
  op: 'Transpose',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const r = t.shape.length;
    const perm = ctx.intList('perm') ?? Array.from({ length: r }, (_, k) => r - 1 - k);
    if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r))
      ctx.fail(`perm ${fmt(perm)} is not a permutation of rank ${r}`);
    const dims = perm.map((p) => t.shape[p]);
    const v = ctx.value(0);
    let data: number[] | undefined;
    if (v) {
      const st = strides(v.dims);
      data = tabulate(dims as number[], (idx) => v.data[idx.reduce((o, i, k) => o + i * st[perm[k]], 0)]);
    }
    ctx.out(0, t.dtype, dims, data);
  },
};

const expand: ShapeRule = {
  op: 'Expand',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const target = ctx.ints(1);
    if (!target) {
      return ctx.out(
        0,
        t.dtype,
        ctx.unknownShape(dimOp(ctx, [ctx.shape(1)[0]], (len) => Math.max(len, t.shape.length))),
      );
    }
    const dims = broadcast(ctx, [t.shape, target]);
    const v = ctx.value(0);
    const data = v && ctx.foldable(dims) ? tabulate(dims, broadcastReader(v, dims.length)) : undefined;
    ctx.out(0, t.dtype, dims, data);
  },
};

const tile: ShapeRule = {
  op: 'Tile',
  infer(_n, ctx) {
    const t = ctx.type(0);
    const repeats = ctx.ints(1);
    if (!repeats)
      return ctx.out(
        0,
        t.dtype,
        t.shape.map(() => ctx.unknownDim()),
      );
    if (repeats.length !== t.shape.length) ctx.fail(`repeats ${fmt(repeats)} do not match rank ${t.shape.length}`);
    const dims = t.shape.map((d, k) =>
      typeof d === 'number' ? d * repeats[k] : repeats[k] === 1 ? d : ctx.unknownDim(),
    );
    const v = ctx.value(0);
    let data: number[] | undefined;
    if (v && ctx.foldable(dims)) {
      const st = strides(v.dims);
      data = tabulate(dims, (idx) => v.data[idx.reduce((o, i, k) => o + (i % v.dims[k]) * st[k], 0)]);
    }
    ctx.out(0, t.dtype, dims, data);
  },
};

/** DepthToSpace and SpaceToDepth move blocksize² channels into (or out of) H and W. */
function blockMove(op: string, toSpace: boolean): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      const t = ctx.type(0);
      if (t.shape.length !== 4) ctx.fail(`input ${fmt(t.shape)} is not 4-D`);
      const b = ctx.int('blocksize', 0);
      const [n, c, h, w] = t.shape;
      const exact = (d: number, by: number) => (d % by === 0 ? d / by : ctx.fail(`${d} does not divide by ${by}`));
      const dims = toSpace
        ? [n, dimOp(ctx, [c], (x) => exact(x, b * b)), dimOp(ctx, [h], (x) => x * b), dimOp(ctx, [w], (x) => x * b)]
        : [
            n,
            dimOp(ctx, [c], (x) => x * b * b),
            dimOp(ctx, [h], (x) => exact(x, b)),
            dimOp(ctx, [w], (x) => exact(x, b)),
          ];
      ctx.out(0, t.dtype, dims);
    },
  };
}

export const reshapeRules: ShapeRule[] = [
  shape,
  size,
  reshape,
  flatten,
  unsqueeze,
  squeeze,
  transpose,
  expand,
  tile,
  blockMove('DepthToSpace', true),
  blockMove('SpaceToDepth', false),
];

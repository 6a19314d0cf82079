// Dimension arithmetic that tolerates symbolic dims: a computation over a
// symbol yields a fresh unknown dim instead of a wrong number.
import type { Dim } from '../graph.ts';
import type { InferContext } from './context.ts';

export function isStatic(shape: readonly Dim[]): shape is number[] {
  return shape.every((d) => typeof d === 'number');
}

/** `f` of the dims when all are numbers, else a fresh unknown dim. */
export function dimOp(ctx: InferContext, dims: Dim[], f: (...xs: number[]) => number): Dim {
  return dims.every((d) => typeof d === 'number') ? f(...(dims as number[])) : ctx.unknownDim();
}

export function product(ctx: InferContext, dims: Dim[]): Dim {
  return dimOp(ctx, dims, (...xs) => xs.reduce((a, b) => a * b, 1));
}

/** Normalises a possibly negative axis against `rank`, failing when out of range. */
export function axisOf(ctx: InferContext, axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank || !Number.isInteger(a)) ctx.fail(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Multidirectional (numpy) broadcasting of several shapes. */
export function broadcast(ctx: InferContext, shapes: Dim[][]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let k = 0; k < rank; k++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + k];
      if (d === undefined || d === 1) continue;
      if (dim === 1 || dim === d) dim = d;
      else if (typeof dim === 'number' && typeof d === 'number') {
        ctx.fail(`shapes ${shapes.map(fmt).join(' and ')} cannot broadcast (dim ${k}: ${dim} vs ${d})`);
      } else if (typeof d === 'number') dim = d; // a symbol broadcast against n must be n (or 1)
    }
    out.push(dim);
  }
  return out;
}

export function fmt(shape: readonly Dim[]): string {
  return `[${shape.join(',')}]`;
}

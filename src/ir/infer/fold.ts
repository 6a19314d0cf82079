// Evaluating small constant tensors: every fold is "compute each output
// element from its multi-index", which keeps broadcasting, slicing, gathering
// and tiling one loop each. Sizes are capped by MAX_CONST_ELEMENTS upstream.
import type { ConstTensor } from './tensor-value.ts';

/** Row-major strides of `dims`. */
export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let k = dims.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= dims[k];
  }
  return s;
}

/** Builds a tensor of shape `dims` by evaluating `at` on every multi-index. */
export function tabulate(dims: readonly number[], at: (idx: number[]) => number): number[] {
  const out: number[] = [];
  if (dims.some((d) => d === 0)) return out;
  const idx = new Array<number>(dims.length).fill(0);
  for (;;) {
    out.push(at(idx));
    let k = dims.length - 1;
    while (k >= 0 && ++idx[k] === dims[k]) idx[k--] = 0;
    if (k < 0) return out;
  }
}

/** Reads `t` broadcast to an output of rank `rank` (numpy rules; dims already checked). */
export function broadcastReader(t: ConstTensor, rank: number): (idx: number[]) => number {
  const st = strides(t.dims);
  const lead = rank - t.dims.length;
  return (idx) => {
    let o = 0;
    for (let k = 0; k < t.dims.length; k++) if (t.dims[k] !== 1) o += idx[lead + k] * st[k];
    return t.data[o];
  };
}

/** Element-wise `fn` over broadcast inputs. */
export function mapBroadcast(inputs: ConstTensor[], dims: number[], fn: (...xs: number[]) => number): number[] {
  const readers = inputs.map((t) => broadcastReader(t, dims.length));
  return tabulate(dims, (idx) => fn(...readers.map((r) => r(idx))));
}

/** numpy's integer modulo (sign of the divisor) or C's fmod (sign of the dividend). */
export function modulo(a: number, b: number, fmod: boolean): number {
  if (fmod) return a % b;
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

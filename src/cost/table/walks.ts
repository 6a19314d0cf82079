// Rows a kernel walks: the units a CPU kernel sets up one at a time, each
// costing overhead_us.row beyond the arithmetic and traffic. A reduction
// (norm, softmax, reduce) walks the rows it reduces over, so 4,096 rows of 64
// cost more than 1,024 rows of 320. A Transpose that keeps its innermost dims
// in place copies one contiguous run at a time: onnxruntime does a memcpy per
// run, and on this machine the attention head split [1,256,8,4] → [1,8,256,4]
// took 24 µs for 8,192 floats (12 ns per run of 4), where streaming them
// costs under 1 µs. A Transpose that moves the innermost axis runs a blocked
// 2-D transpose instead: traffic only.
//
// The table builder and the width analysis (width.ts) both count with
// rowsWalked, so a narrowed block's rows are measured like its MACs.
import type { Node } from '../../ir/graph.ts';
import { toNumber } from '../../onnx/proto.ts';
import { ruleFor } from './classes.ts';

export function rowsWalked(n: Node): number {
  const x = n.inputs[0];
  const shape = x?.type?.shape as number[] | undefined;
  if (!x || !shape || shape.some((d) => typeof d !== 'number')) return 0;
  const rank = shape.length;
  const axis = (attr: string, dflt: number) => {
    const a = toNumber(n.attr(attr)?.i ?? dflt);
    return a < 0 ? a + rank : a;
  };
  const product = (dims: number[]) => dims.reduce((p, d) => p * d, 1);
  switch (n.op) {
    case 'Softmax':
    case 'LogSoftmax':
      return product(shape) / (shape[axis('axis', -1)] || 1);
    case 'InstanceNormalization':
      return (shape[0] ?? 1) * (shape[1] ?? 1);
    case 'GroupNormalization':
      return (shape[0] ?? 1) * toNumber(n.attr('num_groups')?.i ?? 1);
    case 'LayerNormalization':
    case 'SkipLayerNormalization':
      return product(shape.slice(0, axis('axis', -1)));
    case 'Transpose': {
      const perm = (n.attr('perm')?.ints ?? []).map(toNumber);
      let run = 1;
      for (let i = rank - 1; i >= 0 && perm[i] === i; i--) run *= shape[i];
      return run > 1 ? product(shape) / run : 0;
    }
    default: {
      // ReduceMean and friends: one row per output element.
      const y = n.outputs[0]?.type?.shape as number[] | undefined;
      return y && ruleFor(n).cls === 'reduce' ? product(y) : 0;
    }
  }
}

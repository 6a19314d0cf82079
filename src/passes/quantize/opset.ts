// Raising a model to opset 21, which blocked int4 DequantizeLinear and 16-bit
// QuantizeLinear need. Exporters write SD at opset 14 or 17; between there and
// 21 only a few ops changed their interface, and each is rewritten here:
//
//   ReduceMean(x) {axes=[-1]}        → ReduceMean(x, [-1])        (axes became an input at 18)
//   Squeeze/Unsqueeze(x) {axes}      → Squeeze/Unsqueeze(x, axes) (at 13)
//   Split(x) {split}                 → Split(x, split)            (at 13); an equal Split names num_outputs (18)
//   Clip(x) {min, max}               → Clip(x, min, max)          (at 11)
//   Dropout(x) {ratio}               → Dropout(x)                 (inference: the identity)
//
// Ops whose meaning changed in ways a rewrite cannot keep are refused, naming the node.
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';
import type { Graph, Node } from '../../ir/graph.ts';
import { DataType } from '../../onnx/dtype.ts';
import { bytesWeight, int64Weight } from '../../ir/weight-io.ts';
import { intAttr } from './weights.ts';

export const QUANT_OPSET = 21;

const REDUCE = [
  'ReduceMax',
  'ReduceMin',
  'ReduceMean',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
  'ReduceSum',
];

/** Moves attribute `name` (ints) to input `index` as an int64 initializer. */
function attrToInput(g: Graph, n: Node, name: string, index: number): void {
  const a = n.attr(name);
  if (!a) return;
  const v = g.addWeight(g.uniqueName(`${n.name}_${name}`), int64Weight((a.ints ?? []).map(Number)));
  g.setInput(n, index, v);
  n.attrs = n.attrs.filter((x) => x.name !== name);
}

export function upgradeToOpset21(g: Graph, log: DiagnosticLog, at?: Location): boolean {
  const from = g.opset('') ?? 1;
  if (from >= QUANT_OPSET) return true;
  const refuse = (n: Node, why: string) =>
    log.error(
      Code.QuantizeOpset,
      `cannot raise the model from opset ${from} to ${QUANT_OPSET} (needed for int4 and 16-bit quantization): '${n.name}' (${n.op}) ${why}`,
      at ?? { node: n.name },
    );
  const before = log.errors().length;
  for (const n of g.nodes()) {
    if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
    const rank = n.inputs[0]?.type?.shape?.length;
    if (REDUCE.includes(n.op) && !(n.op === 'ReduceSum' && from >= 13)) attrToInput(g, n, 'axes', 1);
    else if ((n.op === 'Squeeze' || n.op === 'Unsqueeze') && from < 13) attrToInput(g, n, 'axes', 1);
    else if (n.op === 'Split') {
      if (from < 13) attrToInput(g, n, 'split', 1);
      if (!n.inputs[1] && !n.attr('num_outputs')) n.attrs = [...n.attrs, intAttr('num_outputs', n.outputs.length)];
    } else if (n.op === 'Clip' && from < 11) {
      const dtype = n.inputs[0]?.type?.dtype ?? DataType.FLOAT;
      for (const [name, index] of [
        ['min', 1],
        ['max', 2],
      ] as const) {
        const a = n.attr(name);
        if (!a || dtype !== DataType.FLOAT) continue;
        g.setInput(
          n,
          index,
          g.addWeight(
            g.uniqueName(`${n.name}_${name}`),
            bytesWeight(DataType.FLOAT, [], new Uint8Array(Float32Array.of(a.f ?? 0).buffer)),
          ),
        );
        n.attrs = n.attrs.filter((x) => x.name !== name);
      }
    } else if (n.op === 'Dropout' && from < 12) {
      n.attrs = n.attrs.filter((x) => x.name !== 'ratio');
    } else if ((n.op === 'Softmax' || n.op === 'LogSoftmax' || n.op === 'Hardmax') && from < 13) {
      const axis = Number(n.attr('axis')?.i ?? 1);
      if (rank === undefined || (axis < 0 ? axis + rank : axis) !== rank - 1)
        refuse(n, `normalizes over axes ${axis}… together, which opset 13 changed`);
    } else if (
      n.op === 'Upsample' ||
      (n.op === 'Resize' && from < 11) ||
      (n.op === 'Pad' && from < 11) ||
      (n.op === 'Slice' && from < 10) ||
      (n.op === 'GroupNormalization' && from < 21)
    ) {
      refuse(n, 'has an interface that changed since');
    }
  }
  if (log.errors().length > before) return false;
  g.model.opsets = g.model.opsets.map((o) =>
    o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: QUANT_OPSET } : o,
  );
  // 4-bit types arrived with IR version 10.
  g.model.irVersion = Math.max(g.model.irVersion, 10);
  return true;
}

// A compact text form of a graph, for golden tests and debugging:
//   graph main(x: float32[1,4]) -> (y)
//     y = Relu(x)  @scope
import { dataTypeName } from '../onnx/dtype.ts';
import type { Graph, TensorType, Value } from './graph.ts';

const typeText = (t: TensorType | undefined) =>
  t ? `${dataTypeName(t.dtype)}${t.shape ? `[${t.shape.join(',')}]` : ''}` : '?';
const ref = (v: Value | undefined) => (v ? (v.weight ? `@${v.name}` : v.name) : '_');

/** A graph input or output as manifests and reports show it: name, numpy-style dtype, shape. */
export interface IoInfo {
  name: string;
  dtype: string;
  shape: (number | string)[];
}

export function ioInfo(v: Value): IoInfo {
  return { name: v.name, dtype: dataTypeName(v.type?.dtype ?? 0), shape: v.type?.shape ?? [] };
}

export function printGraph(g: Graph, opts: { types?: boolean } = {}): string {
  const lines = [
    `graph ${g.name}(${g.inputs.map((v) => `${v.name}: ${typeText(v.type)}`).join(', ')}) -> (${g.outputs.map(ref).join(', ')})`,
  ];
  for (const w of g.weights) lines.push(`  @${w.name}: ${typeText(w.type)}`);
  for (const n of g.nodes()) {
    const outs = n.outputs.map((v) => (v ? (opts.types ? `${v.name}: ${typeText(v.type)}` : v.name) : '_')).join(', ');
    const attrs = n.attrs.length ? ` {${n.attrs.map((a) => a.name).join(', ')}}` : '';
    lines.push(
      `  ${outs} = ${n.domain ? n.domain + '.' : ''}${n.op}(${n.inputs.map(ref).join(', ')})${attrs}${n.scope ? `  @${n.scope}` : ''}`,
    );
  }
  return lines.join('\n');
}

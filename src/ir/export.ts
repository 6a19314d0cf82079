// Graph -> ONNX model ready for saveModel: imported weights reuse their
// TensorProto (so their bytes are copied, never decoded), imported nodes keep
// the fields the IR does not model, and synthesized nodes record their origin
// in doc_string.
import { cloneMessage } from '../onnx/clone.ts';
import type { TensorData } from '../onnx/model.ts';
import {
  onnx,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from '../onnx/proto.ts';
import type { ModelToSave } from '../onnx/save.ts';
import type { Graph, Node, TensorType, Value, Weight } from './graph.ts';

export interface ExportOptions {
  /** Write value_info for every typed intermediate value (after shape inference). */
  valueInfo?: boolean;
}

export function exportGraph(g: Graph, opts: ExportOptions = {}): ModelToSave {
  const data = new Map<TensorProto, TensorData>();
  const initializer = g.weights.map((w) => {
    const t = weightProto(w.name, w.weight!);
    data.set(t, w.weight!.data);
    return t;
  });
  const template = g.model.template;
  const gp: GraphProto = template?.graph ? cloneMessage(template.graph as GraphProto) : onnx.GraphProto.create();
  gp.name = g.name;
  gp.node = g.nodes().map(nodeProto);
  gp.initializer = initializer;
  gp.input = g.inputs.map((v) => valueInfo(v.name, v.type));
  gp.output = g.outputs.map((v) => valueInfo(v.name, v.type));
  const present = new Set<string>();
  for (const n of g.nodes()) for (const v of n.outputs) if (v) present.add(v.name);
  if (opts.valueInfo) {
    const outs = new Set(g.outputs);
    gp.valueInfo = g
      .nodes()
      .flatMap((n) =>
        n.outputs.filter((v): v is Value => !!v && !!v.type && !outs.has(v)).map((v) => valueInfo(v.name, v.type)),
      );
  } else {
    gp.valueInfo = (gp.valueInfo ?? []).filter((vi) => present.has(vi.name ?? ''));
  }
  const model: ModelProto = template ? cloneMessage(template) : onnx.ModelProto.create();
  model.irVersion = g.model.irVersion;
  model.opsetImport = g.model.opsets.map((o) =>
    onnx.OperatorSetIdProto.create({ domain: o.domain, version: o.version }),
  );
  model.producerName = g.model.producerName;
  if (g.model.producerVersion !== undefined) model.producerVersion = g.model.producerVersion;
  model.metadataProps = g.model.metadata.map((e) => onnx.StringStringEntryProto.create(e));
  model.graph = gp;
  return { proto: model, data };
}

function weightProto(name: string, w: Weight): TensorProto {
  const p = w.proto;
  const same = p && p.dataType === w.dtype && sameDims(p.dims ?? [], w.dims);
  if (same && p.name === name) return p;
  if (same) {
    const c = cloneMessage(p);
    c.name = name;
    return c;
  }
  return onnx.TensorProto.create({ name, dataType: w.dtype, dims: w.dims });
}

function sameDims(a: unknown[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => Number(d) === b[i]);
}

function nodeProto(n: Node): NodeProto {
  const p: NodeProto = n.proto ? cloneMessage(n.proto) : onnx.NodeProto.create();
  p.name = n.name;
  p.opType = n.op;
  if (n.domain || n.proto?.domain !== undefined) p.domain = n.domain;
  p.input = n.inputs.map((v) => v?.name ?? '');
  // Trailing omitted optional inputs are dropped, as exporters write them.
  while (p.input.length && p.input[p.input.length - 1] === '') p.input.pop();
  p.output = n.outputs.map((v) => v?.name ?? '');
  p.attribute = n.attrs as never;
  if (n.origin.kind !== 'onnx' && !p.docString) p.docString = originText(n);
  return p;
}

function originText(n: Node): string {
  const o = n.origin;
  if (o.kind === 'pass')
    return `pocketdiff: made by pass '${o.pass}'${o.from.length ? ` from node ids ${o.from.join(',')}` : ''}`;
  if (o.kind === 'builder') return `pocketdiff: built for module '${o.module}'`;
  return '';
}

export function valueInfo(name: string, t: TensorType | undefined): ValueInfoProto {
  const vi = onnx.ValueInfoProto.create({ name });
  if (t) vi.type = typeProto(t);
  return vi;
}

function typeProto(t: TensorType): TypeProto {
  const tensorType = onnx.TypeProto.Tensor.create({ elemType: t.dtype });
  if (t.shape) {
    tensorType.shape = onnx.TensorShapeProto.create({
      dim: t.shape.map((d) =>
        typeof d === 'number'
          ? onnx.TensorShapeProto.Dimension.create({ dimValue: d })
          : d.startsWith('?')
            ? onnx.TensorShapeProto.Dimension.create()
            : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
      ),
    });
  }
  return onnx.TypeProto.create({ tensorType });
}

// Visits every TensorProto a model holds, in one stable order (the order
// onnx's external-data helper uses): graph initializers, then node attributes,
// recursing into subgraphs, functions and training graphs.
import type { GraphProto, ModelProto, NodeProto, TensorProto } from './proto.ts';
import { onnx } from './proto.ts';

export type TensorVisitor = (t: TensorProto, where: string) => void;

export function forEachTensor(model: ModelProto, fn: TensorVisitor): void {
  if (model.graph) forEachGraphTensor(model.graph, fn);
  for (const f of model.functions ?? []) forEachNodeTensor(f.node ?? [], fn);
  for (const ti of model.trainingInfo ?? []) {
    if (ti.initialization) forEachGraphTensor(ti.initialization, fn);
    if (ti.algorithm) forEachGraphTensor(ti.algorithm, fn);
  }
}

export function forEachGraphTensor(g: GraphProto, fn: TensorVisitor): void {
  for (const t of g.initializer ?? []) fn(t, t.name ?? '');
  for (const s of g.sparseInitializer ?? []) {
    if (s.values) fn(s.values as TensorProto, s.values.name ?? '');
    if (s.indices) fn(s.indices as TensorProto, s.indices.name ?? '');
  }
  forEachNodeTensor(g.node ?? [], fn);
}

function forEachNodeTensor(nodes: NodeProto[], fn: TensorVisitor): void {
  for (const n of nodes) {
    for (const a of n.attribute ?? []) {
      const where = n.name || n.output?.[0] || n.opType || '';
      if (a.t) fn(a.t as TensorProto, where);
      for (const t of a.tensors ?? []) fn(t as TensorProto, where);
      if (a.sparseTensor) {
        if (a.sparseTensor.values) fn(a.sparseTensor.values as TensorProto, where);
        if (a.sparseTensor.indices) fn(a.sparseTensor.indices as TensorProto, where);
      }
      for (const s of a.sparseTensors ?? []) {
        if (s.values) fn(s.values as TensorProto, where);
        if (s.indices) fn(s.indices as TensorProto, where);
      }
      if (a.g) forEachGraphTensor(a.g as GraphProto, fn);
      for (const g of a.graphs ?? []) forEachGraphTensor(g as GraphProto, fn);
    }
  }
}

export const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === EXTERNAL;
}

export function numel(t: { dims?: unknown[] | null }): number {
  let n = 1;
  for (const d of t.dims ?? []) n *= typeof d === 'number' ? d : (d as { toNumber(): number }).toNumber();
  return n;
}

// Copy-on-write over a ModelProto: returns a model whose TensorProtos have been
// passed through `fn`, sharing every message that holds no tensor. Clones keep
// the `$unknown` fields that proto.ts preserves.
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from './proto.ts';

export type TensorMap = (t: TensorProto) => TensorProto;

export function cloneMessage<T extends object>(m: T): T {
  const c = Object.assign(Object.create(Object.getPrototypeOf(m)), m) as T;
  const unknown = (m as { $unknown?: unknown }).$unknown;
  if (unknown) Object.defineProperty(c, '$unknown', { value: unknown, enumerable: false, writable: true });
  return c;
}

export function mapModelTensors(model: ModelProto, fn: TensorMap): ModelProto {
  const m = cloneMessage(model);
  if (m.graph) m.graph = mapGraph(m.graph as GraphProto, fn);
  if (m.functions?.length) {
    m.functions = m.functions.map((f) => {
      const c = cloneMessage(f);
      c.node = (f.node ?? []).map((n) => mapNode(n as NodeProto, fn));
      return c;
    });
  }
  if (m.trainingInfo?.length) {
    m.trainingInfo = m.trainingInfo.map((ti) => {
      const c = cloneMessage(ti);
      if (c.initialization) c.initialization = mapGraph(c.initialization as GraphProto, fn);
      if (c.algorithm) c.algorithm = mapGraph(c.algorithm as GraphProto, fn);
      return c;
    });
  }
  return m;
}

function mapGraph(g: GraphProto, fn: TensorMap): GraphProto {
  const c = cloneMessage(g);
  c.initializer = (g.initializer ?? []).map((t) => fn(t as TensorProto));
  c.sparseInitializer = (g.sparseInitializer ?? []).map((s) => mapSparse(s, fn));
  c.node = (g.node ?? []).map((n) => mapNode(n as NodeProto, fn));
  return c;
}

function mapSparse<S extends { values?: unknown; indices?: unknown }>(s: S, fn: TensorMap): S {
  const c = cloneMessage(s);
  if (c.values) c.values = fn(c.values as TensorProto);
  if (c.indices) c.indices = fn(c.indices as TensorProto);
  return c;
}

function mapNode(n: NodeProto, fn: TensorMap): NodeProto {
  const attrs = n.attribute ?? [];
  if (!attrs.some(holdsTensors)) return n;
  const c = cloneMessage(n);
  c.attribute = attrs.map((a) => {
    if (!holdsTensors(a)) return a;
    const ca = cloneMessage(a as AttributeProto);
    if (ca.t) ca.t = fn(ca.t as TensorProto);
    if (ca.tensors?.length) ca.tensors = ca.tensors.map((t) => fn(t as TensorProto));
    if (ca.sparseTensor) ca.sparseTensor = mapSparse(ca.sparseTensor, fn);
    if (ca.sparseTensors?.length) ca.sparseTensors = ca.sparseTensors.map((s) => mapSparse(s, fn));
    if (ca.g) ca.g = mapGraph(ca.g as GraphProto, fn);
    if (ca.graphs?.length) ca.graphs = ca.graphs.map((g) => mapGraph(g as GraphProto, fn));
    return ca;
  });
  return c;
}

function holdsTensors(a: {
  t?: unknown;
  tensors?: unknown[] | null;
  sparseTensor?: unknown;
  sparseTensors?: unknown[] | null;
  g?: unknown;
  graphs?: unknown[] | null;
}): boolean {
  return !!(a.t || a.tensors?.length || a.sparseTensor || a.sparseTensors?.length || a.g || a.graphs?.length);
}

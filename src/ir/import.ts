// ONNX model -> Graph. Weights become Values holding lazy handles; node names,
// scopes and attributes are kept so export can write the same graph back.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { OnnxModel } from '../onnx/model.ts';
import { toNumber, type GraphProto, type NodeProto, type TypeProto, type ValueInfoProto } from '../onnx/proto.ts';
import { Graph, type Dim, type TensorType, type Value } from './graph.ts';
import { scopeOf } from './scope.ts';

export function importGraph(model: OnnxModel, log: DiagnosticLog): Graph | undefined {
  const proto = model.proto;
  const gp = proto.graph as GraphProto;
  const g = new Graph();
  g.name = gp.name ?? 'main';
  g.model = {
    irVersion: toNumber(proto.irVersion),
    opsets: (proto.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: toNumber(o.version) })),
    producerName: proto.producerName ?? '',
    producerVersion: proto.producerVersion ?? undefined,
    metadata: (proto.metadataProps ?? []).map((e) => ({ key: e.key ?? '', value: e.value ?? '' })),
    template: proto,
  };
  const at = (node?: string) => ({ file: model.path, node });
  const byName = new Map<string, Value>();
  const before = log.errors().length;

  if (gp.sparseInitializer?.length) {
    log.error(Code.UnsupportedOp, 'sparse initializers are not supported by the graph IR', at());
    return undefined;
  }
  for (const t of gp.initializer ?? []) {
    const data = model.data.get(t);
    if (!data) continue;
    const v = g.addWeight(t.name ?? '', { dtype: t.dataType ?? 0, dims: (t.dims ?? []).map(toNumber), data, proto: t });
    byName.set(t.name ?? '', v);
  }
  // Before IR 4 initializers were also listed as graph inputs; those stay weights.
  for (const vi of gp.input ?? []) {
    const existing = byName.get(vi.name ?? '');
    if (existing) continue;
    const v = g.addInput(vi.name ?? '', typeOf(vi.type as TypeProto | undefined));
    byName.set(v.name, v);
  }
  const typed = new Map<string, TensorType | undefined>();
  for (const vi of [...(gp.valueInfo ?? []), ...(gp.output ?? [])] as ValueInfoProto[])
    typed.set(vi.name ?? '', typeOf(vi.type as TypeProto | undefined));

  for (const np of (gp.node ?? []) as NodeProto[]) {
    const name = np.name ?? '';
    const inputs: (Value | undefined)[] = [];
    for (const iname of np.input ?? []) {
      if (iname === '') {
        inputs.push(undefined);
        continue;
      }
      const v = byName.get(iname);
      if (!v) {
        log.error(
          Code.VerifyUndefined,
          `node '${name || np.opType}' reads '${iname}', which no input, initializer or earlier node defines`,
          at(name || np.opType || undefined),
        );
        inputs.push(undefined);
        continue;
      }
      inputs.push(v);
    }
    const node = g.add(np.opType ?? '', inputs, {
      name,
      domain: np.domain ?? '',
      attrs: [...(np.attribute ?? [])] as never,
      scope: scopeOf(np),
      origin: { kind: 'onnx', name },
      outputs: [...(np.output ?? [])],
    });
    node.proto = np;
    node.outputs.forEach((v) => {
      if (!v) return;
      if (v.name !== undefined && byName.has(v.name)) {
        log.error(Code.VerifyUndefined, `value '${v.name}' is defined twice (second time by '${name}')`, at(name));
      }
      v.type = typed.get(v.name);
      byName.set(v.name, v);
    });
    const captured = subgraphCaptures(np);
    if (captured.size) {
      const vals: Value[] = [];
      for (const c of captured) {
        const v = byName.get(c);
        if (v) vals.push(v);
      }
      g.setImplicitInputs(node, vals);
    }
  }
  for (const vi of gp.output ?? []) {
    const v = byName.get(vi.name ?? '');
    if (!v) {
      log.error(Code.VerifyUndefined, `graph output '${vi.name}' is not defined`, at(vi.name ?? undefined));
      continue;
    }
    if (!v.type) v.type = typeOf(vi.type as TypeProto | undefined);
    g.addOutput(v);
  }
  return log.errors().length > before ? undefined : g;
}

let anonymous = 0;

export function typeOf(t: TypeProto | undefined): TensorType | undefined {
  const tt = t?.tensorType;
  if (!tt) return undefined;
  const shape: Dim[] | undefined = tt.shape
    ? (tt.shape.dim ?? []).map((d) => {
        if (d.dimValue !== undefined && d.dimValue !== null && Object.prototype.hasOwnProperty.call(d, 'dimValue'))
          return toNumber(d.dimValue);
        if (d.dimParam) return d.dimParam;
        return `?${++anonymous}`;
      })
    : undefined;
  return { dtype: tt.elemType ?? 0, shape };
}

/** Names a node's subgraphs read from enclosing scopes. */
function subgraphCaptures(n: NodeProto): Set<string> {
  const out = new Set<string>();
  for (const a of n.attribute ?? []) {
    for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectCaptures(sg as GraphProto, new Set(), out);
  }
  return out;
}

function collectCaptures(g: GraphProto, outer: Set<string>, out: Set<string>): void {
  const local = new Set<string>(outer);
  for (const v of g.input ?? []) local.add(v.name ?? '');
  for (const t of g.initializer ?? []) local.add(t.name ?? '');
  for (const n of (g.node ?? []) as NodeProto[]) {
    for (const i of n.input ?? []) if (i && !local.has(i)) out.add(i);
    for (const a of n.attribute ?? []) {
      for (const sg of [a.g, ...(a.graphs ?? [])]) if (sg) collectCaptures(sg as GraphProto, local, out);
    }
    for (const o of n.output ?? []) local.add(o);
  }
  for (const o of g.output ?? []) if (o.name && !local.has(o.name)) out.add(o.name);
}

// Shape and dtype inference: binds the graph inputs' symbolic dims, then walks
// the nodes in order and types every output with its operator's rule (see
// rules/). Small constant tensors are propagated on the way, because the
// TorchScript exporter computes every Reshape target at run time from
// Shape → Gather → Unsqueeze → Concat chains. Problems become coded
// diagnostics on the node; inference goes on past them.
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';
import type { Graph, Node, TensorType, Value } from '../graph.ts';
import { InferContext, InferState, ShapeFailure, UnknownInput } from './context.ts';
import { fmt } from './dim.ts';
import { dependencyOrder } from './order.ts';
import { RULE_TABLE, ruleKey } from './rules/index.ts';
import type { ConstTensor } from './tensor-value.ts';

export type { ConstTensor } from './tensor-value.ts';

export interface InferOptions {
  /** Sizes for the graph inputs' symbolic dims, e.g. {batch_size: 1, height: 64, width: 64}. */
  dims?: Record<string, number>;
}

export interface InferResult {
  /** Values known at compile time (folded shape arithmetic and the small weights it read). */
  constants: Map<Value, ConstTensor>;
}

export function inferShapes(g: Graph, opts: InferOptions, log: DiagnosticLog, file?: string): InferResult {
  const at = (node?: string): Location => ({ file, node });
  const state = new InferState();
  bindInputs(g, opts.dims ?? {}, log, at);
  const { order, cyclic } = dependencyOrder(g);
  for (const n of cyclic)
    log.error(
      Code.VerifyCycle,
      `node '${n.name}' depends on its own output (a cycle); shapes on the cycle stay unknown`,
      at(n.name),
    );
  // Types from an earlier run or from value_info are dropped first, so no rule reads a stale one.
  const previous = new Map<Value, TensorType | undefined>();
  for (const n of order) {
    for (const v of n.outputs) {
      if (!v) continue;
      previous.set(v, v.type);
      v.type = undefined;
    }
  }
  for (const node of order) inferNode(g, node, state, previous, log, at);
  return { constants: state.constants };
}

function bindInputs(g: Graph, dims: Record<string, number>, log: DiagnosticLog, at: (n?: string) => Location): void {
  for (const v of g.inputs) {
    const shape = v.type?.shape;
    if (!v.type || !shape) {
      log.error(
        Code.ShapeError,
        `input '${v.name}' declares no ${v.type ? 'shape' : 'type'}; inference cannot start from it`,
        at(v.name),
      );
      continue;
    }
    const bound = shape.map((d) => (typeof d === 'string' && validSize(dims[d]) ? dims[d] : d));
    shape.forEach((d, k) => {
      if (typeof bound[k] === 'number') return;
      const hint = bound.map((b) => (typeof b === 'number' ? b : 'N')).join(',');
      const what = String(d).startsWith('?') ? `an unnamed dim (axis ${k})` : `unbound dim '${d}'`;
      log.error(Code.UnboundDim, `input '${v.name}' has ${what} (bind it with --input ${v.name}=${hint})`, at(v.name));
    });
    v.type = { dtype: v.type.dtype, shape: bound };
  }
}

function validSize(n: number | undefined): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}

function inferNode(
  g: Graph,
  node: Node,
  state: InferState,
  previous: Map<Value, TensorType | undefined>,
  log: DiagnosticLog,
  at: (n?: string) => Location,
): void {
  // Unnamed nodes are located by their first output, which names them uniquely.
  const where = node.name || node.outputs.find((v) => v)?.name || node.op;
  const rule = RULE_TABLE.get(ruleKey(node.domain, node.op));
  const domain = node.domain === 'ai.onnx' ? '' : node.domain;
  if (!rule) {
    log.error(
      Code.UnsupportedOp,
      `shape inference has no rule for operator '${domain ? domain + '.' : ''}${node.op}'`,
      at(where),
    );
    return untyped(node, previous);
  }
  const ctx = new InferContext(node, g.opset(domain) ?? (domain ? 1 : 17), state);
  try {
    rule.infer(node, ctx);
    const missed = node.outputs.findIndex((v) => v && !v.type);
    if (missed >= 0) {
      log.error(Code.ShapeError, `the ${node.op} rule left output ${missed} untyped`, at(where));
      untyped(node, previous);
    }
  } catch (e) {
    if (e instanceof ShapeFailure) log.error(Code.ShapeError, `${node.op}: ${e.message}`, at(where), inputNotes(node));
    else if (!(e instanceof UnknownInput)) throw e;
    else {
      // Unknown inputs normally come from a node that already failed; a value nothing defines is reported here.
      const orphan = node.inputs.find((v) => v && !v.type && !v.producer && !g.inputs.includes(v));
      if (orphan)
        log.error(Code.VerifyUndefined, `node '${where}' reads '${orphan.name}', which nothing defines`, at(where));
    }
    untyped(node, previous);
  }
}

/** Outputs of a node that could not be inferred: dtype kept if known, rank unknown. */
function untyped(node: Node, previous: Map<Value, TensorType | undefined>): void {
  for (const v of node.outputs)
    if (v && !v.type?.shape) v.type = { dtype: v.type?.dtype ?? previous.get(v)?.dtype ?? 0, shape: undefined };
}

function inputNotes(node: Node): string[] {
  return node.inputs.map(
    (v, i) => `input ${i} '${v?.name ?? ''}': ${v?.type?.shape ? fmt(v.type.shape) : 'unknown shape'}`,
  );
}

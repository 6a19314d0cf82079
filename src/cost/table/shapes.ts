// Binding and inferring shapes for costing, unless a graph already has them.
import type { DiagnosticLog } from '../../diagnostics.ts';
import { bindInputs, DEFAULT_DIMS, type InputBinding } from '../../ir/bind.ts';
import type { Graph } from '../../ir/graph.ts';
import { inferShapes } from '../../ir/infer/index.ts';

/**
 * Binds dims (explicit bindings, then `dims`, then DEFAULT_DIMS) and infers
 * shapes, unless every value already has a numeric shape (a graph compile has
 * specialized), which is used as it is.
 */
export function ensureShapes(g: Graph, bindings: InputBinding[], dims: Record<string, number>, log: DiagnosticLog, file?: string): boolean {
  const inferred = g.nodes().every((n) => n.outputs.every((v) => !v || (v.type?.shape && v.type.shape.every((d) => typeof d === 'number'))));
  if (inferred && !bindings.length) return true;
  const bound = bindInputs(g, bindings, log, { ...DEFAULT_DIMS, ...dims });
  if (!bound) return false;
  const before = log.errors().length;
  inferShapes(g, { dims: bound }, log, file);
  return log.errors().length === before;
}

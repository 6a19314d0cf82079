// Per-target specialization: the same rewritten graphs get static input
// shapes for each target's resolution (ir/bind.ts), are shape-checked, and are
// checked against what the target runtime can run.
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Graph } from '../ir/graph.ts';

/** Every op type the target runtime lists as unsupported is an error naming the first node that uses it. */
export function checkOps(
  g: Graph,
  device: string,
  unsupported: readonly string[],
  model: string,
  log: DiagnosticLog,
  at?: Location,
): boolean {
  const banned = new Set(unsupported);
  const seen = new Map<string, string>();
  for (const n of g.nodes()) if (banned.has(n.op) && !seen.has(n.op)) seen.set(n.op, n.name);
  for (const [op, node] of seen) {
    log.error(
      Code.UnsupportedOnDevice,
      `${device}'s runtime cannot run ${op}, used by the ${model} (first at node '${node}')`,
      at ?? { node },
    );
  }
  return seen.size === 0;
}

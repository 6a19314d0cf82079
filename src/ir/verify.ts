// The invariants every pass must leave intact. verify() runs after each pass
// and names the pass, so a broken invariant is blamed where it was broken.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Graph, Value } from './graph.ts';

export interface VerifyOptions {
  /** The pass that just ran, for blame. */
  pass?: string;
  /** Require a known dtype and rank on every value (after shape inference). */
  requireTypes?: boolean;
  file?: string;
}

export function verify(g: Graph, log: DiagnosticLog, opts: VerifyOptions = {}): boolean {
  const before = log.errors().length;
  const blame = opts.pass ? `after pass '${opts.pass}': ` : '';
  const at = (node?: string) => ({ file: opts.file, node });
  const defined = new Set<Value>([...g.inputs, ...g.weights]);
  const expectedUses = new Map<Value, number>();
  const nodes = g.nodes();
  const position = new Map(nodes.map((n, i) => [n, i]));

  nodes.forEach((n, i) => {
    const reads = [...n.inputs, ...n.implicitInputs];
    for (const v of reads) {
      if (!v) continue;
      expectedUses.set(v, (expectedUses.get(v) ?? 0) + 1);
      if (defined.has(v)) continue;
      const p = v.producer;
      if (p && p.alive && position.has(p) && position.get(p)! > i) {
        log.error(
          Code.VerifyCycle,
          `${blame}node '${n.name}' reads '${v.name}' before '${p.name}' produces it (cycle or broken order)`,
          at(n.name),
        );
      } else {
        log.error(
          Code.VerifyUndefined,
          `${blame}node '${n.name}' reads '${v.name}', which nothing defines`,
          at(n.name),
        );
      }
    }
    for (const v of n.outputs) if (v) defined.add(v);
  });

  for (const v of g.outputs) {
    if (!defined.has(v)) log.error(Code.VerifyUndefined, `${blame}graph output '${v.name}' is not defined`, at(v.name));
  }

  const all = new Set<Value>([...g.inputs, ...g.weights, ...g.outputs]);
  for (const n of nodes) for (const v of [...n.inputs, ...n.outputs, ...n.implicitInputs]) if (v) all.add(v);
  for (const v of all) {
    const live = v.uses.filter((u) => u.node.alive).length;
    if (v.uses.length !== live || live !== (expectedUses.get(v) ?? 0)) {
      log.error(
        Code.VerifyUseList,
        `${blame}use-list of '${v.name}' has ${v.uses.length} entries (${live} live), but ${expectedUses.get(v) ?? 0} node inputs read it`,
        at(v.name),
      );
    }
    if (opts.requireTypes && (!v.type || !v.type.dtype || !v.type.shape)) {
      const what = !v.type || !v.type.dtype ? 'dtype' : 'rank';
      log.error(Code.VerifyUntyped, `${blame}value '${v.name}' has no known ${what}`, at(v.producer?.name ?? v.name));
    }
  }
  return log.errors().length === before;
}

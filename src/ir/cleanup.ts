// The one place that deletes: after a pass has rewired, everything that no
// longer reaches a graph output goes, and so do weights nothing reads.
import type { Graph, Node, Value } from './graph.ts';

export interface CleanupStats {
  nodes: number;
  weights: number;
}

export function cleanup(g: Graph): CleanupStats {
  const live = new Set<Node>();
  const stack: Value[] = [...g.outputs];
  const seen = new Set<Value>();
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const p = v.producer;
    if (!p || !p.alive || live.has(p)) continue;
    live.add(p);
    for (const i of p.inputs) if (i) stack.push(i);
    for (const i of p.implicitInputs) stack.push(i);
  }
  const dead = g.nodes().filter((n) => !live.has(n));
  // In topological order reversed, consumers go before producers: one sweep.
  detach(g, [...dead].reverse());
  let weights = 0;
  for (const w of [...g.weights]) {
    if (w.uses.length === 0 && !g.outputs.includes(w)) {
      g.removeWeight(w);
      weights++;
    }
  }
  return { nodes: dead.length, weights };
}

/** Erases a set of nodes that only feed each other (or nothing). */
function detach(g: Graph, dead: Node[]): void {
  const deadSet = new Set(dead);
  let progress = true;
  let remaining = dead;
  while (remaining.length && progress) {
    progress = false;
    const next: Node[] = [];
    for (const n of remaining) {
      const used = n.outputs.some((v) => v && (v.uses.some((u) => u.node.alive) || g.outputs.includes(v)));
      if (used) {
        next.push(n);
      } else {
        g.erase(n);
        progress = true;
      }
    }
    remaining = next;
  }
  // Whatever is left sits on a dead cycle: no legal ONNX graph has one, but never loop forever.
  if (remaining.length && remaining.every((n) => deadSet.has(n))) {
    throw new Error(`cleanup: ${remaining.length} dead nodes form a cycle (first: ${remaining[0].name})`);
  }
}

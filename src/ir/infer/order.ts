// The order inference visits nodes in: every producer before its consumers,
// whatever order a pass left the graph in. This does not reorder the graph
// (toposort does that); it only reads it. Nodes on a cycle are reported.
import type { Graph, Node } from '../graph.ts';

/** The graph's nodes with producers first (the graph's own order when already sorted), and those on cycles. */
export function dependencyOrder(g: Graph): { order: Node[]; cyclic: Node[] } {
  const nodes = g.nodes();
  const inGraph = new Set(nodes);
  // 1: on the DFS stack, 2: done.
  const state = new Map<Node, 1 | 2>();
  const order: Node[] = [];
  const cyclic = new Set<Node>();
  const producers = (n: Node) =>
    [...n.inputs, ...n.implicitInputs].map((v) => v?.producer).filter((p): p is Node => !!p && inGraph.has(p));
  for (const root of nodes) {
    if (state.has(root)) continue;
    // An explicit stack: a chain of thousands of nodes would overflow recursion.
    const stack: { node: Node; deps: Node[]; next: number }[] = [{ node: root, deps: producers(root), next: 0 }];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.next < top.deps.length) {
        const p = top.deps[top.next++];
        const s = state.get(p);
        if (s === undefined) {
          state.set(p, 1);
          stack.push({ node: p, deps: producers(p), next: 0 });
        } else if (s === 1) {
          cyclic.add(p);
        }
        continue;
      }
      stack.pop();
      state.set(top.node, 2);
      order.push(top.node);
    }
  }
  return { order, cyclic: [...cyclic] };
}

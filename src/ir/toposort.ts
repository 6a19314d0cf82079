// Stable topological order: nodes keep their current relative order unless a
// producer comes after its consumer, the way onnx-graphsurgeon sorts.
import type { Graph, Node } from './graph.ts';

/** Reorders the graph's nodes; returns the nodes left on a cycle (empty when acyclic). */
export function toposort(g: Graph): Node[] {
  const nodes = g.nodes();
  const index = new Map(nodes.map((n, i) => [n, i]));
  const pending = new Map<Node, number>();
  const consumers = new Map<Node, Node[]>();
  for (const n of nodes) {
    const preds = new Set<Node>();
    for (const v of [...n.inputs, ...n.implicitInputs]) {
      const p = v?.producer;
      if (p && p.alive && index.has(p) && p !== n) preds.add(p);
    }
    pending.set(n, preds.size);
    for (const p of preds) {
      const list = consumers.get(p) ?? [];
      list.push(n);
      consumers.set(p, list);
    }
  }
  // A min-heap on the original index keeps the order stable.
  const heap: Node[] = [];
  const push = (n: Node) => {
    heap.push(n);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (index.get(heap[p])! <= index.get(heap[i])!) break;
      [heap[p], heap[i]] = [heap[i], heap[p]];
      i = p;
    }
  };
  const pop = (): Node => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && index.get(heap[l])! < index.get(heap[m])!) m = l;
        if (r < heap.length && index.get(heap[r])! < index.get(heap[m])!) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i], heap[m]];
        i = m;
      }
    }
    return top;
  };
  for (const n of nodes) if (pending.get(n) === 0) push(n);
  const out: Node[] = [];
  while (heap.length) {
    const n = pop();
    out.push(n);
    for (const c of consumers.get(n) ?? []) {
      const k = pending.get(c)! - 1;
      pending.set(c, k);
      if (k === 0) push(c);
    }
  }
  const cyclic = nodes.filter((n) => pending.get(n)! > 0);
  g._setOrder([...out, ...cyclic]);
  return cyclic;
}

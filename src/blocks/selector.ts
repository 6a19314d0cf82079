// Selectors over a model's structure for widths and quantization: a block
// name (`up_blocks.1.resnets.0`) or a module path inside one
// (`**.transformer_blocks.0.ff`), with `*` / `**` globs; '*' alone is
// everything. Each resolves to a predicate over nodes and a breadth (how many
// nodes it covers), so that where selectors overlap the narrowest one wins.
// An unknown selector gets PD5001 with a did-you-mean from the block names.
import { findBlocks, type Block } from './find.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Graph, Node } from '../ir/graph.ts';
import { globToRegExp, selectBlocks } from './select.ts';

export interface NodeSelector {
  selector: string;
  /** How many nodes it covers (Infinity for '*'): smaller is more specific. */
  breadth: number;
  covers(n: Node): boolean;
}

export function resolveSelector(
  g: Graph,
  selector: string,
  log: DiagnosticLog,
  at?: Location,
  map = findBlocks(g),
): NodeSelector | undefined {
  if (selector === '*' || selector === '**') return { selector, breadth: Infinity, covers: () => true };
  const re = globToRegExp(selector);
  const inScope = (scope: string) => {
    const parts = scope.split('.');
    for (let k = 1; k <= parts.length; k++) if (re.test(parts.slice(0, k).join('.'))) return true;
    return false;
  };
  const hits = new Set<Block>(map.blocks.filter((b) => re.test(b.name)));
  const covers = (n: Node) => {
    const b = map.blockOf.get(n);
    return (!!b && hits.has(b)) || inScope(n.scope);
  };
  const breadth = g.nodes().filter(covers).length;
  if (!breadth) {
    selectBlocks(selector, map.blocks, log, at);
    return undefined;
  }
  return { selector, breadth, covers };
}

/** Index of the most specific selector covering every node given (later wins ties), or -1. */
export function narrowest(selectors: readonly (NodeSelector | undefined)[], nodes: readonly Node[]): number {
  let best = -1;
  selectors.forEach((s, i) => {
    if (!s || !nodes.every((n) => s.covers(n))) return;
    if (best < 0 || s.breadth <= selectors[best]!.breadth) best = i;
  });
  return best;
}

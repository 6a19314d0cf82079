// What a pass is: a named rewrite of the graph that only rewires through the
// mutation API and reports through the log. The runner, not the pass, cleans
// up dead nodes, re-sorts and verifies, so every pass is checked the same way.
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { cleanup } from '../ir/cleanup.ts';
import { toposort } from '../ir/toposort.ts';
import { verify } from '../ir/verify.ts';

export interface PassResult {
  /** Free-form counters for the report (`blocks_removed: 5`). */
  stats: Record<string, number | string>;
}

export interface Pass {
  /** Kebab-case; what reports, the manifest's pass list and verify's blame call it (not a recipe key: remove-blocks implements `blocks.remove`). */
  name: string;
  run(g: Graph, log: DiagnosticLog): PassResult | undefined;
}

export interface PassRecord {
  pass: string;
  stats: Record<string, number | string>;
  nodes_removed: number;
  weights_removed: number;
}

/**
 * Runs passes in order; after each: cleanup, toposort, verify (blaming the
 * pass). Stops at the first pass that reports an error or breaks an invariant.
 */
export function runPasses(g: Graph, passes: Pass[], log: DiagnosticLog, file?: string): PassRecord[] | undefined {
  const records: PassRecord[] = [];
  for (const p of passes) {
    const before = log.errors().length;
    const result = p.run(g, log);
    if (!result || log.errors().length > before) return undefined;
    const cleaned = cleanup(g);
    const cyclic = toposort(g);
    if (!verify(g, log, { pass: p.name, file }) || cyclic.length) return undefined;
    records.push({ pass: p.name, stats: result.stats, nodes_removed: cleaned.nodes, weights_removed: cleaned.weights });
  }
  return records;
}

export type { Location };

// Shared by the pass tests: a real export with its shapes inferred (interface
// left dynamic, as the compile pipeline leaves it), and a pass run that must succeed.
import * as assert from 'uvu/assert';
import { DiagnosticLog, formatDiagnostic } from '../../src/diagnostics.ts';
import type { Graph } from '../../src/ir/graph.ts';
import { inferShapes } from '../../src/ir/infer/index.ts';
import { runPasses, type Pass } from '../../src/passes/pass.ts';
import { restoreIo, snapshotIo } from '../../src/ir/bind.ts';
import { loadGraph } from './ort.ts';

export function inferredGraph(file: string, dims: Record<string, number>): Graph {
  const g = loadGraph(file);
  const io = snapshotIo(g);
  const log = new DiagnosticLog();
  inferShapes(g, { dims }, log);
  assert.is(log.hasErrors, false, log.items.map(formatDiagnostic).join('\n'));
  restoreIo(g, io);
  return g;
}

/** Runs one pass through runPasses (cleanup and verify included); fails the test on any error. */
export function applyPass(g: Graph, pass: Pass): DiagnosticLog {
  const log = new DiagnosticLog();
  const records = runPasses(g, [pass], log);
  assert.ok(records, log.items.map(formatDiagnostic).join('\n'));
  return log;
}

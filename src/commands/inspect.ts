// pocketdiff inspect MODEL.onnx [--input NAME=d0,d1,…]… [--json]
// Works on graph-only models: it needs shapes, never weights.
import { analyzeGraph, type ModelStats } from '../blocks/analyze.ts';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadModel } from '../onnx/model.ts';
import { bindInputs, parseInputBindings, type InputBinding } from '../ir/bind.ts';
import type { Graph } from '../ir/graph.ts';
import { importGraph } from '../ir/import.ts';
import { ioInfo, type IoInfo } from '../ir/print.ts';

export type { IoInfo };
import { inferShapes } from '../ir/infer/index.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff inspect MODEL.onnx [--input NAME=d0,d1,…]… [--json]';

export interface InspectReport extends ModelStats {
  model: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
}

/** Loads, binds, infers and analyzes; undefined when the log has the reasons. */
export function inspectModel(file: string, bindings: InputBinding[], log: DiagnosticLog): InspectReport | undefined {
  const model = loadModel(file, log, { weights: 'optional' });
  if (!model) return undefined;
  const g = importGraph(model, log);
  if (!g) return undefined;
  return inspectGraph(g, file, bindings, log);
}

export function inspectGraph(g: Graph, file: string, bindings: InputBinding[], log: DiagnosticLog): InspectReport | undefined {
  const dims = bindInputs(g, bindings, log);
  if (!dims) return undefined;
  const before = log.errors().length;
  inferShapes(g, { dims }, log, file);
  if (log.errors().length > before) return undefined;
  const stats = analyzeGraph(g);
  if (stats.uncounted.length) {
    log.error(Code.ShapeError, `MACs of ${stats.uncounted.length} nodes could not be counted: their shapes are unknown`, { file, node: stats.uncounted[0] });
    return undefined;
  }
  return { model: file, inputs: g.inputs.map(ioInfo), outputs: g.outputs.map(ioInfo), ...stats };
}

export const inspect: Command = {
  name: 'inspect',
  usage,
  summary: 'params, MACs and the block map of an ONNX model (weights not needed)',
  run(argv, { log, stdout }) {
    const args = parse(argv, { input: { type: 'string', multiple: true }, json: { type: 'boolean' } }, usage, log);
    if (!args) return Exit.Usage;
    const [file, ...rest] = args.positionals;
    if (!file || rest.length) {
      log.error(Code.Usage, `expected one MODEL.onnx\nusage: ${usage}`);
      return Exit.Usage;
    }
    const bindings = parseInputBindings(args.values.input ?? [], log);
    if (!bindings) return Exit.Usage;
    const report = inspectModel(file, bindings, log);
    if (!report) return Exit.Error;
    stdout(args.values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return Exit.Ok;
  },
};

const int = (n: number) => n.toLocaleString('en-US');
const giga = (n: number) => (n / 1e9).toFixed(3);

export function formatReport(r: InspectReport): string {
  const io = (list: IoInfo[]) => list.map((v) => `  ${v.name}  ${v.dtype} [${v.shape.join(', ')}]`);
  const rows = r.blocks.map((b) => [b.name, b.kind, int(b.params), giga(b.macs), giga(b.attention_macs)]);
  rows.push(['(glue)', `${r.glue.nodes} nodes`, int(r.glue.params), giga(r.glue.macs), giga(0)]);
  const head = ['block', 'kind', 'params', 'GMACs', 'attn GMACs'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [
    `model   ${r.model}`,
    'inputs',
    ...io(r.inputs),
    'outputs',
    ...io(r.outputs),
    `params  ${int(r.params)}`,
    `MACs    ${giga(r.macs.total)} G total, ${giga(r.macs.attention)} G in attention (QKᵀ and softmax·V)`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

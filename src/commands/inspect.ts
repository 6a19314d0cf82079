// pocketdiff inspect MODEL.onnx [--input NAME=d0,d1,…]… [--json]
// Works on graph-only models: it needs shapes, never weights.
import { analyzeGraph, type ModelStats } from '../blocks/analyze.ts';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadModel } from '../onnx/model.ts';
import { bindInputs, parseInputBindings, type InputBinding } from '../ir/bind.ts';
import type { Graph, Value } from '../ir/graph.ts';
import { numel } from '../blocks/find.ts';
import { nodeMacs } from '../blocks/macs.ts';
import { importGraph } from '../ir/import.ts';
import { ioInfo, type IoInfo } from '../ir/print.ts';

export type { IoInfo };
import { inferShapes } from '../ir/infer/index.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff inspect MODEL.onnx [--input NAME=d0,d1,…]… [--json]';

export interface InspectReport extends ModelStats {
  model: string;
  /** `assumed`: positions of dims that were dynamic and got an assumed size. */
  inputs: (IoInfo & { assumed?: number[] })[];
  outputs: IoInfo[];
  /** Dynamic dims given a size here because no --input named them: the sizes are assumptions. */
  assumed_dims: Record<string, number>;
  /** For a model without diffusers blocks (a ResNet-50): its top-level modules instead of one glue row. */
  modules?: ModuleStats[];
}

export interface ModuleStats {
  name: string;
  nodes: number;
  params: number;
  macs: number;
}

/** Loads, binds, infers and analyzes; undefined when the log has the reasons. */
export function inspectModel(file: string, bindings: InputBinding[], log: DiagnosticLog): InspectReport | undefined {
  const model = loadModel(file, log, { weights: 'optional' });
  if (!model) return undefined;
  const g = importGraph(model, log);
  if (!g) return undefined;
  return inspectGraph(g, file, bindings, log);
}

export function inspectGraph(
  g: Graph,
  file: string,
  bindings: InputBinding[],
  log: DiagnosticLog,
): InspectReport | undefined {
  const shapes = g.inputs.map((v) => [...(v.type?.shape ?? [])]);
  const declared = new Set(shapes.flat().filter((d): d is string => typeof d === 'string'));
  const dims = bindInputs(g, bindings, log);
  if (!dims) return undefined;
  // What the user sized is chosen; the other dynamic dims got defaults.
  const given = new Set(
    bindings.flatMap((b) =>
      (shapes[g.inputs.findIndex((v) => v.name === b.name)] ?? []).filter((d): d is string => typeof d === 'string'),
    ),
  );
  const assumed = Object.fromEntries(
    Object.entries(dims)
      .filter(([k]) => declared.has(k) && !given.has(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const before = log.errors().length;
  inferShapes(g, { dims }, log, file);
  if (log.errors().length > before) return undefined;
  const stats = analyzeGraph(g);
  if (stats.uncounted.length) {
    log.error(
      Code.ShapeError,
      `MACs of ${stats.uncounted.length} nodes could not be counted: their shapes are unknown`,
      { file, node: stats.uncounted[0] },
    );
    return undefined;
  }
  const inputs = g.inputs.map((v, i) => {
    const positions = (shapes[i] ?? []).flatMap((d, j) => (typeof d === 'string' && d in assumed ? [j] : []));
    return positions.length ? { ...ioInfo(v), assumed: positions } : ioInfo(v);
  });
  return {
    model: file,
    inputs,
    outputs: g.outputs.map(ioInfo),
    ...stats,
    assumed_dims: assumed,
    ...(stats.blocks.length ? {} : { modules: topModules(g) }),
  };
}

/** Nodes grouped by the first segment of their module scope (`layer1`, `fc`); each weight counted where it is first read. */
function topModules(g: Graph): ModuleStats[] {
  const out = new Map<string, ModuleStats>();
  const seen = new Set<Value>();
  for (const n of g.nodes()) {
    const name = n.scope.split('.')[0] || '(unscoped)';
    const m = out.get(name) ?? { name, nodes: 0, params: 0, macs: 0 };
    out.set(name, m);
    m.nodes++;
    m.macs += nodeMacs(n)?.macs ?? 0;
    for (const v of n.inputs) {
      if (!v?.weight || seen.has(v)) continue;
      seen.add(v);
      m.params += numel(v);
    }
  }
  return [...out.values()];
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
  // A dim that was dynamic shows its assumed size with a star.
  const io = (list: (IoInfo & { assumed?: number[] })[]) =>
    list.map(
      (v) =>
        `  ${v.name}  ${v.dtype} [${v.shape.map((d, i) => (v.assumed?.includes(i) ? `${d}*` : String(d))).join(', ')}]`,
    );
  const rows = r.modules
    ? r.modules.map((m) => [m.name, `${m.nodes} node${m.nodes === 1 ? '' : 's'}`, int(m.params), giga(m.macs), giga(0)])
    : r.blocks.map((b) => [b.name, b.kind, int(b.params), giga(b.macs), giga(b.attention_macs)]);
  if (!r.modules) rows.push(['(glue)', `${r.glue.nodes} nodes`, int(r.glue.params), giga(r.glue.macs), giga(0)]);
  const head = [r.modules ? 'module' : 'block', r.modules ? 'nodes' : 'kind', 'params', 'GMACs', 'attn GMACs'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [
    `model   ${r.model}`,
    'inputs',
    ...io(r.inputs),
    'outputs',
    ...io(r.outputs),
    `params  ${int(r.params)}`,
    `MACs    ${giga(r.macs.total)} G total, ${giga(r.macs.attention)} G in attention (QKᵀ and softmax·V)`,
    ...(Object.keys(r.assumed_dims).length
      ? [
          `* assumed for dynamic dims: ${Object.entries(r.assumed_dims)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')} (--input NAME=d0,d1,… sets them; MACs are for these sizes)`,
        ]
      : []),
    ...(r.modules ? ['no diffusers blocks in this model: its top-level modules instead'] : []),
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

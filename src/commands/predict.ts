// pocketdiff predict MODEL.onnx --device D [--input NAME=d0,d1,…]… [--json]
// One model's latency on a device, per block. Needs shapes, never weights.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice } from '../devices/index.ts';
import { parseInputBindings, type InputBinding } from '../ir/bind.ts';
import { planCost, predictPlan } from '../cost/plan.ts';
import { sourceTable } from '../cost/tables.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff predict MODEL.onnx --device D [--input NAME=d0,d1,…]… [--json]';

export interface PredictReport {
  device: string;
  ms: number;
  /** Blocks in graph order, then '(glue)' (time_proj, skip concats): they sum to `ms`. */
  by_block: { name: string; ms: number }[];
}

export async function predictModel(file: string, device: string, bindings: InputBinding[], log: DiagnosticLog): Promise<PredictReport | undefined> {
  const profile = loadDevice(device, log);
  if (!profile) return undefined;
  const table = await sourceTable({ kind: 'file', file }, bindings, {}, log, { file });
  if (!table) return undefined;
  const p = predictPlan(planCost(table, profile));
  return { device: profile.name, ms: round(p.ms), by_block: [...p.by_block.map((b) => ({ name: b.name, ms: round(b.ms) })), { name: '(glue)', ms: round(p.glue_ms) }] };
}

export const predict: Command = {
  name: 'predict',
  usage,
  summary: "a model's latency on a device, per block, from the cost model (weights not needed)",
  async run(argv, { log, stdout }) {
    const args = parse(argv, { device: { type: 'string' }, input: { type: 'string', multiple: true }, json: { type: 'boolean' } }, usage, log);
    if (!args) return Exit.Usage;
    const [file, ...rest] = args.positionals;
    if (!file || rest.length || !args.values.device) {
      log.error(Code.Usage, `expected one MODEL.onnx and --device\nusage: ${usage}`);
      return Exit.Usage;
    }
    const bindings = parseInputBindings(args.values.input ?? [], log);
    if (!bindings) return Exit.Usage;
    const report = await predictModel(file, args.values.device, bindings, log);
    if (!report) return Exit.Error;
    stdout(args.values.json ? JSON.stringify(report, null, 2) : formatPrediction(file, report));
    return Exit.Ok;
  },
};

export function formatPrediction(file: string, r: PredictReport): string {
  const rows = [...r.by_block].sort((a, b) => b.ms - a.ms);
  const width = Math.max(...rows.map((b) => b.name.length));
  const top = rows[0]?.ms || 1;
  return [
    `${file} on ${r.device}: ${fmt(r.ms)} ms`,
    '',
    ...rows.map((b) => `  ${b.name.padEnd(width)}  ${fmt(b.ms).padStart(10)} ms  ${(((b.ms / r.ms) * 100).toFixed(1) + '%').padStart(6)}  ${'█'.repeat(Math.round((b.ms / top) * 24))}`),
  ].join('\n');
}

export const round = (x: number) => Math.round(x * 1000) / 1000;
export const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

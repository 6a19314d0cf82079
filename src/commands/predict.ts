// pocketdiff predict MODEL.onnx --device D [--precision P] [--input NAME=d0,d1,…]… [--json]
// One model's latency on a device, per block, with its 80% interval. Needs
// shapes, never weights.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice } from '../devices/index.ts';
import { parseInputBindings, type InputBinding } from '../ir/bind.ts';
import { intervalOf, mixOf } from '../cost/roofline/interval.ts';
import { planCost } from '../cost/roofline/plan.ts';
import { effectivePrecision, predictPlan } from '../cost/roofline/roofline.ts';
import { sourceTable } from '../cost/table/sources.ts';
import { SCHEME_INFO, SCHEMES, type Scheme } from '../precision.ts';
import { closest } from '../text/did-you-mean.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff predict MODEL.onnx --device D [--precision P] [--input NAME=d0,d1,…]… [--json]';

export interface PredictReport {
  device: string;
  ms: number;
  /** 80% interval of `ms` (absent where the profile has none). */
  interval_80?: [number, number];
  /** The scheme priced, when --precision gave one; otherwise the graph runs as the profile runs a float graph. */
  precision?: string;
  /** Blocks in graph order, then '(glue)' (time_proj, skip concats, the call's fixed cost): they sum to `ms`. */
  by_block: { name: string; ms: number }[];
}

export async function predictModel(file: string, device: string, bindings: InputBinding[], log: DiagnosticLog, precision?: string): Promise<PredictReport | undefined> {
  const profile = loadDevice(device, log);
  if (!profile) return undefined;
  let scheme: Scheme | undefined;
  if (precision !== undefined) {
    if (!(SCHEMES as readonly string[]).includes(precision)) {
      const guess = closest(precision, [...SCHEMES]);
      log.error(Code.UnknownQuantize, `unknown --precision '${precision}'${guess ? `; did you mean '${guess}'?` : ''}`, undefined, [`precisions: ${SCHEMES.join(', ')}`]);
      return undefined;
    }
    scheme = precision as Scheme;
  }
  const table = await sourceTable({ kind: 'file', file }, bindings, {}, log, { file });
  if (!table) return undefined;
  const eff = effectivePrecision(profile, scheme);
  if (scheme && eff.fellBack) log.warn(Code.PrecisionFallback, `${profile.name} has no kernels for ${scheme} (${SCHEME_INFO[scheme].summary}): priced at ${eff.precision.compute} arithmetic with ${eff.precision.weights} weights`);
  const plan = planCost(table, profile, { precision: eff.precision });
  const p = predictPlan(plan);
  const iv = intervalOf(profile, p.ms, mixOf(plan));
  return {
    device: profile.name,
    ms: round(p.ms),
    ...(iv ? { interval_80: [round(iv[0]), round(iv[1])] as [number, number] } : {}),
    ...(scheme ? { precision: scheme } : {}),
    by_block: [...p.by_block.map((b) => ({ name: b.name, ms: round(b.ms) })), { name: '(glue)', ms: round(p.glue_ms) }],
  };
}

export const predict: Command = {
  name: 'predict',
  usage,
  summary: "a model's latency on a device, per block, with its 80% interval (weights not needed)",
  async run(argv, { log, stdout }) {
    const args = parse(argv, { device: { type: 'string' }, precision: { type: 'string' }, input: { type: 'string', multiple: true }, json: { type: 'boolean' } }, usage, log);
    if (!args) return Exit.Usage;
    const [file, ...rest] = args.positionals;
    if (!file || rest.length || !args.values.device) {
      log.error(Code.Usage, `expected one MODEL.onnx and --device\nusage: ${usage}`);
      return Exit.Usage;
    }
    const bindings = parseInputBindings(args.values.input ?? [], log);
    if (!bindings) return Exit.Usage;
    const report = await predictModel(file, args.values.device, bindings, log, args.values.precision);
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
    `${file} on ${r.device}${r.precision ? ` at ${r.precision}` : ''}: ${fmt(r.ms)} ms${r.interval_80 ? ` (80%: ${fmtInterval(r.interval_80)})` : ''}`,
    '',
    ...rows.map((b) => `  ${b.name.padEnd(width)}  ${fmt(b.ms).padStart(10)} ms  ${(((b.ms / r.ms) * 100).toFixed(1) + '%').padStart(6)}  ${'█'.repeat(Math.round((b.ms / top) * 24))}`),
  ].join('\n');
}

export const round = (x: number) => Math.round(x * 1000) / 1000;

/** Milliseconds as people read them: 1,695 · 142 · 37.4 · 4.00. */
export const fmt = (x: number) => (x >= 1000 ? String(Math.round(x)).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** An interval as `1,310–2,280`. */
export const fmtInterval = ([lo, hi]: readonly [number, number]) => `${fmt(lo)}–${fmt(hi)}`;

// One model's latency on a device, per block, with its 80% interval (the
// `predict` command and the library's predict). Needs shapes, never weights.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice } from '../devices/index.ts';
import type { InputBinding } from '../ir/bind.ts';
import { intervalOf, mixOf } from './roofline/interval.ts';
import { planCost } from './roofline/plan.ts';
import { effectivePrecision, predictPlan } from './roofline/roofline.ts';
import { sourceTable } from './table/sources.ts';
import { SCHEME_INFO, SCHEMES, type Scheme } from '../precision.ts';
import { closest } from '../text/did-you-mean.ts';
import { round } from '../text/numbers.ts';

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

export async function predictModel(
  file: string,
  device: string,
  bindings: InputBinding[],
  log: DiagnosticLog,
  precision?: string,
): Promise<PredictReport | undefined> {
  const profile = loadDevice(device, log);
  if (!profile) return undefined;
  let scheme: Scheme | undefined;
  if (precision !== undefined) {
    if (!(SCHEMES as readonly string[]).includes(precision)) {
      const guess = closest(precision, [...SCHEMES]);
      log.error(
        Code.UnknownQuantize,
        `unknown --precision '${precision}'${guess ? `; did you mean '${guess}'?` : ''}`,
        undefined,
        [`precisions: ${SCHEMES.join(', ')}`],
      );
      return undefined;
    }
    scheme = precision as Scheme;
  }
  const table = await sourceTable({ kind: 'file', file }, bindings, {}, log, { file });
  if (!table) return undefined;
  const eff = effectivePrecision(profile, scheme);
  if (scheme && eff.fellBack)
    log.warn(
      Code.PrecisionFallback,
      `${profile.name} has no kernels for ${scheme} (${SCHEME_INFO[scheme].summary}): priced at ${eff.precision.compute} arithmetic with ${eff.precision.weights} weights`,
    );
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

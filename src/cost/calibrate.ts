// Fitting a profile's free parameters to measured rows. A row is a measured
// latency and what ran: one or more planned models, each run some number of
// times (a pipeline row: text encoder + steps × UNet + decoder). Plans are
// made once; a trial of parameter values only re-prices them.
//
// The free parameters are the profile's fit groups (schema.ts): a group's
// params move together by one factor on their priors, within their bounds.
// Everything else is a prior, and the report says which is which.
import type { DeviceProfile, Param } from '../devices/schema.ts';
import { paramsOf } from '../devices/schema.ts';
import { leastSquares } from './fit.ts';
import { predictPlan, ratesOf, type CostPlan } from './plan.ts';

export interface CalibrationRow {
  id: string;
  measured_ms: number;
  parts: { plan: CostPlan; times: number }[];
  note?: string;
}

export interface FreeGroup {
  id: string;
  members: { path: string[]; param: Param }[];
  /** Bounds on the factor applied to the priors. */
  lo: number;
  hi: number;
}

export interface RowResult {
  row: string;
  measured_ms: number;
  predicted_ms: number;
  /** predicted / measured - 1 */
  error: number;
}

export interface FitReport {
  profile: DeviceProfile;
  groups: { id: string; factor: number; params: { path: string; prior: number; value: number }[] }[];
  priors: { path: string; value: number; source: string }[];
  residuals: RowResult[];
}

export function freeGroups(p: DeviceProfile): FreeGroup[] {
  const byId = new Map<string, FreeGroup>();
  for (const [path, param] of paramsOf(p)) {
    if (!param.fit) continue;
    const g = byId.get(param.fit.group) ?? { id: param.fit.group, members: [], lo: 0, hi: Infinity };
    g.members.push({ path, param });
    g.lo = Math.max(g.lo, param.fit.min / param.fit.prior);
    g.hi = Math.min(g.hi, param.fit.max / param.fit.prior);
    byId.set(g.id, g);
  }
  return [...byId.values()];
}

/** Sets each group's params to prior × factor (in place). */
function setFactors(groups: FreeGroup[], factors: number[]): void {
  groups.forEach((g, i) => {
    for (const m of g.members) m.param.value = m.param.fit!.prior * factors[i];
  });
}

export function predictRow(row: CalibrationRow, profile: DeviceProfile): number {
  let ms = 0;
  for (const part of row.parts) ms += part.times * predictPlan(part.plan, ratesOf(profile, part.plan.precision.compute)).ms;
  return ms;
}

/** MACs of a row (for the FLOPs-proportional baseline). */
export function rowMacs(row: CalibrationRow): number {
  let macs = 0;
  for (const part of row.parts) for (const g of part.plan.groups) macs += part.times * [g.conv, g.linear, g.attention].reduce((s, c) => s + c[0] + c[1] + c[2], 0);
  return macs;
}

/** Fits the free groups to `rows`; the returned profile holds the fitted values. */
export function fitProfile(profile: DeviceProfile, rows: CalibrationRow[], opts: { priorWeight?: number; tool?: string; date?: string } = {}): FitReport {
  const work = structuredClone(profile);
  const groups = freeGroups(work);
  // Plans reference the profile they were made with only for structure; prices come from `work`.
  const residuals = (f: number[]) => {
    setFactors(groups, f);
    return rows.map((r) => Math.log(predictRow(r, work) / r.measured_ms));
  };
  const fit = groups.length
    ? leastSquares(groups.map((g) => ({ lo: g.lo, hi: g.hi, x0: Math.min(g.hi, Math.max(g.lo, 1)) })), residuals, { priorWeight: opts.priorWeight })
    : { x: [], cost: 0, iterations: 0 };
  setFactors(groups, fit.x);
  const results: RowResult[] = rows.map((r) => {
    const predicted = predictRow(r, work);
    return { row: r.id, measured_ms: r.measured_ms, predicted_ms: round(predicted), error: round(predicted / r.measured_ms - 1, 4) };
  });
  const date = opts.date ?? new Date().toISOString().slice(0, 10);
  groups.forEach((g, i) => {
    for (const m of g.members) {
      m.param.value = round(m.param.value, 6);
      m.param.source = `fitted: group '${g.id}' = ${round(fit.x[i], 4)} × prior ${m.param.fit!.prior}, by ${opts.tool ?? 'pocketdiff calibrate'} on ${rows.length} rows (${date})`;
    }
  });
  work.calibration = {
    ...(work.calibration ?? { rows: [] }),
    rows: rows.map((r) => r.id),
    fitted: { date, tool: opts.tool ?? 'pocketdiff calibrate', residuals: results },
  };
  return {
    profile: work,
    groups: groups.map((g, i) => ({
      id: g.id,
      factor: round(fit.x[i], 4),
      params: g.members.map((m) => ({ path: m.path.join('.'), prior: m.param.fit!.prior, value: m.param.value })),
    })),
    priors: paramsOf(work)
      .filter(([, p]) => !p.fit)
      .map(([path, p]) => ({ path: path.join('.'), value: p.value, source: p.source })),
    residuals: results,
  };
}

export interface HeldOut extends RowResult {
  /** Error of the FLOPs-proportional baseline fitted on the same other rows. */
  flops_error: number;
}

/** Each row predicted by a fit on the other rows, beside the FLOPs baseline fitted likewise. */
export function leaveOneOut(profile: DeviceProfile, rows: CalibrationRow[], opts: { priorWeight?: number } = {}): HeldOut[] {
  return rows.map((r, i) => {
    const rest = rows.filter((_, j) => j !== i);
    const fitted = fitProfile(profile, rest, opts).profile;
    const predicted = predictRow(r, fitted);
    const k = flopsConstant(rest);
    return {
      row: r.id,
      measured_ms: r.measured_ms,
      predicted_ms: round(predicted),
      error: round(predicted / r.measured_ms - 1, 4),
      flops_error: round((k * rowMacs(r)) / r.measured_ms - 1, 4),
    };
  });
}

/** ms per MAC of the FLOPs-proportional baseline: least squares in log space (over rows that have MACs). */
export function flopsConstant(rows: CalibrationRow[]): number {
  const logs = rows.filter((r) => rowMacs(r) > 0).map((r) => Math.log(r.measured_ms / rowMacs(r)));
  return Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length);
}

function round(x: number, digits = 3): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

// Fitting a profile's free parameters to measured rows. A row is a measured
// latency and what ran: one or more planned models, each run some number of
// times. Plans are made once; a trial of parameter values only re-prices them.
//
// The free parameters are the profile's fit groups (schema.ts): a group's
// params move together by one factor on their priors, within their bounds.
// Everything else is a prior, and the report says which is which. The
// profile's calibration section sets the fit's robust loss, its pull towards
// the priors and the rows that count more than once.
import type { DeviceProfile, Param } from '../../devices/schema.ts';
import { paramsOf } from '../../devices/schema.ts';
import { leastSquares } from './fit.ts';
import { type CostPlan } from '../roofline/plan.ts';
import { planMs, ratesOf } from '../roofline/roofline.ts';

export interface CalibrationRow {
  id: string;
  measured_ms: number;
  parts: { plan: CostPlan; times: number }[];
  note?: string;
  /** How much the row counts in the fit (1 unless said). */
  weight?: number;
  /** What ran ('calibration/tv-resnet50-224', 'builder:sd15/unet'), and the architecture it belongs to for cross-validation (rows whose graphs compute the same share one). */
  graph?: string;
  architecture?: string;
  /** The precision it ran at (undefined: the profile's own). */
  scheme?: string;
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

export interface FitOptions {
  tool?: string;
  date?: string;
  /** Start the search at these group factors (a refit near a known answer), with no other starts. */
  start?: Record<string, number>;
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
  for (const part of row.parts) ms += part.times * planMs(part.plan, ratesOf(profile, part.plan.precision.compute));
  return ms;
}

/** MACs of a row (for the FLOPs-proportional baseline). */
export function rowMacs(row: CalibrationRow): number {
  let macs = 0;
  for (const part of row.parts)
    for (const g of part.plan.groups)
      macs += part.times * [g.conv, g.depthwise, g.linear, g.attention].reduce((s, c) => s + c[0] + c[1] + c[2], 0);
  return macs;
}

/** Fits the free groups to `rows`; the returned profile holds the fitted values. */
export function fitProfile(profile: DeviceProfile, rows: CalibrationRow[], opts: FitOptions = {}): FitReport {
  const work = structuredClone(profile);
  const groups = freeGroups(work);
  const cal = profile.calibration;
  // Plans reference the profile they were made with only for structure; prices come from `work`.
  const residuals = (f: number[]) => {
    setFactors(groups, f);
    return rows.map((r) => Math.log(predictRow(r, work) / r.measured_ms) * Math.sqrt(r.weight ?? 1));
  };
  const fit = groups.length
    ? leastSquares(
        groups.map((g) => ({ lo: g.lo, hi: g.hi, x0: Math.min(g.hi, Math.max(g.lo, 1)) })),
        residuals,
        {
          priorWeight: cal?.prior_weight,
          robust: cal?.robust,
          start: opts.start && groups.map((g) => Math.min(g.hi, Math.max(g.lo, opts.start![g.id] ?? 1))),
        },
      )
    : { x: [], cost: 0, iterations: 0 };
  setFactors(groups, fit.x);
  const results: RowResult[] = rows.map((r) => {
    const predicted = predictRow(r, work);
    return {
      row: r.id,
      measured_ms: r.measured_ms,
      predicted_ms: round(predicted),
      error: round(predicted / r.measured_ms - 1, 4),
    };
  });
  const date = opts.date ?? new Date().toISOString().slice(0, 10);
  const tool = opts.tool ?? 'pocketdiff calibrate';
  groups.forEach((g, i) => {
    for (const m of g.members) {
      m.param.value = round(m.param.value, 6);
      m.param.source = `fitted: group '${g.id}' = ${round(fit.x[i], 4)} × prior ${m.param.fit!.prior}, by ${tool} on ${rows.length} rows (${date})`;
    }
  });
  work.calibration = {
    weights: [],
    ...work.calibration,
    // Published rows are named by the selection; measured ones by their names.
    ...(work.calibration?.select ? {} : { rows: rows.map((r) => r.id) }),
    fitted: { date, tool, residuals: results },
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

export function round(x: number, digits = 3): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

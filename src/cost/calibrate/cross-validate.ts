// Leave-one-architecture-out cross-validation, and the prediction interval
// made from it (roofline/interval.ts says how an interval is applied).
//
// Every architecture in turn leaves the fit with all its rows (every
// precision it was measured at), and is predicted by the profile fitted on
// the others: what the profile gets right on a graph it has never seen. A
// FLOPs-proportional baseline (ms per MAC, one constant per scheme, fitted on
// the same other rows) is scored beside it.
//
// The interval: each held-out error (log measured/predicted) is divided by its
// graph's widening w (how far its mix lies from the nearest other
// architecture's, relative to the typical such distance), and the interval's
// ends are the conformal order statistics of those scaled errors: the
// ⌊(n+1)·0.1⌋-th and ⌈(n+1)·0.9⌉-th of n. Few rows therefore give wide ends,
// and at n < 9 the upper end is the largest error seen. Its coverage is
// measured the honest way: each row against an interval made from the other
// architectures' errors only.
import type { DeviceProfile } from '../../devices/schema.ts';
import { mixDistance, mixOf, widening, type IntervalModel, type Mix } from '../roofline/interval.ts';
import { ratesOf } from '../roofline/roofline.ts';
import { fitProfile, predictRow, round, rowMacs, type CalibrationRow, type FitReport } from './profile-fit.ts';

export interface HeldOutRow {
  row: string;
  architecture: string;
  measured_ms: number;
  predicted_ms: number;
  /** predicted / measured - 1 */
  error: number;
  /** The FLOPs-proportional baseline's error on the same row. */
  flops_error: number;
  /** The row's 80% interval, made from the other architectures' errors. */
  interval_80: [number, number];
}

export interface Scores {
  median_abs_error: number;
  within_10: number;
  within_25: number;
}

export interface CrossValidation {
  rows: HeldOutRow[];
  architectures: number;
  scores: Scores;
  flops: Scores;
  coverage_80: number;
  interval: IntervalModel;
}

const LO = 0.1;
const HI = 0.9;

export function crossValidate(profile: DeviceProfile, rows: CalibrationRow[], full: FitReport): CrossValidation {
  const arch = (r: CalibrationRow) => r.architecture ?? r.id;
  const archs = [...new Set(rows.map(arch))];
  const start = Object.fromEntries(full.groups.map((g) => [g.id, g.factor]));
  const predicted = new Map<CalibrationRow, number>();
  const flops = new Map<CalibrationRow, number>();
  for (const a of archs) {
    const train = rows.filter((r) => arch(r) !== a);
    const fitted = train.length ? fitProfile(profile, train, { start }).profile : full.profile;
    for (const r of rows.filter((x) => arch(x) === a)) {
      predicted.set(r, predictRow(r, fitted));
      flops.set(r, flopsBaseline(train, r));
    }
  }

  // Mixes under the fitted profile: what the interval compares a new graph against.
  const mixes = rows.map((r) => rowMix(r, full.profile));
  const nearestOther = rows.map((r, i) => {
    let d = 1;
    rows.forEach((q, j) => {
      if (arch(q) !== arch(r)) d = Math.min(d, mixDistance(mixes[i], mixes[j]));
    });
    return d;
  });
  const typical = Math.max(median(nearestOther), 1e-3);
  const errors = rows.map((r) => Math.log(r.measured_ms / predicted.get(r)!));
  const trend = errorTrend(nearestOther, errors.map(Math.abs));
  const scale = { distance: typical, trend };
  const scaled = errors.map((e, i) => e / widening(nearestOther[i], scale));

  const held: HeldOutRow[] = rows.map((r, i) => {
    const others = scaled.filter((_, j) => arch(rows[j]) !== arch(r));
    const [lo, hi] = ends(others);
    const w = widening(nearestOther[i], scale);
    const p = predicted.get(r)!;
    return {
      row: r.id,
      architecture: arch(r),
      measured_ms: r.measured_ms,
      predicted_ms: round(p),
      error: round(p / r.measured_ms - 1, 4),
      flops_error: round(flops.get(r)! / r.measured_ms - 1, 4),
      interval_80: [round(p * Math.exp(Math.min(0, lo) * w)), round(p * Math.exp(Math.max(0, hi) * w))],
    };
  });
  const covered = held.filter((h) => h.measured_ms >= h.interval_80[0] && h.measured_ms <= h.interval_80[1]).length;
  const [lo, hi] = ends(scaled);
  return {
    rows: held,
    architectures: archs.length,
    scores: scores(held.map((h) => h.error)),
    flops: scores(held.map((h) => h.flops_error)),
    coverage_80: round(covered / held.length, 4),
    interval: {
      lo: round(lo, 4),
      hi: round(hi, 4),
      distance: round(typical, 4),
      trend: { a: round(trend.a, 4), b: round(trend.b, 4) },
      transfer: 0,
      // One entry per row (an architecture measured at two precisions has two mixes), in ms.
      reference: rows.map((r, i) => ({ architecture: arch(r), mix: mixes[i].map((x) => round(x * 1e3, 6)) })),
    },
  };
}

/** A row's mix (ms by term) under a profile, summed over its parts. */
export function rowMix(r: CalibrationRow, profile: DeviceProfile): Mix {
  let out: Mix | undefined;
  for (const part of r.parts) {
    const m = mixOf(part.plan, ratesOf(profile, part.plan.precision.compute)).map((x) => x * part.times);
    out = out ? out.map((x, i) => x + m[i]) : m;
  }
  return out ?? [];
}

/**
 * |error| ≈ a + b·d by least squares over the held-out rows, b ≥ 0 and a at
 * least a quarter of the median |error|, so that the ratio widening() takes
 * never divides by a vanishing intercept.
 */
function errorTrend(d: number[], abs: number[]): { a: number; b: number } {
  const n = d.length;
  const md = d.reduce((s, x) => s + x, 0) / n;
  const mr = abs.reduce((s, x) => s + x, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (d[i] - md) * (abs[i] - mr);
    sxx += (d[i] - md) ** 2;
  }
  const b = Math.max(0, sxx > 0 ? sxy / sxx : 0);
  const floor = Math.max(median(abs) / 4, 1e-3);
  return { a: Math.max(floor, mr - b * md), b };
}

/** The FLOPs-proportional prediction of `row`: ms per MAC of the training rows at its scheme (all rows when none is). */
function flopsBaseline(train: CalibrationRow[], row: CalibrationRow): number {
  const same = train.filter((t) => t.scheme === row.scheme && rowMacs(t) > 0);
  const base = same.length ? same : train.filter((t) => rowMacs(t) > 0);
  const k = Math.exp(base.reduce((s, t) => s + Math.log(t.measured_ms / rowMacs(t)), 0) / base.length);
  return k * rowMacs(row);
}

/** The conformal ends of n scaled errors: the ⌊(n+1)·0.1⌋-th and ⌈(n+1)·0.9⌉-th smallest (clamped to the range). */
function ends(xs: number[]): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return [0, 0];
  const lo = Math.max(1, Math.floor((n + 1) * LO));
  const hi = Math.min(n, Math.ceil((n + 1) * HI));
  return [s[lo - 1], s[hi - 1]];
}

export function scores(errors: number[]): Scores {
  const abs = errors.map(Math.abs);
  return {
    median_abs_error: round(median(abs), 4),
    within_10: round(abs.filter((e) => e <= 0.1).length / abs.length, 4),
    within_25: round(abs.filter((e) => e <= 0.25).length / abs.length, 4),
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return 0;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

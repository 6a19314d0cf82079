// Prediction intervals. A profile's calibration keeps the 10th and 90th
// percentiles of its cross-validated errors (log measured/predicted, each
// from a fit that never saw the row's architecture), and each calibration
// row's mix: its predicted time split by term (MIX_TERMS: conv, depthwise,
// linear, attention, vector, memory, movement, overhead). Errors grow with
// how unlike the other rows a graph is: across the held-out rows |error|
// follows a + b·d, where d is the mix distance to the nearest other
// architecture (correlation 0.45 to 0.6 on the phone profiles). A new graph's
// interval is the percentiles scaled by that trend at its own distance:
//
//   d  = min over calibration rows of ½·Σ|mix − mix_row|
//   w  = max(1, (a + b·d) / (a + b·d_typical))
//   80% interval = [ms · e^(lo·w − t), ms · e^(hi·w + t)]
//
// (t: extra width for params inherited from another runtime). This is
// locally weighted split-conformal prediction (Lei et al., 2018) with a
// fitted scale: the percentiles are taken over errors divided by their own
// w, and few rows give wide percentiles (cross-validate.ts takes the
// conformal order statistic, not the plain quantile).
import { MIX_TERMS, type DeviceProfile } from '../../devices/schema.ts';
import type { CostPlan } from './plan.ts';
import { groupTerms, ratesOf, type Rates } from './roofline.ts';

export type Mix = number[];

/** Seconds of a plan by term (not normalized): where its predicted time goes. */
export function mixOf(plan: CostPlan, rates: Rates = ratesOf(plan.profile, plan.precision.compute)): Mix {
  const out = new Array<number>(MIX_TERMS.length).fill(0);
  for (const g of plan.groups) {
    const t = groupTerms(g, rates);
    for (let i = 0; i < out.length; i++) out[i] += t[i];
  }
  out[MIX_TERMS.indexOf('overhead')] += rates.graph + plan.shapeOps.reduce((a, b) => a + b, 0) * rates.shape;
  return out;
}

/** Shares summing to 1 (all zero stays zero). */
export function normalize(m: Mix): Mix {
  const s = m.reduce((a, b) => a + b, 0);
  return s > 0 ? m.map((x) => x / s) : m.map(() => 0);
}

/** Total-variation distance of two mixes (shares), from 0 (alike) to 1 (disjoint). */
export function mixDistance(a: Mix, b: Mix): number {
  const x = normalize(a);
  const y = normalize(b);
  let d = 0;
  for (let i = 0; i < x.length; i++) d += Math.abs(x[i] - y[i]);
  return d / 2;
}

/** Distance to the nearest of some reference mixes (1 with none). */
export function nearest(m: Mix, refs: readonly Mix[]): number {
  let best = 1;
  for (const r of refs) best = Math.min(best, mixDistance(m, r));
  return best;
}

export interface IntervalModel {
  lo: number;
  hi: number;
  /** The typical distance d_typical, and the error trend a + b·d. */
  distance: number;
  trend: { a: number; b: number };
  transfer: number;
  reference: { architecture: string; mix: number[] }[];
}

/** How much wider than typical a graph at mix distance d gets. */
export function widening(d: number, iv: Pick<IntervalModel, 'distance' | 'trend'>): number {
  const { a, b } = iv.trend;
  return Math.max(1, (a + b * d) / (a + b * iv.distance));
}

/** The 80% interval [lo, hi] ms of a prediction whose graph has mix `m`, or undefined when the profile has none. */
export function intervalOf(profile: DeviceProfile, ms: number, m: Mix): [number, number] | undefined {
  const iv = profile.calibration?.interval;
  if (!iv) return undefined;
  return applyInterval(iv, ms, m);
}

export function applyInterval(iv: IntervalModel, ms: number, m: Mix): [number, number] {
  const w = widening(
    nearest(
      m,
      iv.reference.map((r) => r.mix),
    ),
    iv,
  );
  // The point prediction always lies inside its interval.
  const lo = Math.min(0, iv.lo) * w - iv.transfer;
  const hi = Math.max(0, iv.hi) * w + iv.transfer;
  return [ms * Math.exp(lo), ms * Math.exp(hi)];
}

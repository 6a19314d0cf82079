// Bounded nonlinear least squares: Levenberg–Marquardt in log space with the
// step projected onto the bounds, restarted from a few points because the
// roofline's max() makes the surface piecewise smooth.
//
// Residuals are relative (log predicted/measured), so a 4 ms row weighs as
// much as a 7.9 s one. A weak pull towards each parameter's prior keeps
// under-determined fits (leave-one-out on three rows) well posed; at the
// default weight, 0.05 per unit of log, it moves a well-determined fit by well
// under a percent.

export interface Bound {
  lo: number;
  hi: number;
  /** Start and prior. */
  x0: number;
}

export interface FitOptions {
  /** Weight of log(x / x0) in the residuals. */
  priorWeight?: number;
  maxIterations?: number;
  /**
   * Where to start instead of the priors and the box's corners: one start,
   * for a refit near a known answer (cross-validation folds start from the
   * fit on every row).
   */
  start?: number[];
  /**
   * Residuals larger than this (in log units) count less than squared: a
   * soft-L1 loss, so one row measured on another deployment form of its model
   * does not drag the fit. Absent: plain least squares.
   */
  robust?: number;
}

export interface FitResult {
  x: number[];
  /** Sum of squared residuals (prior terms included). */
  cost: number;
  iterations: number;
}

export function leastSquares(bounds: Bound[], residuals: (x: number[]) => number[], opts: FitOptions = {}): FitResult {
  const w = opts.priorWeight ?? 0.05;
  const lo = bounds.map((b) => Math.log(b.lo));
  const hi = bounds.map((b) => Math.log(b.hi));
  const u0 = bounds.map((b) => Math.log(b.x0));
  const clamp = (u: number[]) => u.map((x, i) => Math.min(hi[i], Math.max(lo[i], x)));
  const c = opts.robust;
  // soft-L1: ρ(r) = 2c²(√(1 + (r/c)²) − 1), written as a residual whose square is ρ.
  const soft = (r: number) => (c ? Math.sign(r) * c * Math.sqrt(2 * (Math.sqrt(1 + (r / c) ** 2) - 1)) : r);
  const full = (u: number[]) => [...residuals(u.map(Math.exp)).map(soft), ...u.map((x, i) => w * (x - u0[i]))];
  const sumsq = (r: number[]) => r.reduce((s, x) => s + (Number.isFinite(x) ? x * x : 1e12), 0);

  const starts = [clamp(opts.start ? opts.start.map(Math.log) : u0)];
  // Corners of the box, shrunk halfway towards the prior: one per parameter, both ways.
  for (let i = 0; i < bounds.length && !opts.start; i++) {
    for (const edge of [lo[i], hi[i]]) {
      const u = [...starts[0]];
      u[i] = (u[i] + edge) / 2;
      starts.push(u);
    }
  }
  let best: FitResult = { x: bounds.map((b) => b.x0), cost: Infinity, iterations: 0 };
  for (const start of starts) {
    const r = descend(start, full, sumsq, clamp, opts.maxIterations ?? 200);
    if (r.cost < best.cost) best = { x: r.u.map(Math.exp), cost: r.cost, iterations: r.iterations };
  }
  return best;
}

function descend(
  start: number[],
  f: (u: number[]) => number[],
  sumsq: (r: number[]) => number,
  clamp: (u: number[]) => number[],
  maxIterations: number,
): { u: number[]; cost: number; iterations: number } {
  let u = start;
  let r = f(u);
  let cost = sumsq(r);
  let lambda = 1e-2;
  const n = u.length;
  let it = 0;
  for (; it < maxIterations; it++) {
    // Jacobian by central differences in log space: a fit often ends on a
    // kink of some group's max(), where a one-sided difference points the
    // next fit (a cross-validation fold started there) the wrong way.
    const h = 1e-4;
    const J: number[][] = [];
    for (let j = 0; j < n; j++) {
      const up = [...u];
      const down = [...u];
      up[j] += h;
      down[j] -= h;
      const ru = f(up);
      const rd = f(down);
      J.push(ru.map((x, i) => (x - rd[i]) / (2 * h)));
    }
    const JTJ = Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => dot(J[a], J[b])));
    const JTr = J.map((col) => dot(col, r));
    let improved = false;
    for (let tries = 0; tries < 12; tries++) {
      const A = JTJ.map((row, a) => row.map((x, b) => (a === b ? x + lambda * (x + 1e-9) : x)));
      const step = solve(
        A,
        JTr.map((x) => -x),
      );
      if (!step) {
        lambda *= 10;
        continue;
      }
      const next = clamp(u.map((x, i) => x + step[i]));
      const rn = f(next);
      const cn = sumsq(rn);
      if (cn < cost) {
        const gain = cost - cn;
        u = next;
        r = rn;
        cost = cn;
        lambda = Math.max(lambda / 3, 1e-9);
        improved = true;
        if (gain < 1e-9 * (1 + cost)) return { u, cost, iterations: it + 1 };
        break;
      }
      lambda *= 4;
    }
    if (!improved) break;
  }
  return { u, cost, iterations: it };
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Gaussian elimination with partial pivoting; undefined when singular. */
function solve(A: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    if (Math.abs(M[p][c]) < 1e-300) return undefined;
    [M[c], M[p]] = [M[p], M[c]];
    for (let r = c + 1; r < n; r++) {
      const k = M[r][c] / M[c][c];
      for (let j = c; j <= n; j++) M[r][j] -= k * M[c][j];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let j = r + 1; j < n; j++) s -= M[r][j] * x[j];
    x[r] = s / M[r][r];
  }
  return x;
}

// The few numpy float64 routines diffusers' set_timesteps uses, with numpy's exact
// semantics (numpy 1.2x). The differences from the obvious JS are the point:
// np.round rounds half to even, np.arange fills from a recomputed delta, np.linspace
// pins its last element to `stop`, np.interp clamps at the ends.

/** np.round / np.rint for float64: round half to even (Math.round rounds half up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round(k + 0.5) = k + 1; numpy picks the even neighbour instead.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * np.linspace(start, stop, num) in float64 (endpoint=True):
 *   y[i] = i * ((stop - start) / (num - 1)) + start,  y[num - 1] = stop.
 * num = 1 gives [start].
 */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const y = Array.from({ length: num }, (_, i) => i * step + start);
  y[num - 1] = stop;
  return y;
}

/**
 * np.arange(start, stop, step) for floats. The length is ceil((stop - start) / step),
 * which can be one more than intended when the division lands just above an integer
 * (np.arange(1000, 0, -1000/61) has 62 elements). The fill is numpy's DOUBLE_fill:
 * y[0] = start, y[1] = start + step, then y[i] = start + i * (y[1] - y[0]).
 */
export function arange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const y: number[] = [];
  if (length === 0) return y;
  y.push(start);
  if (length === 1) return y;
  y.push(start + step);
  const delta = y[1] - y[0];
  for (let i = 2; i < length; i++) y.push(start + i * delta);
  return y;
}

/**
 * np.interp(x, arange(len(fp)), fp): linear interpolation on the integer grid, in
 * float64, clamped to fp[0] / fp[last] outside it. Inside, numpy computes
 * slope * (x - j) + fp[j] with slope = (fp[j+1] - fp[j]) / (j+1 - j), and returns
 * fp[j] exactly when x == j.
 */
export function interpIntegerGrid(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  const slope = (fp[j + 1] - fp[j]) / 1;
  return slope * (x - j) + fp[j];
}

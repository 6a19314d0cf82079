// set_timesteps of diffusers' DDIMScheduler and EulerDiscreteScheduler (v0.27),
// one function per scheduler, each branch a transcription of the numpy expression
// it names. Timesteps come out in run order (noisiest first).

import { arange, linspace, roundHalfEven } from './numpy.ts';
import type { Spacing } from './index.ts';

/**
 * DDIM: integer timesteps (np.int64).
 *   leading:  (arange(0, steps) * (N // steps)).round()[::-1] + steps_offset
 *   trailing: round(arange(N, 0, -N / steps)).astype(int64) - 1
 *   linspace: linspace(0, N - 1, steps).round()[::-1].astype(int64)
 * steps_offset applies to leading only (as in diffusers).
 */
export function ddimTimesteps(spacing: Spacing, steps: number, n: number, stepsOffset: number): number[] {
  switch (spacing) {
    case 'leading': {
      const ratio = Math.floor(n / steps);
      return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return arange(n, 0, -n / steps).map((t) => roundHalfEven(t) - 1);
    case 'linspace':
      return linspace(0, n - 1, steps)
        .map(roundHalfEven)
        .reverse();
  }
}

/**
 * Euler: the same three spacings as float32 timesteps. Leading and trailing are the
 * DDIM integers (cast to float32, exact); linspace is not rounded:
 * np.linspace(0, N - 1, steps, dtype=np.float32) is the float64 linspace rounded to
 * float32, and those fractional timesteps go to the UNet and to np.interp as they are.
 */
export function eulerTimesteps(spacing: Spacing, steps: number, n: number, stepsOffset: number): number[] {
  switch (spacing) {
    case 'leading':
      return ddimTimesteps('leading', steps, n, stepsOffset);
    case 'trailing':
      return ddimTimesteps('trailing', steps, n, stepsOffset);
    case 'linspace':
      return linspace(0, n - 1, steps)
        .map(Math.fround)
        .reverse();
  }
}

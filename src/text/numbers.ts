// Numbers as pocketdiff prints them, the same in every command and report.

/** Milliseconds as people read them: 1,695 · 142 · 37.4 · 4.00. */
export const fmt = (x: number) =>
  x >= 1000
    ? String(Math.round(x)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
    : x >= 100
      ? x.toFixed(0)
      : x >= 10
        ? x.toFixed(1)
        : x.toFixed(2);

/** An interval as `1,310–2,280`. */
export const fmtInterval = ([lo, hi]: readonly [number, number]) => `${fmt(lo)}–${fmt(hi)}`;

/** To the microsecond, for JSON. */
export const round = (x: number) => Math.round(x * 1000) / 1000;

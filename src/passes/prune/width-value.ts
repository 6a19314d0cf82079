// The one rule for a width value, wherever one is written (a recipe's
// `widths:`, whatif's --width): a kept fraction in (0, 1], or a whole number
// of channels kept (2 or more; 1 would read as "all of them").
import type { Location } from '../../diagnostics.ts';

export interface WidthSpec {
  /** Block names or module paths with `*` / `**` globs; '*' alone means every group. */
  selector: string;
  /** Fraction of channels kept, in (0, 1]. */
  ratio?: number;
  /** Channels kept, exactly. */
  count?: number;
  at?: Location;
}

export const WIDTH_RULE = 'a width is a kept fraction in (0, 1] or a whole number of channels (2 or more)';

/** Why `v` is not a width, or undefined when it is one. */
export function widthError(v: number, selector: string): string | undefined {
  if (Number.isFinite(v) && ((v > 0 && v <= 1) || (Number.isInteger(v) && v >= 2))) return undefined;
  return `width ${v} for '${selector}' is neither a kept fraction nor a channel count: ${WIDTH_RULE}`;
}

/** A width value as the pass takes it (check it with widthError first). */
export function widthSpec(selector: string, v: number, at?: Location): WidthSpec {
  return { selector, ...(v <= 1 ? { ratio: v } : { count: v }), ...(at ? { at } : {}) };
}

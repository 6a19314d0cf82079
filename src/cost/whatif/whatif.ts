// The what-if API for search: a model's blocks priced once per device, so a
// variant (which blocks stay, go, or appear twice, at what width) costs a sum.
//
//   const w = new WhatIf(planCost(table, profile));
//   const counts = w.counts();              // 1 per block
//   counts[w.index('mid_block.attentions.0')] = 0;
//   w.ms(counts);                           // ~50 additions
//
// Widths other than 1 re-price only the narrowed blocks (their groups'
// R-polynomials), memoized per (block, ratio).
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';
import { selectNames } from '../../blocks/select.ts';
import { type CostPlan } from '../roofline/plan.ts';
import { blockMs, groupSeconds, ratesOf, type Rates } from '../roofline/roofline.ts';

export interface BlockEdits {
  remove?: { selector: string; keepShortcut?: boolean; at?: Location }[];
  duplicate?: { selector: string; at?: Location }[];
  width?: { selector: string; ratio: number; at?: Location }[];
}

export interface Variant {
  /** Per block: 0 removed, 1 kept, 2 with one copy, … */
  counts: Float64Array;
  /** Per block width ratio (1 = unchanged). */
  widths: Float64Array;
  /** Per block: removed but its 1×1 shortcut kept. */
  shortcut: Uint8Array;
}

export class WhatIf {
  readonly names: string[];
  /** Milliseconds per block at full width, and of the glue. */
  readonly blockMs: Float64Array;
  readonly glueMs: number;
  /** What keep_shortcut leaves of each block (its conv_shortcut groups). */
  readonly shortcutMs: Float64Array;
  private readonly rates: Rates;
  private readonly memo = new Map<number, number>();

  constructor(readonly plan: CostPlan) {
    this.rates = ratesOf(plan.profile, plan.precision.compute);
    const n = plan.table.blocks.length;
    this.names = plan.table.blocks.map((b) => b.name);
    this.blockMs = Float64Array.from({ length: n }, (_, i) => blockMs(plan, this.rates, i));
    this.glueMs = blockMs(plan, this.rates, n);
    this.shortcutMs = Float64Array.from({ length: n }, (_, i) =>
      plan.byBlock[i].reduce(
        (s, gi) =>
          s +
          (plan.members[gi].some((m) => plan.table.nodes.shortcut[m])
            ? groupSeconds(plan.groups[gi], this.rates) * 1e3
            : 0),
        0,
      ),
    );
  }

  /** Every block once, at full width. */
  variant(): Variant {
    const n = this.names.length;
    return { counts: new Float64Array(n).fill(1), widths: new Float64Array(n).fill(1), shortcut: new Uint8Array(n) };
  }

  /** The hot path: latency of a block multiset at full width. */
  ms(counts: ArrayLike<number>): number {
    let s = this.glueMs;
    const b = this.blockMs;
    for (let i = 0; i < b.length; i++) s += counts[i] * b[i];
    return s;
  }

  /** Latency of a full variant (widths and kept shortcuts included). */
  variantMs(v: Variant): number {
    let s = this.glueMs;
    for (let i = 0; i < this.blockMs.length; i++) {
      const w = v.widths[i];
      s += v.counts[i] * (w === 1 ? this.blockMs[i] : this.widthMs(i, w));
      if (v.shortcut[i]) s += this.shortcutMs[i];
    }
    return s;
  }

  /** Per-block milliseconds of a variant (a removed block is 0, a duplicated one counts twice). */
  /**
   * Each block's ms as the edited graph names its blocks, so a price made by
   * summing and one made from the edited graph list the same rows: the block,
   * then each copy as `<block>+1`, `+2`…; a removed block only where its kept
   * shortcut still costs something.
   */
  byBlock(v: Variant): { name: string; ms: number }[] {
    const out: { name: string; ms: number }[] = [];
    this.names.forEach((name, i) => {
      const one = v.widths[i] === 1 ? this.blockMs[i] : this.widthMs(i, v.widths[i]);
      const shortcut = v.shortcut[i] ? this.shortcutMs[i] : 0;
      if (v.counts[i] >= 1 || shortcut) out.push({ name, ms: (v.counts[i] >= 1 ? one : 0) + shortcut });
      for (let k = 1; k < v.counts[i]; k++) out.push({ name: `${name}+${k}`, ms: one });
    });
    return out;
  }

  widthMs(i: number, ratio: number): number {
    const key = i * 1e6 + Math.round(ratio * 1e4);
    let ms = this.memo.get(key);
    if (ms === undefined) {
      ms = blockMs(this.plan, this.rates, i, ratio);
      this.memo.set(key, ms);
    }
    return ms;
  }

  /** Block indices a selector names (globs as in recipes); PD5001 with a did-you-mean when none. */
  select(selector: string, log: DiagnosticLog, at?: Location): number[] | undefined {
    return selectNames(selector, this.names, log, at);
  }

  /**
   * Applies recipe-style edits to a variant, with the checks the passes make:
   * only residual blocks go, a channel-changing ResNet only with keep_shortcut,
   * only shape-preserving blocks are duplicated.
   */
  apply(v: Variant, edits: BlockEdits, log: DiagnosticLog): boolean {
    const before = log.errors().length;
    const blocks = this.plan.table.blocks;
    for (const e of edits.remove ?? []) {
      for (const i of this.select(e.selector, log, e.at) ?? []) {
        const b = blocks[i];
        if (!b.removable && !(e.keepShortcut && b.shortcut)) {
          const why = b.shortcut
            ? [
                Code.ChannelChange,
                `cannot remove '${b.name}' as an identity: it changes channels; set keep_shortcut: true to keep only its 1×1 shortcut projection`,
              ]
            : [
                Code.NoResidual,
                `'${b.name}' is a ${b.kind} block without a residual connection; only ResNet and attention blocks can be removed`,
              ];
          log.error(why[0], why[1], e.at);
          continue;
        }
        v.counts[i] = 0;
        if (e.keepShortcut && b.shortcut) v.shortcut[i] = 1;
      }
    }
    for (const e of edits.duplicate ?? []) {
      for (const i of this.select(e.selector, log, e.at) ?? []) {
        if (!blocks[i].duplicable) {
          log.error(
            Code.BlockShape,
            `cannot duplicate '${blocks[i].name}': its output shape differs from its input's, or it has no residual connection`,
            e.at,
          );
          continue;
        }
        if (v.counts[i] > 0) v.counts[i] += 1;
      }
    }
    for (const e of edits.width ?? []) {
      if (this.plan.table.width !== 'ok') {
        log.error(
          Code.WidthUnavailable,
          `--width is unavailable for ${this.plan.table.model}: ${this.plan.table.width}`,
          e.at,
        );
        continue;
      }
      for (const i of this.select(e.selector, log, e.at) ?? []) v.widths[i] = e.ratio;
    }
    return log.errors().length === before;
  }
}

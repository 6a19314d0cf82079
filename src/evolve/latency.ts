// ΔLatency for evolve: an architecture (a count per slot) priced on the
// device through the recipe's own plan (steps/recipe-cost.ts), so evolve's
// milliseconds are the ones compile's budget gate will check. Pricing a
// variant is a sum over blocks, so every candidate of every round costs
// microseconds; the tables are built once.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { DeviceProfile } from '../devices/schema.ts';
import type { CfgMode } from '../cost/whatif/image-cost.ts';
import type { Variant } from '../cost/whatif/whatif.ts';
import { priceRecipe, type RecipePlan, type RecipePrice } from '../steps/recipe-cost.ts';
import type { Arch, SlotMap } from './slots.ts';

/** What the budget bounds: one image (a target's budget_ms), or one UNet step (SnapFusion's objective). */
export type Objective = 'image' | 'unet-step';

export interface Latency {
  /** The objective's milliseconds. */
  ms: number;
  interval_80?: [number, number];
  image_ms: number;
  unet_step_ms: number;
  /** How guidance runs at this architecture (fold: auto may change its mind as the UNet shrinks). */
  guidance: CfgMode;
}

export class EvolveLatency {
  private constructor(
    private readonly prices: RecipePrice[],
    private readonly slots: SlotMap,
    readonly objective: Objective,
  ) {}

  static async create(
    plan: RecipePlan,
    profile: DeviceProfile,
    slots: SlotMap,
    objective: Objective,
    log: DiagnosticLog,
  ): Promise<EvolveLatency | undefined> {
    // fold: auto is priced both ways at every architecture, as compile would choose for it.
    const modes = plan.guidance === 'auto' ? (['batch', 'two-calls'] as const) : [plan.guidance];
    const prices: RecipePrice[] = [];
    for (const guidance of modes) {
      const p = await priceRecipe({ ...plan, guidance }, profile, log);
      if (!p) return undefined;
      prices.push(p);
    }
    // Every slot is a block of the cost table (its own, or the block a copy repeats).
    const names = new Set(prices[0].cost.unet.names);
    const missing = slots.slots.filter((s) => !names.has(s.block)).map((s) => s.block);
    if (missing.length) {
      log.error(
        Code.EvolveNoCandidates,
        `the cost model's table of the UNet has no block ${missing.map((m) => `'${m}'`).join(', ')}: these candidates cannot be priced`,
        plan.models.unet.at,
      );
      return undefined;
    }
    return new EvolveLatency(prices, slots, objective);
  }

  of(arch: Arch): Latency {
    let best: Latency | undefined;
    for (const p of this.prices) {
      const v = this.variant(p, arch);
      const pred = p.cost.predict(v);
      const unet = pred.components.unet;
      const call = p.cost.unetCallInterval(v);
      const l: Latency = {
        ms: this.objective === 'image' ? pred.total_ms : unet.ms_per_step,
        image_ms: pred.total_ms,
        unet_step_ms: unet.ms_per_step,
        guidance: p.guidance.mode,
        ...(this.objective === 'image'
          ? pred.interval_80 && { interval_80: pred.interval_80 }
          : call && {
              interval_80: [call[0] * unet.calls_per_step, call[1] * unet.calls_per_step] as [number, number],
            }),
      };
      if (!best || l.unet_step_ms < best.unet_step_ms) best = l;
    }
    return best!;
  }

  /** The recipe's priced variant with each slot at its count. */
  private variant(p: RecipePrice, arch: Arch): Variant {
    const w = p.cost.unet;
    const v: Variant = {
      counts: Float64Array.from(p.variant.counts),
      widths: Float64Array.from(p.variant.widths),
      shortcut: Uint8Array.from(p.variant.shortcut),
    };
    const index = new Map(w.names.map((n, i) => [n, i]));
    this.slots.slots.forEach((s, i) => {
      const c = arch[i];
      const first = index.get(s.block)!;
      // A table made after the recipe's passes (UNet widths) names each copy; otherwise copies are counts.
      if (s.instances.every((n) => index.has(n))) {
        s.instances.forEach((n, k) => (v.counts[index.get(n)!] = k < c ? 1 : 0));
        if (c > s.start) v.counts[first] += c - s.start;
      } else {
        v.counts[first] = c;
      }
      v.shortcut[first] = c === 0 && s.keepShortcut ? 1 : 0;
    });
    return v;
  }
}

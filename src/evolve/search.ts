// SnapFusion's Algorithm 1 without the training: architecture evolving by
// value per millisecond under a latency budget.
//
//   score every open action a from the current architecture A:
//     ΔQ = Q(A+a) − Q(A)            (measured, score.ts)
//     Δms = ms(A+a) − ms(A)         (cost model, latency.ts)
//   while ms(A) > budget: apply the removals with the least quality lost per
//     ms saved, −ΔQ / −Δms, up to `group` of them (fewer once the budget holds)
//   then while some addition fits the budget and gains quality: apply the one
//     with the most gained per ms spent, ΔQ / Δms
//   re-score after each round; stop when no addition improves.
//
// Ties go to the action saving (or costing) fewer ms last, then to graph
// order, so a run is a function of its scores.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Latency } from './latency.ts';
import { actions, applyAction, type Action, type Arch, type SlotMap } from './slots.ts';

export interface Evaluator {
  quality(arch: Arch, log: DiagnosticLog): Promise<number | undefined>;
  /** Scores a round's architectures together where that is faster (workers); false on failure. */
  prefetch?(archs: Arch[], log: DiagnosticLog): Promise<boolean>;
  latency(arch: Arch): Latency;
}

export interface Point {
  ms: number;
  interval_80?: [number, number];
  quality: number;
}

export interface Scored {
  kind: 'remove' | 'add';
  block: string;
  /** The block's count after the action. */
  count: number;
  delta_quality: number;
  delta_ms: number;
  interval_80?: [number, number];
  /** remove: quality lost per ms saved (least goes first); add: quality gained per ms spent. Null where Δms ≤ 0. */
  value: number | null;
}

export interface Round {
  round: number;
  phase: 'remove' | 'add';
  before: Point;
  candidates: Scored[];
  applied: Scored[];
  after: Point;
  /** Each slot's count after the round. */
  arch: Arch;
}

export interface SearchResult {
  start: Point;
  /** Every candidate removed at once. */
  floor: { ms: number };
  rounds: Round[];
  arch: Arch;
  end: Point;
  met: boolean;
}

export interface SearchOptions {
  budget: number;
  /** Removals applied per round while the budget does not hold. */
  group: number;
  onRound?: (r: { round: number; phase: 'remove' | 'add'; candidates: number }) => void;
  onCandidate?: (done: number, total: number, block: string, kind: 'remove' | 'add') => void;
}

export async function search(
  map: SlotMap,
  start: Arch,
  ev: Evaluator,
  o: SearchOptions,
  log: DiagnosticLog,
): Promise<SearchResult | undefined> {
  const point = async (arch: Arch): Promise<Point | undefined> => {
    const q = await ev.quality(arch, log);
    if (q === undefined) return undefined;
    const l = ev.latency(arch);
    return { ms: l.ms, ...(l.interval_80 ? { interval_80: l.interval_80 } : {}), quality: q };
  };
  const floor = checkFloor(start, ev.latency, o.budget, log);
  if (floor === undefined) return undefined;
  let arch = start;
  let cur = await point(arch);
  if (!cur) return undefined;
  const startPoint = cur;
  const rounds: Round[] = [];

  const scoreAll = async (kind: 'remove' | 'add', open: Action[]): Promise<Scored[] | undefined> => {
    o.onRound?.({ round: rounds.length + 1, phase: kind, candidates: open.length });
    if (
      ev.prefetch &&
      !(await ev.prefetch(
        open.map((a) => applyAction(arch, a)),
        log,
      ))
    )
      return undefined;
    const out: Scored[] = [];
    for (const [i, a] of open.entries()) {
      o.onCandidate?.(i + 1, open.length, map.slots[a.slot].block, kind);
      const candidate = applyAction(arch, a);
      const next = await point(candidate);
      if (!next) return undefined;
      const dq = next.quality - cur!.quality;
      const dms = next.ms - cur!.ms;
      const value = kind === 'remove' ? (dms < 0 ? -dq / -dms : null) : dms > 0 ? dq / dms : null;
      out.push({
        kind,
        block: map.slots[a.slot].block,
        count: candidate[a.slot],
        delta_quality: dq,
        delta_ms: dms,
        ...(next.interval_80 ? { interval_80: next.interval_80 } : {}),
        value,
      });
    }
    return out;
  };
  const slotOf = (s: Scored) => map.slots.findIndex((x) => x.block === s.block);

  // Removals until the budget holds.
  while (cur.ms > o.budget) {
    const open = actions(map, arch, 'remove');
    const scored = await scoreAll('remove', open);
    if (!scored) return undefined;
    const ranked = scored
      .filter((s) => s.value !== null)
      .sort((a, b) => a.value! - b.value! || a.delta_ms - b.delta_ms || slotOf(a) - slotOf(b));
    const applied: Scored[] = [];
    const before = cur;
    let next = arch;
    for (const s of ranked) {
      if (applied.length >= o.group) break;
      next = applyAction(next, { kind: 'remove', slot: slotOf(s) });
      applied.push(s);
      if (ev.latency(next).ms <= o.budget) break;
    }
    if (!applied.length) break;
    arch = next;
    const after = await point(arch);
    if (!after) return undefined;
    cur = after;
    rounds.push({
      round: rounds.length + 1,
      phase: 'remove',
      before,
      candidates: scored,
      applied,
      after,
      arch: [...arch],
    });
  }

  // Additions while one fits and gains.
  if (cur.ms <= o.budget) {
    for (;;) {
      const open = actions(map, arch, 'add').filter((a) => ev.latency(applyAction(arch, a)).ms <= o.budget);
      if (!open.length) break;
      const scored = await scoreAll('add', open);
      if (!scored) return undefined;
      const gains = scored.filter((s) => s.delta_quality > 0);
      if (!gains.length) break;
      // Free gains (Δms ≤ 0) first, then the most per ms.
      const rank = (s: Scored) => (s.value === null ? Infinity : s.value);
      gains.sort((a, b) => rank(b) - rank(a) || a.delta_ms - b.delta_ms || slotOf(a) - slotOf(b));
      const best = gains[0];
      const before = cur;
      arch = applyAction(arch, { kind: 'add', slot: slotOf(best) });
      const after = await point(arch);
      if (!after) return undefined;
      cur = after;
      rounds.push({
        round: rounds.length + 1,
        phase: 'add',
        before,
        candidates: scored,
        applied: [best],
        after,
        arch: [...arch],
      });
    }
  }
  return { start: startPoint, floor: { ms: floor }, rounds, arch, end: cur, met: cur.ms <= o.budget };
}

/** The objective with every candidate removed; undefined (PD10001) when even that is over the budget. */
export function checkFloor(
  start: Arch,
  latency: (a: Arch) => Latency,
  budget: number,
  log: DiagnosticLog,
): number | undefined {
  const floor = latency(start.map(() => 0)).ms;
  if (floor <= budget) return floor;
  log.error(
    Code.EvolveBudgetFloor,
    `the budget of ${fmt(budget)} ms cannot be met: with every candidate block removed the prediction is still ${fmt(floor)} ms (the floor; ${fmt(latency(start).ms)} ms as the recipe stands)`,
    undefined,
    [
      `the floor is what stays: the UNet's glue, down/up-samplers and conv_in/out, the text encoder and the VAE decoder, at the recipe's steps`,
    ],
  );
  return undefined;
}

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 1 });

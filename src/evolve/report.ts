// What evolve leaves beside EVOLVED.yaml: a JSON log of every round (each
// candidate's ΔQuality, Δms and value, what was applied, the point before and
// after) and an HTML page with latency against quality per round and each
// block's value. Both are functions of the search alone: no clocks, no cache
// state, so the same inputs give the same bytes.
import {
  card,
  COLORS,
  esc,
  page,
  scatterChart,
  section,
  table,
  barChart,
  type Point2,
  type Row,
} from '../report/html-kit.ts';
import { TOOL_VERSION } from '../version.ts';
import type { Objective } from './latency.ts';
import type { Point, Round, Scored, SearchResult } from './search.ts';
import type { SlotMap } from './slots.ts';

export interface EvolveLog {
  tool: string;
  recipe: string;
  evolved: string;
  device: string;
  objective: Objective;
  budget_ms: number;
  resolution: number;
  metric: string;
  /** How quality is measured, in one line. */
  measured: string;
  steps: number;
  guidance_scale: number;
  samples: { prompt: string; seed: number }[];
  /** Every candidate block: its instances in the recipe and after evolve. */
  blocks: { block: string; kind: string; start: number; end: number; keep_shortcut: boolean; copyable: boolean }[];
  /** The objective's ms with every candidate removed. */
  floor_ms: number;
  start: Point;
  rounds: Round[];
  end: Point;
  met: boolean;
  removed: string[];
  added: string[];
}

export interface LogInput {
  recipe: string;
  evolved: string;
  device: string;
  objective: Objective;
  budget: number;
  resolution: number;
  metric: string;
  measured: string;
  steps: number;
  scale: number;
  samples: { prompt: string; seed: number }[];
  slots: SlotMap;
  result: SearchResult;
}

export function evolveLog(o: LogInput): EvolveLog {
  const r = o.result;
  const blocks = o.slots.slots.map((s, i) => ({
    block: s.block,
    kind: s.kind,
    start: s.start,
    end: r.arch[i],
    keep_shortcut: s.keepShortcut,
    copyable: s.copyable,
  }));
  return {
    tool: `pocketdiff ${TOOL_VERSION}`,
    recipe: o.recipe,
    evolved: o.evolved,
    device: o.device,
    objective: o.objective,
    budget_ms: o.budget,
    resolution: o.resolution,
    metric: o.metric,
    measured: o.measured,
    steps: o.steps,
    guidance_scale: o.scale,
    samples: o.samples,
    blocks,
    floor_ms: r.floor.ms,
    start: r.start,
    rounds: r.rounds,
    end: r.end,
    met: r.met,
    removed: blocks
      .filter((b) => b.end < b.start)
      .map((b) => (b.end === 0 ? b.block : `${b.block} (${b.start} → ${b.end})`)),
    added: blocks.filter((b) => b.end > b.start).map((b) => `${b.block} (${b.start} → ${b.end})`),
  };
}

const ms = (n: number) =>
  `${Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(1) : n.toPrecision(2)} ms`;
/** A quality or ΔQuality as the recipe's comments, the log's page and the CLI print it. */
export const fmtQuality = (n: number) =>
  n === 0 ? '0' : Math.abs(n) >= 0.01 && Math.abs(n) < 1000 ? n.toFixed(4) : n.toExponential(3);
const q = fmtQuality;

export function evolveHtml(l: EvolveLog): string {
  const unit = l.objective === 'image' ? 'ms per image' : 'ms per UNet step';
  const cards = [
    card(
      'latency',
      `${ms(l.start.ms)} → ${ms(l.end.ms)}`,
      `${unit}; budget ${ms(l.budget_ms)}, floor ${ms(l.floor_ms)}`,
      l.met ? 'good' : 'bad',
    ),
    card('quality', `${q(l.start.quality)} → ${q(l.end.quality)}`, l.measured),
    card(
      'rounds',
      String(l.rounds.length),
      `${l.rounds.filter((r) => r.phase === 'remove').length} of removals, ${l.rounds.filter((r) => r.phase === 'add').length} of additions`,
    ),
    card('blocks', `−${l.removed.length} +${l.added.length}`, `${l.blocks.length} candidate blocks`),
  ];
  return page(
    `evolve: ${l.recipe} on ${l.device}`,
    esc(
      `${l.tool} · ${l.metric} metric · ${l.samples.length} sample${l.samples.length === 1 ? '' : 's'} · ${l.steps} steps, guidance ${l.guidance_scale} · ${l.resolution}×${l.resolution} px`,
    ),
    [`<div class="cards">${cards.join('')}</div>`, trajectory(l), values(l), rounds(l)],
  );
}

/** Latency against quality: every scored candidate, and the path the search took. */
function trajectory(l: EvolveLog): string {
  const pts: Point2[] = [];
  for (const r of l.rounds) {
    for (const c of r.candidates) {
      const applied = r.applied.some((a) => a.block === c.block);
      pts.push({
        x: r.before.ms + c.delta_ms,
        y: r.before.quality + c.delta_quality,
        color: applied ? (c.kind === 'remove' ? COLORS.removed : COLORS.added) : COLORS.before,
        title: `round ${r.round}: ${c.kind} ${c.block} → ${c.count}; Δquality ${q(c.delta_quality)}, Δ${ms(c.delta_ms)}`,
      });
    }
  }
  const path = [{ p: l.start, label: 'start' }, ...l.rounds.map((r) => ({ p: r.after, label: `${r.round}` }))];
  for (const { p, label } of path)
    pts.push({
      x: p.ms,
      y: p.quality,
      color: COLORS.after,
      title: `${label === 'start' ? 'the recipe' : `after round ${label}`}: ${ms(p.ms)}, quality ${q(p.quality)}`,
      label,
      joined: true,
    });
  const xs = [...pts.map((p) => p.x), l.budget_ms];
  const span = Math.max(...xs) - Math.min(...xs);
  const digits = span >= 40 ? 0 : span >= 4 ? 1 : span >= 0.4 ? 2 : 3;
  const chart = scatterChart(
    pts,
    { x: unit(l), y: `quality (${l.metric})` },
    { x: (n) => n.toFixed(digits), y: q },
    { xMarker: { value: l.budget_ms, label: `budget ${ms(l.budget_ms)}` } },
  );
  return section(
    'Latency against quality',
    'Each grey point is one candidate action scored in a round (red: a removal applied, green: an addition applied); blue is the architecture after each round.',
    chart,
  );
}

const unit = (l: EvolveLog) => (l.objective === 'image' ? 'predicted ms per image' : 'predicted ms per UNet step');

/** Each block's value in the first round that scored it: quality lost per ms saved (removal) or gained per ms spent (addition). */
function values(l: EvolveLog): string {
  const parts: string[] = [];
  for (const kind of ['remove', 'add'] as const) {
    const first = new Map<string, { r: Round; c: Scored }>();
    for (const r of l.rounds)
      for (const c of r.candidates) if (c.kind === kind && !first.has(c.block)) first.set(c.block, { r, c });
    if (!first.size) continue;
    const rows: Row[] = [...first.values()].map(({ r, c }) => ({
      label: c.block,
      // A negative value (a removal that helped, an addition that hurt) prints without a bar.
      values: [c.value === null ? undefined : c.value],
      ...(l.removed.includes(c.block) && kind === 'remove'
        ? { tag: 'removed' as const }
        : l.added.some((a) => a.startsWith(`${c.block} `)) && kind === 'add'
          ? { tag: 'added' as const }
          : {}),
      title: `round ${r.round}: Δquality ${q(c.delta_quality)}, Δ${ms(c.delta_ms)}${c.value === null ? '' : `, ${q(c.value)} per ms`}`,
    }));
    const v = (r: Row) => r.values[0] ?? (kind === 'remove' ? Infinity : -Infinity);
    rows.sort((a, b) => (kind === 'remove' ? v(a) - v(b) : v(b) - v(a)));
    const what =
      kind === 'remove'
        ? 'Removal: quality lost per ms saved (the least goes first)'
        : 'Addition: quality gained per ms spent (the most goes first)';
    parts.push(
      `<h3>${esc(what)}</h3>`,
      barChart(rows, [{ name: 'value', color: kind === 'remove' ? COLORS.removed : COLORS.added }], q),
    );
  }
  return section(
    "Each block's value",
    'From the first round that scored each action, in ΔQuality per predicted ms.',
    parts.join('\n'),
  );
}

function rounds(l: EvolveLog): string {
  const rows = l.rounds.map(
    (r) =>
      `<tr><td class="num">${r.round}</td><td>${r.phase}</td><td>${r.applied.map((a) => `<code>${esc(a.block)}</code>`).join('<br>')}</td><td class="num">${r.candidates.length}</td><td class="num">${esc(`${ms(r.before.ms)} → ${ms(r.after.ms)}`)}</td><td class="num">${esc(`${q(r.before.quality)} → ${q(r.after.quality)}`)}</td></tr>`,
  );
  return section(
    'Rounds',
    'The JSON log beside this page has every candidate of every round.',
    table(['round', 'phase', 'applied', 'candidates', 'latency', 'quality'], rows),
  );
}

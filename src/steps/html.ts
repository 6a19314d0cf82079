// report.html: report.md's account as pictures, in one self-contained file
// (inline CSS and SVG, no scripts, no network): where the time goes per
// component and per block, what each pass did, sizes before and after.
//
// Latency comes from the cost model when the artifact has a prediction
// (manifest.prediction; per block from the report input's by_block). Without
// one, the same charts show MACs, which is what the prediction is built on.
import type { BlockStats, ModelStats } from '../blocks/analyze.ts';
import type { Manifest } from '../artifact/manifest.ts';

import { baselineLine, predictionTables, type ReportInput } from './report.ts';
import { barChart, card, COLORS, esc, lineChart, page, section, table, type Row } from '../report/html-kit.ts';
import type { ModelName } from '../model-names.ts';

const int = (n: number) => n.toLocaleString('en-US');
const gmacs = (n: number) => `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 2)} G`;
const ms = (n: number) => (n >= 100 ? `${n.toFixed(0)} ms` : `${n.toFixed(1)} ms`);
const bytes = (b: number) =>
  b >= 2 ** 30
    ? `${(b / 2 ** 30).toFixed(2)} GiB`
    : b >= 2 ** 20
      ? `${(b / 2 ** 20).toFixed(1)} MiB`
      : `${(b / 1024).toFixed(1)} KiB`;
const mparams = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e3).toFixed(1)} k`);
const pct = (before: number, after: number) =>
  before ? `${after <= before ? '−' : '+'}${Math.abs((100 * (before - after)) / before).toFixed(1)}%` : '';

// ── data ──

interface Latency {
  total: number;
  interval?: [number, number];
  budget?: number;
  within?: boolean;
  components: { name: string; ms: number }[];
  byBlock?: { name: string; ms: number }[];
}

/** The prediction, when the cost model left one: manifest.prediction, and per block what the report input carries. */
function latencyOf(m: Manifest, r: ReportInput): Latency | undefined {
  const p = m.prediction;
  const byBlock = r.prediction?.by_block;
  if (!p) return undefined;
  return {
    total: p.total_ms,
    interval: p.interval_80,
    budget: p.budget_ms,
    within: p.within_budget,
    components: Object.entries(p.components).map(([name, v]) => ({ name, ms: v })),
    byBlock: byBlock?.length ? byBlock : undefined,
  };
}

/** Calls per image: the UNet runs steps × (1 folded, 2 unfolded); the text encoder once or twice. */
function callsPerImage(m: Manifest, c: string): number {
  if (c === 'unet') return m.schedule.steps * (m.guidance.fold === 'batch' ? 1 : 2);
  if (c === 'text_encoder') return m.guidance.fold === 'batch' && m.guidance.uncond === 'baked' ? 1 : 2;
  return 1;
}

/** Block rows in network order: every block before and after, removed ones and added copies marked. */
function blockRows(
  before: ModelStats | undefined,
  after: ModelStats | undefined,
  value: (b: BlockStats) => number,
): Row[] {
  const b = new Map((before?.blocks ?? []).map((x) => [x.name, x]));
  const a = new Map((after?.blocks ?? []).map((x) => [x.name, x]));
  const names: string[] = [];
  for (const x of before?.blocks ?? []) names.push(x.name);
  // Copies (`name+1`) go right after their original; anything else new goes at the end.
  for (const x of after?.blocks ?? []) {
    if (b.has(x.name)) continue;
    const base = x.name.replace(/\+\d+$/, '');
    const at = names.lastIndexOf(names.filter((n) => n === base || n.startsWith(`${base}+`)).pop() ?? '');
    if (at >= 0) names.splice(at + 1, 0, x.name);
    else names.push(x.name);
  }
  return names.map((n) => {
    const [x, y] = [b.get(n), a.get(n)];
    const stat = (s: BlockStats | undefined) =>
      s ? `${int(s.params)} params, ${gmacs(s.macs)}MACs (attention ${gmacs(s.attention_macs)})` : 'absent';
    return {
      label: n,
      values: [x && value(x), y && value(y)],
      tag: x && !y ? 'removed' : !x && y ? 'added' : undefined,
      title: `${n} (${(x ?? y)!.kind})\nbefore: ${stat(x)}\nafter: ${stat(y)}`,
    };
  });
}

// ── the page ──

export function renderHtmlReport(m: Manifest, r: ReportInput): string {
  const comps = (Object.keys(m.models) as ModelName[]).filter((c) => m.models[c]);
  const lat = latencyOf(m, r);
  const perImage = (s: Partial<Record<ModelName, ModelStats>>, c: ModelName) =>
    (s[c]?.macs.total ?? 0) *
    callsPerImage(m, c) *
    (c === 'unet' && s === r.before && m.guidance.fold === 'batch' ? 2 : 1);
  const sections: string[] = [];

  // Summary cards.
  const unetB = r.before.unet;
  const unetA = r.after.unet;
  const weights = Object.entries(m.files)
    .filter(([f]) => /\.onnx(\.data)?$/.test(f))
    .reduce((s, [, h]) => s + h.bytes, 0);
  const cards = [
    unetB && unetA
      ? card(
          'UNet parameters',
          `${mparams(unetA.params)}`,
          `from ${mparams(unetB.params)} (${pct(unetB.params, unetA.params)})`,
        )
      : '',
    unetB && unetA
      ? card(
          'UNet MACs per step',
          `${gmacs(perImage(r.after, 'unet') / m.schedule.steps)}`,
          `from ${gmacs(perImage(r.before, 'unet') / m.schedule.steps)} with two-call guidance`,
        )
      : '',
    card('Model files', bytes(weights), m.graph_only ? 'graph only: no weights written' : `${comps.length} models`),
    lat
      ? card(
          'Predicted latency',
          ms(lat.total),
          `${lat.interval ? `80%: ${ms(lat.interval[0])} to ${ms(lat.interval[1])}; ` : ''}${lat.budget !== undefined ? `budget ${ms(lat.budget)}: ${lat.within ? 'within' : 'OVER'}` : m.prediction!.device}`,
          lat.within === false ? 'bad' : 'good',
        )
      : card('Predicted latency', '–', 'no prediction in this artifact: MACs below'),
    card(
      'Schedule',
      `${m.schedule.steps} × ${m.schedule.scheduler.toUpperCase()}`,
      `${m.schedule.spacing}, ${m.schedule.prediction_type}${m.schedule.folded_step ? ', step folded' : ''}`,
    ),
  ];
  sections.push(`<div class="cards">${cards.join('')}</div>`);

  // Per component.
  if (lat) {
    sections.push(
      section(
        'Latency per component',
        `One ${m.resolution ?? 512}×${m.resolution ?? 512} image on ${esc(m.prediction!.device)}, predicted by the cost model.${r.prediction?.baseline ? ` ${esc(baselineLine(r.prediction.baseline))}` : ''}`,
        barChart(
          lat.components.map((c) => ({ label: c.name, values: [c.ms] })),
          [{ name: 'predicted', color: COLORS.after }],
          ms,
          lat.budget !== undefined ? { marker: { value: lat.budget, label: `budget ${ms(lat.budget)}` } } : {},
        ),
      ),
    );
  } else {
    sections.push(
      section(
        'MACs per image, per component',
        `No latency prediction in this artifact, so the work: MACs per call × calls per image (UNet: ${m.schedule.steps} steps; before = two batch-1 calls per step for guidance).`,
        barChart(
          comps.map((c) => ({
            label:
              c === 'unet'
                ? `unet, ${m.schedule.steps} steps`
                : callsPerImage(m, c) > 1
                  ? `${c} ×${callsPerImage(m, c)}`
                  : c,
            values: [perImage(r.before, c), perImage(r.after, c)],
          })),
          [
            { name: 'before', color: COLORS.before },
            { name: 'after', color: COLORS.after },
          ],
          (n) => `${gmacs(n)}MACs`,
        ),
      ),
    );
  }

  // Per block.
  if (lat?.byBlock) {
    const top = [...lat.byBlock].sort((a, b) => b.ms - a.ms).slice(0, 40);
    sections.push(
      section(
        'Latency per block',
        `The ${top.length} costliest blocks of ${lat.byBlock.length}, over the whole image (all steps and calls).`,
        barChart(
          top.map((b) => ({ label: b.name, values: [b.ms] })),
          [{ name: 'predicted', color: COLORS.after }],
          ms,
        ),
      ),
    );
  }
  for (const c of comps) {
    // The UNet per denoising step: guidance is two batch-1 calls before, one batch-2 call after folding.
    const unetStep = c === 'unet';
    const afterCalls = m.guidance.fold === 'batch' ? 1 : 2;
    const rows = blockRows(r.before[c], r.after[c], (b) => b.macs).map((row) =>
      unetStep
        ? { ...row, values: [row.values[0] && 2 * row.values[0], row.values[1] && afterCalls * row.values[1]] }
        : row,
    );
    if (!rows.length) continue;
    const removed = rows.filter((x) => x.tag === 'removed').length;
    const added = rows.filter((x) => x.tag === 'added').length;
    sections.push(
      section(
        `${c}: MACs per block`,
        `${unetStep ? `Per denoising step (guidance: two batch-1 calls before, ${afterCalls === 1 ? 'one batch-2 call' : 'two calls'} after)` : 'Per call'}${m.resolution ? ` at ${m.resolution}×${m.resolution}` : ' at 512×512'}, in network order${removed || added ? `; ${removed} removed, ${added} added` : ''}. Hover a row for parameters and per-call MACs.`,
        barChart(
          rows,
          [
            { name: 'before', color: COLORS.before },
            { name: 'after', color: COLORS.after },
          ],
          (n) => `${gmacs(n)}`,
        ),
        c !== 'unet',
      ),
    );
  }

  // Sizes.
  sections.push(
    section(
      'Parameters before and after',
      'Per model.',
      barChart(
        comps.map((c) => ({ label: c, values: [r.before[c]?.params ?? 0, r.after[c]?.params ?? 0] })),
        [
          { name: 'before', color: COLORS.before },
          { name: 'after', color: COLORS.after },
        ],
        mparams,
      ),
    ),
  );

  // Passes.
  const passRows = comps.flatMap((c) =>
    (r.passes[c] ?? []).map(
      (p) =>
        `<tr><td>${esc(c)}</td><td><code>${esc(p.pass)}</code></td><td>${Object.entries(p.stats)
          .map(([k, v]) => `<span class="chip">${esc(k)}: ${esc(String(v))}</span>`)
          .join(
            ' ',
          )}</td><td class="num">${int(p.nodes_removed)}</td><td class="num">${int(p.weights_removed)}</td></tr>`,
    ),
  );
  sections.push(
    section(
      'Passes',
      'In the order they ran; cleanup and verification after each.',
      passRows.length
        ? table(['model', 'pass', 'what it did', 'nodes removed', 'weights removed'], passRows)
        : '<p>No passes changed the models.</p>',
    ),
  );

  // Schedule.
  const s = m.schedule;
  const noise = s.sigmas ? s.sigmas.slice(0, -1) : s.alphas_cumprod.map((a) => Math.sqrt((1 - a) / a));
  sections.push(
    section(
      'Schedule and guidance',
      `${s.scheduler.toUpperCase()}, ${s.steps} steps, ${s.spacing} spacing, ${s.prediction_type} prediction${s.folded_step ? ', the step folded into the UNet' : ''}. Guidance scale ${m.guidance.scale}, ${m.guidance.fold === 'batch' ? 'one batch-2 UNet call per step' : 'two UNet calls per step'}, unconditional embedding ${m.guidance.uncond === 'baked' ? 'baked in' : 'an input'}. Noise level σ = √((1 − ᾱ)/ᾱ) at each step's timestep:`,
      lineChart(noise, s.timesteps, (v) => v.toFixed(3)),
    ),
  );

  // Files.
  sections.push(
    section(
      'Files',
      '',
      table(
        ['file', 'size', 'sha256'],
        Object.entries(m.files).map(
          ([f, h]) =>
            `<tr><td><code>${esc(f)}</code></td><td class="num">${bytes(h.bytes)}</td><td><code class="hash">${h.sha256}</code></td></tr>`,
        ),
      ),
    ),
  );
  if (r.prediction) {
    const t = predictionTables(r.prediction);
    const row = (cells: string[]) =>
      `<tr><td>${esc(cells[0])}</td>${cells
        .slice(1)
        .map((x, i) => (i === 0 ? `<td class="num">${esc(x)}</td>` : `<td>${esc(x)}</td>`))
        .join('')}</tr>`;
    sections.push(
      section(
        'Prediction details',
        r.prediction.guidance
          ? `Guidance: ${esc(r.prediction.guidance)}.${r.prediction.interval_basis ? ` The interval: ${esc(r.prediction.interval_basis)}.` : ''}`
          : '',
        `${table(['component', 'ms per image', 'how'], t.components.map(row))}${table(['block', 'ms per image'], t.blocks.map(row))}`,
      ),
    );
  }

  return page(
    `${m.recipe.name} → ${m.device}`,
    `${r.description ? `${esc(r.description)}. ` : ''}Recipe <code>${esc(r.recipeFile)}</code> (sha256 <code>${m.recipe.hash.slice(0, 16)}…</code>), pocketdiff ${esc(m.tool.version)}${m.graph_only ? '. <b>Graph only</b>: no weights were written' : ''}.`,
    sections,
  );
}

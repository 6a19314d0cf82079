// An ArtifactDiff for people: a Markdown table for a pull-request comment or
// a CI job summary, and the same rows as aligned text for a terminal.
import { fmt as ms, fmtInterval } from '../text/numbers.ts';
import type { ArtifactDiff, Change, ModelDiff } from './diff.ts';

const MODEL_NAME: Record<ModelDiff['model'], string> = {
  text_encoder: 'text encoder',
  unet: 'UNet',
  vae_decoder: 'VAE decoder',
};

export function diffMarkdown(d: ArtifactDiff): string {
  const rows = tableRows(d);
  const out = [`### pocketdiff diff: ${title(d)}`, ''];
  if (!d.changed) return [...out, `No change: ${d.new.artifact} is the same as ${d.old.artifact}.`, ''].join('\n');
  out.push('| model | params | MACs | size | predicted |', '|---|--:|--:|--:|--:|');
  for (const r of rows)
    out.push(
      `| ${r.total ? `**${r.name}**` : r.name} | ${r.cells.map((c) => (r.total && c ? `**${c}**` : c)).join(' | ')} |`,
    );
  const notes = noteLines(d);
  if (notes.length) out.push('', ...notes.map((n) => `- ${n}`));
  return [...out, ''].join('\n');
}

export function diffText(d: ArtifactDiff): string {
  const out = [title(d)];
  if (!d.changed) return [...out, `no change: ${d.new.artifact} is the same as ${d.old.artifact}`].join('\n');
  const head = { name: 'model', cells: ['params', 'MACs', 'size', 'predicted'], total: false };
  const rows = [head, ...tableRows(d)];
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((r) => (i === 0 ? r.name : r.cells[i - 1]).length)));
  out.push('');
  for (const r of rows)
    out.push(
      ['  ' + r.name.padEnd(widths[0]), ...r.cells.map((c, i) => c.padStart(widths[i + 1]))].join('  ').trimEnd(),
    );
  const notes = noteLines(d);
  if (notes.length) out.push('', ...notes.map((n) => `  ${n}`));
  return out.join('\n');
}

function title(d: ArtifactDiff): string {
  const recipe = d.old.recipe === d.new.recipe ? d.new.recipe : `${d.old.recipe} → ${d.new.recipe}`;
  const device = d.old.device === d.new.device ? d.new.device : `${d.old.device} → ${d.new.device}`;
  return `${recipe} on ${device}`;
}

interface Row {
  name: string;
  cells: string[];
  total: boolean;
}

function tableRows(d: ArtifactDiff): Row[] {
  const rows: Row[] = d.models.map((m) => ({
    name: MODEL_NAME[m.model],
    cells: [show(m.params, count), show(m.macs, count), show(m.bytes, size), show(m.ms, msUnit)],
    total: false,
  }));
  const sum = (pick: (m: ModelDiff) => Change): Change => {
    const parts = d.models.map(pick);
    const add = (k: 'old' | 'new') =>
      parts.every((p) => p[k] === null) ? null : parts.reduce((s, p) => s + (p[k] ?? 0), 0);
    const o = add('old');
    const n = add('new');
    return { old: o, new: n, delta: o !== null && n !== null ? n - o : null };
  };
  const latency = d.latency
    ? show(d.latency, msUnit) + interval(d.latency.old_interval_80, d.latency.new_interval_80)
    : '';
  rows.push({
    name: 'total',
    cells: [
      show(
        sum((m) => m.params),
        count,
      ),
      show(
        sum((m) => m.macs),
        count,
      ),
      show(
        sum((m) => m.bytes),
        size,
      ),
      latency,
    ],
    total: true,
  });
  return rows;
}

function noteLines(d: ArtifactDiff): string[] {
  const notes: string[] = [];
  if (d.old.steps !== d.new.steps) notes.push(`steps: ${d.old.steps} → ${d.new.steps}`);
  if (d.old.resolution !== d.new.resolution)
    notes.push(`resolution: ${d.old.resolution ?? 'dynamic'} → ${d.new.resolution ?? 'dynamic'}`);
  if (d.old.tool !== d.new.tool) notes.push(`pocketdiff ${d.old.tool} → ${d.new.tool}`);
  if (d.new.budget_ms !== null && d.latency?.new !== null && d.latency) {
    const over = d.latency.new! > d.new.budget_ms;
    notes.push(`budget: ${ms(d.new.budget_ms)} ms on ${d.new.device}: ${over ? '**over**' : 'within'}`);
  }
  for (const m of d.models) {
    const name = MODEL_NAME[m.model];
    if (m.blocks_removed) notes.push(`${name}: ${blockText('removes', m.blocks_removed)}`);
    if (m.blocks_duplicated) notes.push(`${name}: ${blockText('duplicates', m.blocks_duplicated)}`);
    if (m.passes)
      notes.push(`${name} passes: ${m.passes.old.join(', ') || '(none)'} → ${m.passes.new.join(', ') || '(none)'}`);
    if (m.quantization)
      notes.push(`${name} precision: ${m.quantization.old ?? 'float32'} → ${m.quantization.new ?? 'float32'}`);
  }
  const f = d.files;
  if (f.changed.length) notes.push(`files changed: ${f.changed.map(code).join(', ')}`);
  if (f.added.length) notes.push(`files added: ${f.added.map(code).join(', ')}`);
  if (f.removed.length) notes.push(`files removed: ${f.removed.map(code).join(', ')}`);
  return notes;
}

function blockText(verb: string, c: { added: string[]; dropped: string[] }): string {
  return [
    c.added.length ? `now ${verb} ${c.added.map(code).join(', ')}` : '',
    c.dropped.length ? `no longer ${verb} ${c.dropped.map(code).join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

const code = (s: string) => `\`${s}\``;

/** `859.5M → 812.3M (−5.5%)`, `859.5M` when unchanged, `—` when absent. */
function show(c: Change, unit: (x: number) => string): string {
  if (c.old === null && c.new === null) return '—';
  if (c.old === null) return `(none) → ${unit(c.new!)}`;
  if (c.new === null) return `${unit(c.old)} → (none)`;
  if (c.old === c.new) return unit(c.new);
  const pct = c.old !== 0 ? ` (${sign(((c.new - c.old) / c.old) * 100, (x) => x.toFixed(1))}%)` : '';
  return `${unit(c.old)} → ${unit(c.new)}${unit === msUnit ? ` (${sign(c.new - c.old, ms)} ms)` : pct}`;
}

const msUnit = (x: number) => `${ms(x)} ms`;

function interval(a: [number, number] | null, b: [number, number] | null): string {
  if (!a && !b) return '';
  const iv = (x: [number, number] | null) => (x ? fmtInterval(x) : 'none');
  return a && b && a[0] === b[0] && a[1] === b[1] ? `; 80%: ${iv(b)}` : `; 80%: ${iv(a)} → ${iv(b)}`;
}

const sign = (x: number, f: (x: number) => string) => (x > 0 ? `+${f(x)}` : x < 0 ? `−${f(-x)}` : f(0));

/** Four significant digits: a removed block moves 859.5M to 812.3M, not 0.86G to 0.81G. */
function count(x: number): string {
  return x >= 1e9
    ? `${(x / 1e9).toPrecision(4)}G`
    : x >= 1e6
      ? `${(x / 1e6).toPrecision(4)}M`
      : x >= 1e3
        ? `${(x / 1e3).toPrecision(4)}k`
        : String(x);
}

function size(x: number): string {
  return x >= 1e9
    ? `${(x / 1e9).toPrecision(4)} GB`
    : x >= 1e6
      ? `${(x / 1e6).toPrecision(4)} MB`
      : x >= 1e3
        ? `${(x / 1e3).toPrecision(4)} kB`
        : `${x} B`;
}

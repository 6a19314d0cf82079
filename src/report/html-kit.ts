// The pieces every HTML report is made of, in one self-contained style
// (inline CSS and SVG, no scripts, no network): a page, sections, cards,
// tables, and bar and line charts.

export const COLORS = {
  before: '#b9c3d3',
  after: '#2f6fdf',
  removed: '#d9534f',
  added: '#2a9d5c',
  budget: '#d9534f',
  line: '#7a4fd6',
};

export const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// ── charts ──

export interface Series {
  name: string;
  color: string;
}

export interface Row {
  label: string;
  /** One value per series; undefined draws nothing (a block absent on that side). */
  values: (number | undefined)[];
  /** A tag after the label: 'removed', 'added'. */
  tag?: 'removed' | 'added';
  /** Tooltip lines. */
  title?: string;
}

/** Horizontal bars, one group per row, a bar per series, scaled to the largest value. */
export function barChart(
  rows: Row[],
  series: Series[],
  format: (n: number) => string,
  opts: { width?: number; marker?: { value: number; label: string } } = {},
): string {
  const width = opts.width ?? 1040;
  const labelW = Math.min(
    360,
    16 + 7 * Math.max(8, ...rows.map((r) => r.label.length + (r.tag ? r.tag.length + 3 : 0))),
  );
  const valueW = 90;
  const barH = series.length > 1 ? 9 : 14;
  const rowH = barH * series.length + 8;
  const top = series.length > 1 || opts.marker ? 24 : 6;
  const max = Math.max(
    1e-12,
    opts.marker?.value ?? 0,
    ...rows.flatMap((r) => r.values.filter((v): v is number => v !== undefined)),
  );
  const plotW = width - labelW - valueW;
  const x = (v: number) => labelW + (plotW * v) / max;
  const height = top + rows.length * rowH + 8;
  const out: string[] = [
    `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" xmlns="http://www.w3.org/2000/svg">`,
  ];
  if (series.length > 1) {
    series.forEach((s, i) =>
      out.push(
        `<rect x="${labelW + i * 130}" y="6" width="12" height="12" fill="${s.color}"/><text x="${labelW + i * 130 + 18}" y="16" class="legend">${esc(s.name)}</text>`,
      ),
    );
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    if (i % 2 === 0) out.push(`<rect x="0" y="${y}" width="${width}" height="${rowH}" class="stripe"/>`);
    const tag = r.tag ? ` <tspan class="tag-${r.tag}">${r.tag}</tspan>` : '';
    out.push(
      `<g>${r.title ? `<title>${esc(r.title)}</title>` : ''}<text x="${labelW - 8}" y="${y + rowH / 2 + 4}" text-anchor="end" class="label">${esc(r.label)}${tag}</text>`,
    );
    r.values.forEach((v, k) => {
      if (v === undefined) return;
      const by = y + 4 + k * barH;
      out.push(
        `<rect x="${labelW}" y="${by}" width="${Math.max(v > 0 ? 1 : 0, x(v) - labelW).toFixed(1)}" height="${barH - 1}" fill="${series[k].color}"/>`,
      );
      // A value at or below zero has no bar; its number starts at the axis.
      out.push(
        `<text x="${(Math.max(x(v), labelW) + 4).toFixed(1)}" y="${by + barH - 2}" class="value">${esc(format(v))}</text>`,
      );
    });
    out.push('</g>');
  });
  if (opts.marker) {
    const mx = x(opts.marker.value).toFixed(1);
    out.push(
      `<line x1="${mx}" x2="${mx}" y1="${top - 4}" y2="${height - 4}" stroke="${COLORS.budget}" stroke-dasharray="4 3"/><text x="${mx}" y="${top - 8}" text-anchor="middle" class="marker">${esc(opts.marker.label)}</text>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}

export interface Point2 {
  x: number;
  y: number;
  color: string;
  /** Tooltip. */
  title: string;
  /** A short label drawn beside the point. */
  label?: string;
  /** Part of the line drawn through the joined points in order. */
  joined?: boolean;
}

/** Points on x/y axes (each axis from its data's range), a line through the joined ones; `xMarker` draws a vertical line (a budget). */
export function scatterChart(
  points: Point2[],
  axes: { x: string; y: string },
  format: { x: (n: number) => string; y: (n: number) => string },
  opts: { xMarker?: { value: number; label: string }; width?: number; height?: number } = {},
): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 320;
  const pad = { l: 70, r: 20, t: 20, b: 44 };
  const xs = [...points.map((p) => p.x), ...(opts.xMarker ? [opts.xMarker.value] : [])];
  const ys = points.map((p) => p.y);
  const span = (v: number[]) => {
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    const d = hi - lo || Math.abs(hi) || 1;
    return [lo - 0.06 * d, hi + 0.06 * d];
  };
  const [x0, x1] = span(xs);
  const [y0, y1] = span(ys);
  const px = (v: number) => pad.l + ((width - pad.l - pad.r) * (v - x0)) / (x1 - x0);
  const py = (v: number) => pad.t + (height - pad.t - pad.b) * (1 - (v - y0) / (y1 - y0));
  const out: string[] = [
    `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" xmlns="http://www.w3.org/2000/svg">`,
  ];
  out.push(
    `<line x1="${pad.l}" x2="${width - pad.r}" y1="${height - pad.b}" y2="${height - pad.b}" class="axis"/><line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${height - pad.b}" class="axis"/>`,
  );
  for (let k = 0; k <= 4; k++) {
    const xv = x0 + ((x1 - x0) * k) / 4;
    const yv = y0 + ((y1 - y0) * k) / 4;
    out.push(
      `<text x="${px(xv).toFixed(1)}" y="${height - pad.b + 16}" text-anchor="middle" class="value">${esc(format.x(xv))}</text>`,
    );
    out.push(
      `<text x="${pad.l - 6}" y="${(py(yv) + 4).toFixed(1)}" text-anchor="end" class="value">${esc(format.y(yv))}</text>`,
    );
  }
  out.push(
    `<text x="${(pad.l + width - pad.r) / 2}" y="${height - 6}" text-anchor="middle" class="label">${esc(axes.x)}</text>`,
  );
  out.push(
    `<text x="14" y="${(pad.t + height - pad.b) / 2}" text-anchor="middle" class="label" transform="rotate(-90 14 ${(pad.t + height - pad.b) / 2})">${esc(axes.y)}</text>`,
  );
  if (opts.xMarker) {
    const mx = px(opts.xMarker.value).toFixed(1);
    out.push(
      `<line x1="${mx}" x2="${mx}" y1="${pad.t}" y2="${height - pad.b}" stroke="${COLORS.budget}" stroke-dasharray="4 3"/><text x="${mx}" y="${pad.t - 6}" text-anchor="middle" class="marker">${esc(opts.xMarker.label)}</text>`,
    );
  }
  const path = points.filter((p) => p.joined);
  if (path.length > 1)
    out.push(
      `<polyline fill="none" stroke="${COLORS.line}" stroke-width="1.5" points="${path.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
    );
  for (const p of points) {
    out.push(
      `<g><title>${esc(p.title)}</title><circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${p.color}"/>${p.label ? `<text x="${(px(p.x) + 6).toFixed(1)}" y="${(py(p.y) - 6).toFixed(1)}" class="value">${esc(p.label)}</text>` : ''}</g>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}

/** A line over the steps (noise level per step). */
export function lineChart(
  values: number[],
  labels: (string | number)[],
  format: (n: number) => string,
  width = 520,
  height = 160,
): string {
  const pad = { l: 44, r: 12, t: 12, b: 28 };
  const max = Math.max(...values, 1e-12);
  const px = (i: number) => pad.l + (values.length > 1 ? ((width - pad.l - pad.r) * i) / (values.length - 1) : 0);
  const py = (v: number) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const pts = values.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
  const dots = values.map(
    (v, i) =>
      `<circle cx="${px(i).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3" fill="${COLORS.line}"><title>${esc(`step ${i + 1}, t=${labels[i]}: ${format(v)}`)}</title></circle>`,
  );
  const ticks = labels.map((l, i) =>
    values.length <= 12 || i % Math.ceil(values.length / 12) === 0
      ? `<text x="${px(i).toFixed(1)}" y="${height - 10}" text-anchor="middle" class="value">${esc(String(l))}</text>`
      : '',
  );
  return [
    `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" xmlns="http://www.w3.org/2000/svg">`,
    `<line x1="${pad.l}" x2="${width - pad.r}" y1="${height - pad.b}" y2="${height - pad.b}" class="axis"/><line x1="${pad.l}" x2="${pad.l}" y1="${pad.t}" y2="${height - pad.b}" class="axis"/>`,
    `<text x="${pad.l - 6}" y="${pad.t + 8}" text-anchor="end" class="value">${esc(format(max))}</text><text x="${pad.l - 6}" y="${height - pad.b}" text-anchor="end" class="value">0</text>`,
    `<polyline points="${pts}" fill="none" stroke="${COLORS.line}" stroke-width="2"/>`,
    ...dots,
    ...ticks,
    '</svg>',
  ].join('\n');
}

// ── layout ──

export function card(title: string, value: string, note: string, tone?: 'good' | 'bad'): string {
  return `<div class="card${tone ? ` ${tone}` : ''}"><div class="card-title">${esc(title)}</div><div class="card-value">${esc(value)}</div><div class="card-note">${esc(note)}</div></div>`;
}

export function section(title: string, lead: string, body: string, collapsed = false): string {
  const inner = `${lead ? `<p>${lead}</p>` : ''}<div class="scroll">${body}</div>`;
  return collapsed
    ? `<section><details><summary><h2>${esc(title)}</h2></summary>${inner}</details></section>`
    : `<section><h2>${esc(title)}</h2>${inner}</section>`;
}

export function table(head: string[], rows: string[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

export function page(title: string, subtitle: string, sections: string[]): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · pocketdiff report</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d2433; background: #f5f7fb; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 6px; display: inline-block; }
.sub { color: #5b6577; margin: 0 0 18px; }
section { background: #fff; border: 1px solid #e1e6ef; border-radius: 8px; padding: 16px 18px; margin: 0 0 16px; }
section p { color: #4a5466; margin: 4px 0 10px; }
summary { cursor: pointer; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin: 0 0 16px; }
.card { background: #fff; border: 1px solid #e1e6ef; border-radius: 8px; padding: 12px 14px; }
.card.good { border-left: 4px solid ${COLORS.added}; } .card.bad { border-left: 4px solid ${COLORS.removed}; }
.card-title { color: #5b6577; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card-value { font-size: 22px; font-weight: 600; margin: 2px 0; }
.card-note { color: #5b6577; font-size: 12px; }
.scroll { overflow-x: auto; }
.chart { max-width: 100%; height: auto; font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.chart .label { fill: #1d2433; } .chart .value { fill: #5b6577; font-size: 11px; } .chart .legend { fill: #1d2433; }
.chart .stripe { fill: #f7f9fc; } .chart .axis { stroke: #c5ccd8; } .chart .marker { fill: ${COLORS.budget}; font-size: 11px; }
.tag-removed { fill: ${COLORS.removed}; font-size: 10px; } .tag-added { fill: ${COLORS.added}; font-size: 10px; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eef1f6; vertical-align: top; }
th { color: #5b6577; font-weight: 600; font-size: 12px; } td.num { text-align: right; white-space: nowrap; }
td > code:only-child { white-space: nowrap; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; } .hash { color: #5b6577; word-break: break-all; }
.chip { display: inline-block; background: #eef3fd; border-radius: 10px; padding: 0 8px; margin: 1px 0; font-size: 12px; }
pre { background: #f7f9fc; padding: 10px; border-radius: 6px; overflow-x: auto; }
</style>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
<p class="sub">${subtitle}</p>
${sections.join('\n')}
</main>
</body>
</html>
`;
}

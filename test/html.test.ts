// report.html: written beside report.md and listed in the manifest; self-contained
// (no scripts, nothing fetched); charts of MACs without a prediction and of
// latency with one; text escaped; the latency chart to scale with the budget
// line at the budget, in the SVG and in what headless Chromium shows. Chromium
// is required in CI (.ci/run installs it); elsewhere its tests are skipped,
// said on stderr. Screenshots go to a temp dir, never into the repo.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { Manifest } from '../src/artifact/manifest.ts';
import { renderHtmlReport } from '../src/steps/html.ts';
import { barChart, COLORS } from '../src/report/html-kit.ts';
import type { ReportInput } from '../src/steps/report.ts';
import { findChromium, screenshot } from '../scripts/screenshot-report.ts';
import { decodePng, pixel, type Image } from './support/png.ts';
import { tempDir } from './support/ort.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const work = tempDir('pocketdiff-html-');

// The text encoder is the embedded default, graph only: a report needs no weights.
const dir = await (async () => {
  const file = path.join(work, 'tiny.yaml');
  fs.writeFileSync(
    file,
    `model:\n  unet: ${path.join(ROOT, 'test/fixtures/unet-tiny/model.onnx')}\n  vae_decoder: ${path.join(ROOT, 'test/fixtures/vae-decoder-tiny/model.onnx')}\n  text_encoder: ${path.join(ROOT, 'test/fixtures/text-encoder-tiny/model.onnx')}\n` +
      'unet:\n  remove: [down_blocks.1.attentions.0]\n  duplicate: [up_blocks.0.attentions.1]\nschedule: {steps: 4}\n',
  );
  const log = new DiagnosticLog();
  const [a] = (await compile(file, { out: path.join(work, 'out'), graphOnly: true }, log)) ?? [];
  assert.ok(a, log.items.map(formatDiagnostic).join('\n'));
  return a.dir;
})();
const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));

function selfContained(page: string): void {
  assert.not.match(page, /<script/i);
  assert.not.match(page, /<link|@import|url\(/i);
  const urls = page.match(/https?:\/\/[^\s"'<)]+/g) ?? [];
  assert.equal([...new Set(urls)], ['http://www.w3.org/2000/svg'], 'only the SVG namespace, nothing fetched');
}

test('report.html sits beside report.md, is listed in the manifest, and needs no network', () => {
  assert.ok(manifest.files['report.html']);
  assert.ok(manifest.files['report.md']);
  assert.match(html, /^<!doctype html>/);
  selfContained(html);
  assert.ok((html.match(/<svg /g) ?? []).length >= 5, 'charts per component, per block, parameters, schedule');
});

test('without a prediction: MACs per component and per block, removed and added blocks marked, passes with stats', () => {
  assert.match(html, /MACs per image, per component/);
  assert.match(html, /no prediction in this artifact/);
  assert.match(html, /unet: MACs per block/);
  assert.match(html, />down_blocks\.1\.attentions\.0 <tspan class="tag-removed">removed<\/tspan>/);
  assert.match(html, />up_blocks\.0\.attentions\.1\+1 <tspan class="tag-added">added<\/tspan>/);
  for (const pass of ['remove-blocks', 'duplicate-blocks', 'fold-cfg'])
    assert.match(html, new RegExp(`<code>${pass}</code>`));
  assert.match(html, /<span class="chip">blocks_removed: 1<\/span>/);
  assert.match(html, /Parameters before and after/);
  assert.match(html, /<code>pipeline\.ts<\/code>/);
});

// A prediction over budget: the UNet bar runs past the budget line.
const PREDICTED = { text_encoder: 12, unet: 2200, vae_decoder: 238 };
const BUDGET = 2000;
const predictedPage = renderHtmlReport(
  {
    ...manifest,
    prediction: {
      device: 'iphone-14-pro',
      total_ms: 2450,
      budget_ms: BUDGET,
      within_budget: false,
      components: PREDICTED,
    },
  },
  {
    recipeFile: 'recipes/<odd> & "name".yaml',
    sources: {},
    before: {},
    after: {},
    passes: {},
    prediction: {
      device: 'iphone-14-pro',
      total_ms: 2450,
      budget_ms: BUDGET,
      components: {
        text_encoder: { ms: 6, runs: 2 },
        unet: { ms_per_call: 275, calls_per_step: 1, ms_per_step: 275, steps: 8, batch_per_call: 2 },
        vae_decoder: { ms: 238 },
      },
      by_block: [
        { name: 'unet/mid_block.attentions.0', ms: 300 },
        { name: 'vae_decoder/up_blocks.3', ms: 120 },
      ],
    },
  } satisfies ReportInput,
);

interface Bar {
  label: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The 'Latency per component' chart's bars (by label) and its budget line, as the SVG draws them. */
function latencyChart(page: string): {
  bars: Record<string, Bar>;
  line: { x1: number; x2: number; y1: number; y2: number };
} {
  const from = page.indexOf('Latency per component');
  assert.ok(from >= 0, 'no latency chart');
  const svg = page.slice(page.indexOf('<svg ', from), page.indexOf('</svg>', from));
  const labels = [...svg.matchAll(/class="label">([^<]+)<\/text>/g)].map((m) => m[1]);
  const rects = [
    ...svg.matchAll(
      new RegExp(
        `<rect x="([\\d.]+)" y="([\\d.]+)" width="([\\d.]+)" height="([\\d.]+)" fill="${COLORS.after}"/>`,
        'g',
      ),
    ),
  ];
  assert.is(rects.length, labels.length, `a bar per component: ${labels}`);
  const bars = Object.fromEntries(
    rects.map((m, i) => [
      labels[i],
      { label: labels[i], x: Number(m[1]), y: Number(m[2]), width: Number(m[3]), height: Number(m[4]) },
    ]),
  );
  const lines = [
    ...svg.matchAll(
      new RegExp(`<line x1="([\\d.]+)" x2="([\\d.]+)" y1="([\\d.]+)" y2="([\\d.]+)" stroke="${COLORS.budget}"`, 'g'),
    ),
  ];
  assert.is(lines.length, 1, 'one budget line');
  const [x1, x2, y1, y2] = lines[0].slice(1).map(Number);
  return { bars, line: { x1, x2, y1, y2 } };
}

test('with a prediction: latency per component with the budget line, and per block', () => {
  const page = predictedPage;
  selfContained(page);
  assert.match(page, /Latency per component/);
  assert.match(page, /budget 2000 ms/);
  assert.match(page, /class="card bad"/);
  assert.match(page, /Latency per block/);
  assert.match(page, /unet\/mid_block\.attentions\.0/);
  assert.match(page, /recipes\/&lt;odd&gt; &amp; &quot;name&quot;\.yaml/);
  assert.not.match(page, /<odd>/);
});

test('the latency chart: a bar per component to one scale, the budget line where that scale puts the budget', () => {
  const { bars, line } = latencyChart(predictedPage);
  assert.equal(Object.keys(bars), Object.keys(PREDICTED));
  // The scale is read off the chart itself: the longest bar's pixels per ms. One decimal of rounding per coordinate.
  const { unet } = bars;
  const perMs = unet.width / PREDICTED.unet;
  for (const [name, ms] of Object.entries(PREDICTED)) {
    assert.is(bars[name].x, unet.x, `${name} starts at the axis`);
    assert.ok(
      Math.abs(bars[name].width - ms * perMs) <= 0.1,
      `${name}: ${bars[name].width} px for ${ms} ms, ${perMs} px/ms`,
    );
  }
  assert.is(line.x1, line.x2, 'vertical');
  assert.ok(
    Math.abs(line.x1 - (unet.x + BUDGET * perMs)) <= 0.1,
    `budget line at x ${line.x1}, ${BUDGET} ms is at ${unet.x + BUDGET * perMs}`,
  );
  const ys = Object.values(bars).flatMap((b) => [b.y, b.y + b.height]);
  assert.ok(
    line.y1 <= Math.min(...ys) && line.y2 >= Math.max(...ys),
    `the line (y ${line.y1} to ${line.y2}) crosses every bar (${Math.min(...ys)} to ${Math.max(...ys)})`,
  );
});

test('barChart: bars scale to the largest value; absent values draw nothing', () => {
  const svg = barChart(
    [
      { label: 'a', values: [10, undefined] },
      { label: 'b', values: [5, 20] },
    ],
    [
      { name: 'x', color: '#000' },
      { name: 'y', color: '#111' },
    ],
    String,
    { width: 500 },
  );
  const widths = [...svg.matchAll(/<rect x="\d+" y="[\d.]+" width="([\d.]+)" height="8" fill/g)].map((m) =>
    Number(m[1]),
  );
  assert.is(widths.length, 3);
  assert.ok(Math.abs(widths[2] / widths[0] - 2) < 0.01 && Math.abs(widths[1] / widths[0] - 0.5) < 0.01, String(widths));
});

// ── what headless Chromium shows ──

// CI must prove the page renders; a developer without Chromium is told the tests did not run.
const chromium = findChromium();
const inCI = Boolean(process.env.CI);
if (!chromium && !inCI)
  process.stderr.write(
    '\n  html.test.ts: SKIPPED the headless Chromium tests: chromium is not installed (apt-get install -y chromium; CI requires it)\n',
  );
const rendered = chromium || inCI ? test : test.skip;

function shoot(page: string, name: string): Image {
  assert.ok(chromium, 'CI is set and chromium is not installed: .ci/run installs it (apt-get install -y chromium)');
  fs.writeFileSync(path.join(work, `${name}.html`), page);
  const png = path.join(work, `${name}.png`);
  const r = screenshot(path.join(work, `${name}.html`), png, '1200,1600', chromium);
  assert.ok(r.ok, r.log);
  return decodePng(fs.readFileSync(png));
}

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const near = (hex: string, tolerance = 12) => {
  const want = rgb(hex);
  return (p: number[]) => p.every((c, i) => Math.abs(c - want[i]) <= tolerance);
};
// The budget line is one dashed pixel wide at a fractional x: antialiased over two columns, lighter than its colour.
const reddish = ([r, g, b]: number[]) => r > 150 && r - g > 45 && r - b > 45;

/** Horizontal runs of `colour`, grouped into bars: consecutive rows whose longest run starts at the same x. */
function barsOf(
  img: Image,
  colour: (p: number[]) => boolean,
): { top: number; bottom: number; x: number; length: number }[] {
  const out: { top: number; bottom: number; x: number; length: number }[] = [];
  for (let y = 0; y < img.height; y++) {
    let best = { x: 0, length: 0 };
    for (let x = 0, run = 0; x < img.width; x++) {
      run = colour(pixel(img, x, y)) ? run + 1 : 0;
      if (run > best.length) best = { x: x - run + 1, length: run };
    }
    const last = out[out.length - 1];
    if (best.length < 2) continue;
    if (last && last.bottom === y - 1 && Math.abs(last.x - best.x) <= 1) {
      last.bottom = y;
      last.length = Math.max(last.length, best.length);
    } else out.push({ top: y, bottom: y, ...best });
  }
  return out;
}

rendered('headless Chromium renders report.html', () => {
  const img = shoot(html, 'report');
  assert.equal([img.width, img.height], [1200, 1600]);
  // The MACs charts draw before and after bars side by side.
  assert.ok(barsOf(img, near(COLORS.before)).length >= 2, 'before bars visible');
  assert.ok(barsOf(img, near(COLORS.after)).length >= 2, 'after bars visible');
});

rendered('headless Chromium shows the latency bars to scale and the budget line at the budget', () => {
  const { bars, line } = latencyChart(predictedPage);
  const img = shoot(predictedPage, 'predicted');
  // The page's first blue bars, top down, are the latency chart's: text encoder, UNet, VAE decoder.
  const [te, unet, vae] = barsOf(img, near(COLORS.after));
  assert.ok(te && unet && vae, 'three latency bars on screen');
  assert.ok(te.x === unet.x && vae.x === unet.x, `bars start at one axis: ${[te.x, unet.x, vae.x]}`);
  assert.ok(te.top < unet.top && unet.top < vae.top);
  const scale = unet.length / bars.unet.width; // screen px per SVG unit
  assert.ok(Math.abs(scale - 1) < 0.05, `the chart is drawn at its size (scale ${scale})`);
  for (const [name, b] of [
    ['text_encoder', te],
    ['vae_decoder', vae],
  ] as const) {
    const want = (unet.length * PREDICTED[name]) / PREDICTED.unet;
    assert.ok(
      Math.abs(b.length - want) <= 2,
      `${name}: ${b.length} px on screen, ${want.toFixed(1)} px at the UNet bar's scale`,
    );
  }
  // Where the SVG puts the line, and where the bars' own scale puts BUDGET, in screen px (edges, not pixel centres).
  const at = unet.x + scale * (line.x1 - bars.unet.x);
  const expected = unet.x + (unet.length * BUDGET) / PREDICTED.unet;
  assert.ok(
    Math.abs(at - expected) <= 1,
    `SVG places the line at ${at.toFixed(1)} px, the bars' scale at ${expected.toFixed(1)}`,
  );
  // The column most often red across the chart's rows is the line's.
  const rows = vae.bottom - te.top + 1;
  const redRows = (x: number) => {
    let n = 0;
    for (let y = te.top; y <= vae.bottom; y++) if (reddish(pixel(img, x, y))) n++;
    return n;
  };
  const columns = Array.from({ length: img.width }, (_, x) => redRows(x));
  const peak = columns.indexOf(Math.max(...columns));
  assert.ok(Math.abs(peak + 0.5 - expected) <= 1, `the red line is at x ${peak}, the budget at ${expected.toFixed(1)}`);
  // Dashes of 4 on, 3 off, over the stripes and the bars it crosses.
  assert.ok(columns[peak] >= 0.3 * rows, `the line is red in ${columns[peak]} of ${rows} rows`);
  assert.is(columns.filter((n, x) => n > 0 && Math.abs(x - peak) > 1).length, 0, 'no other red in the chart');
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.run();

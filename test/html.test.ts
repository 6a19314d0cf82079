// report.html: written beside report.md and listed in the manifest; self-contained
// (no scripts, nothing fetched); charts of MACs without a prediction and of
// latency with one; text escaped; and it renders in headless Chromium when the
// machine has it (the screenshot goes to a temp dir, never into the repo).
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { Manifest } from '../src/artifact/manifest.ts';
import { renderHtmlReport } from '../src/steps/html.ts';
import { barChart } from '../src/report/html-kit.ts';
import type { ReportInput } from '../src/steps/report.ts';
import { findChromium, screenshot } from '../scripts/screenshot-report.ts';
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
  for (const pass of ['remove-blocks', 'duplicate-blocks', 'fold-cfg']) assert.match(html, new RegExp(`<code>${pass}</code>`));
  assert.match(html, /<span class="chip">blocks_removed: 1<\/span>/);
  assert.match(html, /Parameters before and after/);
  assert.match(html, /<code>pipeline\.ts<\/code>/);
});

test('with a prediction: latency per component with the budget line, and per block', () => {
  const m: Manifest = { ...manifest, prediction: { device: 'iphone-14-pro', total_ms: 2450, budget_ms: 2000, within_budget: false, components: { text_encoder: 12, unet: 2200, vae_decoder: 238 } } };
  const input = {
    recipeFile: 'recipes/<odd> & "name".yaml',
    sources: {},
    before: {},
    after: {},
    passes: {},
    prediction: {
      device: 'iphone-14-pro',
      total_ms: 2450,
      budget_ms: 2000,
      components: {
        text_encoder: { ms: 6, runs: 2 },
        unet: { ms_per_call: 275, calls_per_step: 1, ms_per_step: 275, steps: 8, batch_per_call: 2 },
        vae_decoder: { ms: 238 },
      },
      by_block: [{ name: 'unet/mid_block.attentions.0', ms: 300 }, { name: 'vae_decoder/up_blocks.3', ms: 120 }],
    },
  } satisfies ReportInput;
  const page = renderHtmlReport(m, input);
  selfContained(page);
  assert.match(page, /Latency per component/);
  assert.match(page, /budget 2000 ms/);
  assert.match(page, /class="card bad"/);
  assert.match(page, /Latency per block/);
  assert.match(page, /unet\/mid_block\.attentions\.0/);
  assert.match(page, /recipes\/&lt;odd&gt; &amp; &quot;name&quot;\.yaml/);
  assert.not.match(page, /<odd>/);
});

test('barChart: bars scale to the largest value; absent values draw nothing', () => {
  const svg = barChart([{ label: 'a', values: [10, undefined] }, { label: 'b', values: [5, 20] }], [{ name: 'x', color: '#000' }, { name: 'y', color: '#111' }], String, { width: 500 });
  const widths = [...svg.matchAll(/<rect x="\d+" y="[\d.]+" width="([\d.]+)" height="8" fill/g)].map((m) => Number(m[1]));
  assert.is(widths.length, 3);
  assert.ok(Math.abs(widths[2] / widths[0] - 2) < 0.01 && Math.abs(widths[1] / widths[0] - 0.5) < 0.01, String(widths));
});

test('headless Chromium renders it (skipped without chromium)', () => {
  const chromium = findChromium();
  if (!chromium) return console.log('  (no chromium: apt-get install -y chromium)');
  const png = path.join(work, 'shot.png');
  const r = screenshot(path.join(dir, 'report.html'), png, '1200,1600', chromium);
  assert.ok(r.ok, r.log);
  const b = fs.readFileSync(png);
  assert.equal([b.readUInt32BE(16), b.readUInt32BE(20)], [1200, 1600]);
  assert.ok(b.length > 50_000, 'a page with content, not a blank one');
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.run();

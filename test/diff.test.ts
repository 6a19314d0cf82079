// pocketdiff diff: an artifact against itself is no change; against the same
// recipe with one more block removed it reports the drop in parameters, MACs,
// bytes and predicted latency, the block, and the files whose bytes changed,
// as JSON, Markdown and text; --fail-over-ms turns growth into exit 3.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/api.ts';
import type { ArtifactDiff } from '../src/artifact/diff.ts';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { tinyRecipe } from './support/ci.ts';
import { tempDir } from './support/ort.ts';

const work = tempDir('diff');

async function artifact(name: string, remove: string[]): Promise<string> {
  const r = await api.compile(tinyRecipe(path.join(work, name), 'tiny', { remove }), {
    out: path.join(work, name, 'out'),
  });
  assert.ok(r.ok, r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.result!.artifacts[0].dir;
}

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(['diff', ...args], {
    log: new DiagnosticLog(),
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
  });
  return { status, stdout: out.join('\n'), stderr: err.join('\n') };
}

let base = '';
let more = '';
test.before(async () => {
  base = await artifact('base', ['down_blocks.1.attentions.0']);
  more = await artifact('more', ['down_blocks.1.attentions.0', 'up_blocks.0.attentions.0']);
});

test('an artifact against itself: no change, in JSON, Markdown and text', async () => {
  const json = await cli([base, path.join(base, 'manifest.json'), '--json']);
  assert.is(json.status, 0, json.stderr);
  const d: ArtifactDiff = JSON.parse(json.stdout);
  assert.is(d.changed, false);
  assert.equal(d.files, { changed: [], added: [], removed: [] });
  for (const m of d.models) for (const c of [m.params, m.macs, m.bytes, m.ms]) assert.is(c.delta, 0, m.model);
  assert.is(d.latency!.delta, 0);
  assert.match((await cli([base, base, '--markdown'])).stdout, /No change: .* is the same as /);
  assert.match((await cli([base, base])).stdout, /no change: /);
});

test('one more removed block: params, MACs, size and latency drop, the block is named, the UNet files changed', async () => {
  const r = await api.diff(base, more);
  assert.ok(r.ok, r.diagnostics.map(formatDiagnostic).join('\n'));
  const d = r.result!;
  assert.is(d.changed, true);
  const unet = d.models.find((m) => m.model === 'unet')!;
  for (const c of [unet.params, unet.macs, unet.bytes, unet.ms]) {
    assert.ok(
      c.old! > 0 && c.new! > 0 && c.delta! < 0 && Math.abs(c.delta! - (c.new! - c.old!)) < 1e-6,
      JSON.stringify(c),
    );
  }
  assert.equal(unet.blocks_removed, { added: ['up_blocks.0.attentions.0'], dropped: [] });
  assert.is(unet.passes, undefined, 'the same passes ran');
  for (const m of d.models.filter((m) => m.model !== 'unet'))
    for (const c of [m.params, m.macs, m.bytes, m.ms]) assert.is(c.delta, 0, m.model);
  assert.ok(d.latency!.delta! < 0 && d.latency!.new! < d.latency!.old!);
  assert.ok(d.latency!.old_interval_80 && d.latency!.new_interval_80);
  assert.ok(
    d.files.changed.includes('unet.onnx') && d.files.changed.includes('unet.onnx.data'),
    d.files.changed.join(', '),
  );
  assert.not.ok(d.files.changed.includes('vae_decoder.onnx') || d.files.changed.includes('text_encoder.onnx'));

  // The same numbers in the CLI's JSON; the Markdown table carries them.
  const json = await cli([base, more, '--json']);
  assert.equal(JSON.parse(json.stdout), { ...d, exceeded: false });
  const md = (await cli([base, more, '--markdown'])).stdout;
  assert.match(md, /^### pocketdiff diff: tiny on galaxy-s23$/m);
  assert.match(md, /^\| model \| params \| MACs \| size \| predicted \|$/m);
  const row = md.split('\n').find((l) => l.startsWith('| UNet |'))!;
  assert.match(
    row,
    /^\| UNet \| [\d.]+[kMG] → [\d.]+[kMG] \(−[\d.]+%\) \| [\d.]+[kMG] → [\d.]+[kMG] \(−[\d.]+%\) \| [\d.]+ [kMG]?B → [\d.]+ [kMG]?B \(−[\d.]+%\) \| [\d.]+ ms → [\d.]+ ms \(−[\d.]+ ms\) \|$/,
  );
  assert.match(md, /^\| \*\*total\*\* \|.*80%: /m);
  assert.match(md, /^- UNet: now removes `up_blocks\.0\.attentions\.0`$/m);
  assert.match(md, /^- files changed: .*`unet\.onnx`/m);
});

test('--fail-over-ms: exit 3 with PD7020 when the latency grows by more, 0 otherwise; bad input is a coded error', async () => {
  const grew = await cli([more, base, '--fail-over-ms', '0']);
  assert.is(grew.status, 3, grew.stderr);
  assert.match(
    grew.stderr,
    /warning PD7020: galaxy-s23: predicted latency grew by [\d.]+ ms \([\d.]+ → [\d.]+ ms\), more than the limit of 0\.00 ms/,
  );
  assert.is((await cli([more, base, '--fail-over-ms', '1000'])).status, 0);
  assert.is((await cli([base, more, '--fail-over-ms', '0'])).status, 0, 'a drop is never over');
  const missing = await cli([base, path.join(work, 'nowhere')]);
  assert.is(missing.status, 2);
  assert.match(missing.stderr, /error PD1001: no artifact folder at .*nowhere/);
  const notJson = path.join(work, 'bad', 'manifest.json');
  fs.mkdirSync(path.dirname(notJson), { recursive: true });
  fs.writeFileSync(notJson, '{ "format":');
  assert.match((await cli([base, notJson])).stderr, /error PD7015: manifest\.json is not JSON/);
  assert.match((await cli([base])).stderr, /error PD3001: expected OLD and NEW/);
  assert.match(
    (await cli([base, more, '--fail-over-ms', 'soon'])).stderr,
    /error PD3001: --fail-over-ms must be a number/,
  );
});

test.run();

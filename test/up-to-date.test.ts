// compile leaves an artifact alone when it was built from the same recipe,
// input files, device profile and pocketdiff version, and rebuilds it when
// any of them changed, when it is incomplete, or with --force.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as api from '../src/api.ts';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { profileFile } from '../src/devices/index.ts';
import { loadModel } from '../src/onnx/model.ts';
import { ROOT, tinyRecipe } from './support/ci.ts';
import { tempDir } from './support/ort.ts';

const work = tempDir('up-to-date');
const out = path.join(work, 'out');
const dir = path.join(out, 'tiny', 'galaxy-s23');

/** Every file under the artifact root with its bytes and mtime: "writes nothing" means this does not change. */
function snapshot(): Record<string, string> {
  const s: Record<string, string> = {};
  for (const e of fs.readdirSync(out, { recursive: true, withFileTypes: true })) {
    const f = path.join(e.parentPath, e.name);
    const st = fs.statSync(f);
    s[path.relative(out, f)] = e.isFile() ? `${st.size}@${st.mtimeMs}` : 'dir';
  }
  return s;
}

async function build(file: string, force = false) {
  const r = await api.compile(file, { out, force });
  assert.ok(r.ok, r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.result!.artifacts[0];
}

// The VAE decoder is a copy whose weights the test changes.
const vae = path.join(work, 'vae', 'model.onnx');
fs.mkdirSync(path.dirname(vae), { recursive: true });
fs.copyFileSync(path.join(ROOT, 'test/fixtures/vae-decoder-tiny/model.onnx'), vae);
const file = tinyRecipe(work, 'tiny', { vae });

test('a second compile of an unchanged recipe says up to date and writes nothing', async () => {
  const first = await build(file);
  assert.is(first.status, 'built');
  assert.is(first.because, 'not built yet');
  const before = snapshot();
  const again = await build(file);
  assert.is(again.status, 'up to date');
  assert.is(again.predicted_ms, first.predicted_ms);
  assert.equal(again.interval_80, first.interval_80);
  assert.equal(snapshot(), before);
  // The command line says so.
  const lines: string[] = [];
  const status = await main(['compile', file, '--out', out], {
    log: new DiagnosticLog(),
    stdout: (t) => lines.push(t),
    stderr: () => {},
  });
  assert.is(status, 0);
  assert.match(lines.join('\n'), /^galaxy-s23: .*tiny\/galaxy-s23 up to date  \(predicted /m);
  assert.equal(snapshot(), before);
});

test('a changed recipe rebuilds; changing it back rebuilds again', async () => {
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.replace('steps: 4', 'steps: 3'));
  try {
    const a = await build(file);
    assert.is(a.status, 'built');
    assert.is(a.because, 'the recipe changed');
    assert.is(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).schedule.steps, 3);
  } finally {
    fs.writeFileSync(file, text);
  }
  assert.is((await build(file)).because, 'the recipe changed');
  assert.is((await build(file)).status, 'up to date');
});

test('one changed weight in a model file rebuilds; the file as it was rebuilds again', async () => {
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  assert.ok(m.inputs.files['vae/model.onnx'], Object.keys(m.inputs.files).join(', '));
  const original = fs.readFileSync(vae);
  // A float weight's bytes, found in the file: its lowest mantissa bit flipped leaves a valid model.
  const model = loadModel(vae, new DiagnosticLog())!;
  const raw = [...model.data.values()].find(
    (d): d is { kind: 'raw'; bytes: Uint8Array } => d.kind === 'raw' && d.bytes.length >= 4096,
  )!;
  const at = original.indexOf(Buffer.from(raw.bytes.subarray(0, 64)));
  assert.ok(at > 0);
  const changed = Buffer.from(original);
  changed[at + 2048] ^= 1;
  fs.writeFileSync(vae, changed);
  try {
    assert.is((await build(file)).because, 'vae/model.onnx changed');
    assert.is((await build(file)).status, 'up to date');
  } finally {
    fs.writeFileSync(vae, original);
  }
  assert.is((await build(file)).because, 'vae/model.onnx changed');
  assert.is((await build(file)).status, 'up to date');
});

test('a changed device profile rebuilds (and its old bytes back rebuild again)', async () => {
  const profile = profileFile('galaxy-s23');
  const text = fs.readFileSync(profile, 'utf8');
  fs.writeFileSync(profile, text + '\n');
  try {
    const a = await build(file);
    assert.is(a.because, 'the device profile changed');
  } finally {
    fs.writeFileSync(profile, text);
  }
  assert.is((await build(file)).because, 'the device profile changed');
  assert.is((await build(file)).status, 'up to date');
});

test('another pocketdiff version, --force, a missing or cut file, --graph-only: rebuilt', async () => {
  const manifest = path.join(dir, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  fs.writeFileSync(manifest, JSON.stringify({ ...m, tool: { ...m.tool, version: '0.0.9' } }, null, 2) + '\n');
  assert.match((await build(file)).because!, /^it was built by pocketdiff 0\.0\.9, this is /);
  assert.is((await build(file, true)).because, '--force');
  fs.rmSync(path.join(dir, 'report.md'));
  assert.is((await build(file)).because, 'its report.md is missing');
  fs.truncateSync(path.join(dir, 'unet.onnx.data'), 100);
  assert.match((await build(file)).because!, /^its unet\.onnx\.data is 100 bytes, the manifest says \d+$/);
  fs.rmSync(manifest);
  assert.is((await build(file)).because, 'its manifest.json is missing or unreadable');
  assert.is((await build(file)).status, 'up to date');
  const g = await api.compile(file, { out, graphOnly: true });
  assert.is(g.result?.artifacts[0].because, '--graph-only was not given then');
  assert.is((await build(file)).because, 'it was built with --graph-only');
  assert.is((await build(file)).status, 'up to date');
});

test.run();

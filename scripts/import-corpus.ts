// node --import tsx scripts/import-corpus.ts SHARED_DIR
//
// A maintainer's tool, never run by the product or the tests: copies the
// published latency corpus (SHARED_DIR/data/phone-latency.json, and Apple's
// Stable Diffusion rows of SHARED_DIR/data/device-latency.json) into
// models/devices/measurements.json, and the graph-only exports its rows name
// (SHARED_DIR/calibration-models/<folder>/) into models/calibration/, so that
// `pocketdiff calibrate` works from a fresh clone. Every row keeps its source;
// each gets an id, a scheme in pocketdiff's precision vocabulary (src/precision.ts)
// and the toolchain snapshot it belongs to. Rerun it when the corpus changes;
// the output is sorted and byte-stable.
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/root.ts';

const shared = process.argv[2];
if (!shared) {
  process.stderr.write('usage: node --import tsx scripts/import-corpus.ts SHARED_DIR\n');
  process.exit(2);
}

interface Published {
  device_id: string;
  device: string;
  chip: string | null;
  runtime: string;
  precision: string;
  model: string;
  architecture: string;
  graph: string;
  input: string;
  batch: number | null;
  latency_ms: number;
  layers_npu: number | null;
  layers_total: number | null;
  primary_compute_unit: string | null;
  snapshot: string | null;
  commit_date: string | null;
  source: string;
  trust: string;
  notes: string | null;
  includes_pre_post: string;
}

/** Runtimes as the corpus names them, shortened where the name is a sentence. */
function runtimeId(r: Published): string {
  const unit = /compute unit (ANE|GPU|CPU)/.exec(r.runtime)?.[1];
  if (unit) return `coreml-${unit.toLowerCase()}`;
  if (r.runtime.startsWith('SnapFusion')) return 'snapfusion';
  return r.runtime;
}

/** The corpus's precision in pocketdiff's vocabulary; null where the source does not state it. */
function schemeOf(r: Published, runtime: string): string | null {
  if (r.precision.startsWith('float')) return 'fp16';
  if (r.precision === 'w8a16' || r.precision === 'w8a8') return r.precision;
  // Core ML runs fp32 .mlmodels in float16 on the Neural Engine and the GPU, in float32 on the CPU.
  if (runtime === 'coreml-ane' || runtime === 'coreml-gpu') return 'fp16';
  if (runtime === 'coreml-cpu') return 'fp32';
  // 'w8a16_mixed_int16' (some layers at 16-bit weights) has no scheme; 'not stated' has none either.
  return null;
}

/** The latent size of a diffusion component's row ('latent 1x4x64x64 …'). */
function latentOf(input: string): { latent?: [number, number] } {
  const m = /latent \d+x\d+x(\d+)x(\d+)/.exec(input);
  return m ? { latent: [Number(m[1]), Number(m[2])] } : {};
}

function graphOf(g: string): string {
  return g.startsWith('builder:') ? g : `calibration/${g}`;
}

/**
 * Readings of a row its source leaves open, each with the evidence for it.
 * SnapFusion's UNet row: Table 1 multiplies its ~1,700 ms by 50 steps into the
 * 85,000 ms total (and 230 ms by 8 into 1,840) while it counts the text
 * encoder twice, once for classifier-free guidance: the row is one guided
 * step, cond and uncond, which is one batch-2 call.
 */
function reading(r: Published): { batch?: number; note?: string } {
  if (r.device_id === 'iphone-14-pro' && r.graph === 'builder:sd15/unet') {
    return {
      batch: 2,
      note: "read as one batch-2 call (one guided step): the paper's Table 1 multiplies this latency by the 50 steps into its 85,000 ms total, and 230 ms by 8 into 1,840 ms, while it runs the text encoder twice for classifier-free guidance",
    };
  }
  return {};
}

const corpus = JSON.parse(fs.readFileSync(path.join(shared, 'data', 'phone-latency.json'), 'utf8')) as {
  about: string;
  rows: Published[];
};
const rows: Record<string, unknown>[] = [];
for (const r of corpus.rows) {
  const runtime = runtimeId(r);
  const scheme = schemeOf(r, runtime);
  const snapshot = r.commit_date;
  const id = [
    r.device_id,
    runtime,
    scheme ?? r.precision.replace(/[^a-z0-9]+/gi, '-').toLowerCase(),
    r.graph.replace(/^builder:/, ''),
    snapshot ?? 'unversioned',
  ].join('/');
  rows.push({
    id,
    device: r.device_id,
    display: r.device,
    ...(r.chip ? { chip: r.chip } : {}),
    runtime,
    snapshot,
    scheme,
    precision: r.precision,
    graph: graphOf(r.graph),
    input: r.input,
    ...latentOf(r.input),
    batch: reading(r).batch ?? r.batch ?? 1,
    latency_ms: r.latency_ms,
    ...(r.layers_total !== null ? { layers: { npu: r.layers_npu, total: r.layers_total } } : {}),
    ...(r.primary_compute_unit ? { compute_unit: r.primary_compute_unit } : {}),
    source: r.source,
    trust: r.trust,
    measured: r.includes_pre_post,
    ...(r.notes || reading(r).note ? { note: [r.notes, reading(r).note].filter(Boolean).join('; ') } : {}),
  });
}

// Apple's own Stable Diffusion rows on A16 phones: the Neural Engine with attention
// written for it (split_einsum_v2), the one published look at SD on that hardware.
const apple = JSON.parse(fs.readFileSync(path.join(shared, 'data', 'device-latency.json'), 'utf8')) as {
  rows: Record<string, unknown>[];
  hardware: Record<string, unknown>[];
};
for (const r of apple.rows) {
  if (
    typeof r.runtime !== 'string' ||
    !r.runtime.startsWith('coreml-ane split_einsum_v2') ||
    r.component !== 'unet' ||
    r.model !== 'sd-2.1-base'
  )
    continue;
  rows.push({
    id: `${r.device}/coreml-ane-split-einsum/fp16/sd21-base/unet/2023-08`,
    device: r.device,
    display: r.device,
    runtime: 'coreml-ane-split-einsum',
    snapshot: '2023-08',
    scheme: 'fp16',
    weights: 'int6-palettized',
    precision: r.precision,
    graph: 'builder:sd21-base/unet',
    input: 'latent 2x4x64x64 + timestep + text emb 2x77x1024 (batch 2: one classifier-free-guidance step)',
    latent: [64, 64],
    batch: r.batch,
    latency_ms: r.latency_ms,
    source: r.source,
    trust: 'A',
    measured: 'one UNet step (1000 / iterations per second)',
    note: `${r.runtime}; 6-bit palettized weights, float16 activations`,
  });
}
rows.sort((a, b) => String(a.id).localeCompare(String(b.id)));
const ids = new Set<string>();
for (const r of rows) {
  if (ids.has(String(r.id))) throw new Error(`duplicate row id ${r.id}`);
  ids.add(String(r.id));
}

const about = [
  "Published on-device latencies the device profiles are calibrated on, copied with their sources from the project's shared corpus (phone-latency.json; Apple's SD rows from device-latency.json) by scripts/import-corpus.ts, so that pocketdiff never reads outside itself.",
  "Each row: one model's inference on one device with one runtime, precision and toolchain snapshot, as its source published it. `graph` names what ran: `calibration/<folder>` (a graph-only ONNX export in models/calibration/) or `builder:<family>/<part>` (built from models/<family>/ configs). `scheme` is the precision in pocketdiff's vocabulary (src/precision.ts), null where the source does not state one pocketdiff has.",
  "A profile is (device, runtime, snapshot): rows of different snapshots are never fitted together (the same phone's numbers moved 2-11x between Qualcomm AI Hub releases).",
  `Corpus note: ${corpus.about}`,
].join(' ');

const out = { about, rows, hardware: apple.hardware };
const file = path.join(PROJECT_ROOT, 'models', 'devices', 'measurements.json');
fs.writeFileSync(file, JSON.stringify(out, null, 1) + '\n');

// The graphs: model.onnx (weights absent) and model.json of every folder a row names.
const folders = [...new Set(corpus.rows.map((r) => r.graph).filter((g) => !g.startsWith('builder:')))].sort();
const dest = path.join(PROJECT_ROOT, 'models', 'calibration');
fs.mkdirSync(dest, { recursive: true });
for (const f of folders) {
  fs.mkdirSync(path.join(dest, f), { recursive: true });
  for (const name of ['model.onnx', 'model.json'])
    fs.copyFileSync(path.join(shared, 'calibration-models', f, name), path.join(dest, f, name));
}
fs.copyFileSync(path.join(shared, 'calibration-models', 'README.md'), path.join(dest, 'README.md'));
fs.copyFileSync(
  path.join(shared, 'calibration-models', 'export_torchvision.py'),
  path.join(dest, 'export_torchvision.py'),
);
process.stdout.write(
  `wrote ${rows.length} rows to ${path.relative(process.cwd(), file)} and ${folders.length} graphs to ${path.relative(process.cwd(), dest)}/\n`,
);

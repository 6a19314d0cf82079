// node --import tsx bench/quantize.ts [fp16|int8|int4|w8a16 …]  (default: fp16)
//
// Quantizes the full-size SD-v1.5 UNet (the embedded default, 859.5M float32
// parameters, 3.4 GB of weights in models/.built, built on first use) the way
// compile does — load, infer shapes, run the pass, save — one scheme per child
// process, and reports each child's peak RSS and wall time.
//
//   target: fp16 peak RSS ≤ 1.5 GB (issue 5). Weights stream: the pass reads
//   each tensor at most twice (scales) and the save converts chunk by chunk.
//
// w8a16 also calibrates in onnxruntime, which holds the float32 model (≥ 3.4 GB):
// its peak is reported, not held to the target.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDefaultModel } from '../src/builder/default-model.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { exportGraph } from '../src/ir/export.ts';
import { importGraph } from '../src/ir/import.ts';
import { loadModel } from '../src/onnx/model.ts';
import { saveModel } from '../src/onnx/save.ts';
import { runPasses } from '../src/passes/pass.ts';
import { prepareQuantize, quantize, type QuantScheme } from '../src/passes/quantize/quantize.ts';
import { bindAndInfer, restoreIo, snapshotIo, targetDims } from '../src/ir/bind.ts';

const SELF = fileURLToPath(import.meta.url);
const RSS_TARGET = 1.5e9;

async function child(scheme: QuantScheme): Promise<void> {
  const log = new DiagnosticLog();
  const t0 = performance.now();
  const built = ensureDefaultModel('unet', log);
  if (!built) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  const t1 = performance.now();
  const m = loadModel(built.file, log);
  const g = m && importGraph(m, log);
  if (!g) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  const io = snapshotIo(g);
  bindAndInfer(g, targetDims(512), log, built.file);
  restoreIo(g, io);
  const specs = [{ scheme, calibration: { samples: 1 } }];
  const prepared = await prepareQuantize(g, specs, log);
  const records = prepared && runPasses(g, [quantize(specs, prepared)], log);
  if (!records) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketdiff-bench-quantize-'));
  try {
    if (!saveModel(exportGraph(g), path.join(out, 'model.onnx'), { externalData: 'weights.pb' }, log))
      throw new Error(log.items.map(formatDiagnostic).join('\n'));
    const bytes = fs.readdirSync(out).reduce((s, f) => s + fs.statSync(path.join(out, f)).size, 0);
    const t2 = performance.now();
    process.stdout.write(
      JSON.stringify({
        scheme,
        built: built.built,
        build_s: (t1 - t0) / 1e3,
        quantize_and_save_s: (t2 - t1) / 1e3,
        bytes,
        stats: records[0].stats,
        max_rss: process.resourceUsage().maxRSS * 1024,
      }) + '\n',
    );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function main(): void {
  const schemes = (process.argv.slice(2).length ? process.argv.slice(2) : ['fp16']) as QuantScheme[];
  // Build once, outside the measured children.
  const log = new DiagnosticLog();
  if (!ensureDefaultModel('unet', log)) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  let ok = true;
  for (const scheme of schemes) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', scheme], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    if (r.status !== 0) {
      process.stdout.write(`${scheme}: failed\n${r.stderr}\n`);
      ok = false;
      continue;
    }
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const gb = (n: number) => (n / 1e9).toFixed(2);
    const held = scheme !== 'w8a16';
    const pass = !held || res.max_rss <= RSS_TARGET;
    ok &&= pass;
    process.stdout.write(
      `${scheme}: peak RSS ${gb(res.max_rss)} GB${held ? ` (target ≤ ${gb(RSS_TARGET)} GB: ${pass ? 'ok' : 'OVER'})` : ''}, ${res.quantize_and_save_s.toFixed(1)} s load+quantize+save, files ${gb(res.bytes)} GB\n`,
    );
  }
  process.exitCode = ok ? 0 : 1;
}

if (process.argv[2] === '--child') await child(process.argv[3] as QuantScheme);
else main();

// ONNX's own test corpus (Debian's libonnx-testdata, onnx 1.12: 1,072 model.onnx files)
// through `pocketdiff convert`, both inline and with one external data file, then
// checked with onnx itself: onnx.load(original) == onnx.load(converted), all pairs of a
// mode in one python process (test/tools/onnx_equal.py).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { loadModel } from '../src/onnx/model.ts';
import { saveModel } from '../src/onnx/save.ts';
import { tempDir } from './support/temp.ts';

const PACKAGE = '/usr/share/libonnx-testdata';
const CORPUS = path.join(PACKAGE, 'data');
/** libonnx-testdata 1.12.0-2 ships exactly this many; a different count means a different corpus. */
const EXPECTED_MODELS = 1072;
const PYTHON = '/usr/bin/python3';
const CHECKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tools', 'onnx_equal.py');

interface Mode {
  name: string;
  /** How the test title names it. */
  label: string;
  /** `pocketdiff convert IN OUT ...flags`, run through the CLI's main. */
  flags?: string[];
  dataFile?: string;
  /** Instead of the CLI: loadModel + saveModel (what convert runs) with this size threshold. */
  sizeThreshold?: number;
}
const MODES: Mode[] = [
  { name: 'inline', label: 'convert --inline', flags: ['--inline'] },
  {
    name: 'external',
    label: 'convert --external-data weights.bin',
    flags: ['--external-data', 'weights.bin'],
    dataFile: 'weights.bin',
  },
  // With the CLI's 1 KiB threshold only a few corpus tensors go external; this mode sends
  // every tensor that has bytes to the data file, so the external path sees all of them.
  {
    name: 'external-all',
    label: 'saveModel with every tensor external (sizeThreshold 0)',
    dataFile: 'weights.bin',
    sizeThreshold: 0,
  },
];

interface CheckReport {
  onnx: string;
  pairs: number;
  equal: number;
  normalized: number;
  mismatches: { original: string; converted: string; diff: string }[];
  fatal?: string;
}

function findModels(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findModels(p));
    else if (e.name === 'model.onnx') out.push(p);
  }
  return out.sort();
}

/** Runs `pocketdiff convert` in-process, exactly as bin/pocketdiff.js does, and keeps its output. */
async function convert(input: string, output: string, mode: Mode): Promise<{ status: number; text: string }> {
  if (mode.sizeThreshold !== undefined) {
    const log = new DiagnosticLog();
    const model = loadModel(input, log);
    const ok =
      !!model && saveModel(model, output, { externalData: mode.dataFile!, sizeThreshold: mode.sizeThreshold }, log);
    return { status: ok ? 0 : 1, text: log.items.map(formatDiagnostic).join('\n') };
  }
  const flags = mode.flags ?? [];
  let text = '';
  const sink = (t: string) => {
    text += t.endsWith('\n') ? t : t + '\n';
  };
  const status = await main(['convert', input, output, ...flags], {
    log: new DiagnosticLog(),
    stdout: sink,
    stderr: sink,
  });
  return { status, text };
}

function check(pairs: [string, string][], listFile: string): CheckReport {
  fs.writeFileSync(listFile, pairs.map((p) => p.join('\t')).join('\n') + '\n');
  const r = spawnSync(PYTHON, [CHECKER, listFile], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message} (CI installs python3-onnx)`);
  let report: CheckReport;
  try {
    report = JSON.parse(r.stdout) as CheckReport;
  } catch {
    throw new Error(`onnx_equal.py exited ${r.status} without a report:\n${r.stdout}\n${r.stderr}`);
  }
  if (report.fatal) throw new Error(`onnx_equal.py: ${report.fatal}`);
  return report;
}

if (!fs.existsSync(PACKAGE)) {
  console.log(
    `\n  corpus.test.ts: SKIPPED — ${PACKAGE} is missing (apt-get install libonnx-testdata python3-onnx; .ci/run does)\n`,
  );
  test.skip('onnx test corpus');
} else {
  const models = findModels(CORPUS);
  let tmp = '';

  test.before(() => {
    tmp = tempDir('pocketdiff-corpus-');
  });
  test.after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test(`libonnx-testdata holds exactly ${EXPECTED_MODELS} models`, () => {
    console.log(`\n  corpus: ${models.length} model.onnx files under ${CORPUS}`);
    assert.is(models.length, EXPECTED_MODELS);
  });

  for (const mode of MODES) {
    test(`${mode.label}: ${EXPECTED_MODELS} of ${EXPECTED_MODELS} convert and equal the original under onnx.load`, async () => {
      const t0 = Date.now();
      const failed: string[] = [];
      const pairs: [string, string][] = [];
      let withData = 0;
      for (const [i, input] of models.entries()) {
        const output = path.join(tmp, mode.name, String(i), 'model.onnx');
        const { status, text } = await convert(input, output, mode);
        if (status !== 0 || !fs.existsSync(output)) {
          failed.push(`${input}: exit ${status}\n${text}`);
          continue;
        }
        if (mode.dataFile) {
          const data = path.join(path.dirname(output), mode.dataFile);
          if (fs.existsSync(data) && fs.statSync(data).size > 0) withData++;
        }
        pairs.push([input, output]);
      }
      const converted = Date.now();
      assert.equal(failed, [], `convert failed for ${failed.length} models`);

      const report = check(pairs, path.join(tmp, `${mode.name}.tsv`));
      const passed = report.equal;
      console.log(
        `  corpus ${mode.name}: ${passed} of ${models.length} equal under onnx ${report.onnx}` +
          (mode.dataFile ? ` (${withData} with bytes in ${mode.dataFile})` : '') +
          `, ${report.normalized} tensors had only onnx-loader data_location presence normalized` +
          `; convert ${converted - t0} ms, check ${Date.now() - converted} ms`,
      );
      const shown = report.mismatches.slice(0, 20).map((m) => `${m.original}\n    ${m.diff}`);
      assert.equal(shown, [], `${report.mismatches.length} of ${report.pairs} differ after convert`);
      assert.is(report.pairs, EXPECTED_MODELS);
      assert.is(passed, EXPECTED_MODELS);
      // Free the disk before the next mode.
      fs.rmSync(path.join(tmp, mode.name), { recursive: true, force: true });
    });
  }
}

test.run();

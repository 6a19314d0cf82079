// npm run validate:cost [-- --check] [--only DEVICE]
//
// Leave-one-architecture-out cross-validation of every device profile, written
// to models/devices/validation.md (kept in the repository) and
// out/validate-cost.json. For each profile, on the same rows: the profile
// (refitted by `pocketdiff calibrate`'s own code, each architecture predicted
// by a fit without it), a FLOPs-proportional baseline (ms per MAC per scheme,
// fitted on the same other rows) and, where one shipped, the three-row profile
// the corpus fit replaced (models/devices/previous/, priced as it was, on
// every row). Per row: measured, predicted, error, the 80% interval made
// without the row, and the baselines' errors. Deterministic: phones are
// fitted to published rows, local-cpu to the measurements its profile keeps.
//
// --check exits 1 when an acceptance line fails or a shipped profile differs
// from what calibrate computes now (run `pocketdiff calibrate --device D`).
// The measured validation of local-cpu on held-out variants is
// npm run validate:local.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { calibrateProfile } from '../src/commands/calibrate.ts';
import { predictRow, type CalibrationRow } from '../src/cost/calibrate/profile-fit.ts';
import { publishedRows } from '../src/cost/calibrate/rows.ts';
import { median, scores, type Scores } from '../src/cost/calibrate/cross-validate.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { DEVICES_DIR, listDevices, loadProfileFile } from '../src/devices/index.ts';
import type { DeviceProfile } from '../src/devices/schema.ts';

const { values: opt } = parseArgs({ options: { check: { type: 'boolean' }, only: { type: 'string' } } });
const ROOT = path.resolve(import.meta.dirname, '..');
const log = new DiagnosticLog();
const say = (s = '') => process.stdout.write(s + '\n');
const pct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`;
const share = (x: number) => `${(x * 100).toFixed(0)}%`;
const num = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const t0 = performance.now();
const secs = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

interface ProfileReport {
  name: string;
  display: string;
  rows: number;
  architectures: number;
  model: Scores;
  flops: Scores;
  previous?: Scores & { file: string };
  coverage_80: number;
  interval?: { lo: number; hi: number; transfer: number; basis: string };
  fresh: boolean;
  residuals: {
    row: string;
    architecture: string;
    measured_ms: number;
    predicted_ms: number;
    error: number;
    interval_80: [number, number];
    flops_error: number;
    previous_error?: number;
  }[];
  inherited?: string;
}

const verdicts: { what: string; ok: boolean }[] = [];
const reports: ProfileReport[] = [];
const ACCEPT = new Set(['galaxy-s23', 'galaxy-s24', 'snapdragon-8-elite']);

for (const profile of listDevices(log)) {
  if (opt.only && profile.name !== opt.only) continue;
  say(`${profile.name}: refitting and cross-validating (${secs()}) …`);
  const done = await calibrateProfile(profile, log, {
    reuse: !profile.calibration?.select,
    date: profile.calibration?.fitted?.date,
  });
  if (!done) {
    verdicts.push({ what: `${profile.name}: calibrates`, ok: false });
    continue;
  }
  const cal = done.profile.calibration!;
  const cv = cal.cross_validation;
  const fresh =
    JSON.stringify(cal.fitted?.residuals) === JSON.stringify(profile.calibration?.fitted?.residuals) &&
    JSON.stringify(cv) === JSON.stringify(profile.calibration?.cross_validation);
  if (!fresh)
    say(
      `  the shipped ${profile.name}.json differs from what calibrate computes now: run pocketdiff calibrate --device ${profile.name}${profile.calibration?.select ? '' : ' --reuse'}`,
    );
  verdicts.push({ what: `${profile.name}: the shipped profile is what calibrate computes`, ok: fresh });
  if (!cv) {
    say(`  no cross-validation: ${cal.interval ? cal.interval.basis : 'too few rows'}`);
    const prev = profile.calibration?.select ? await previousErrors(profile) : undefined;
    reports.push({
      name: profile.name,
      display: profile.display_name,
      rows: done.report.rows,
      architectures: 0,
      model: scores(done.report.residuals.map((r) => r.error)),
      flops: { median_abs_error: NaN, within_10: NaN, within_25: NaN },
      previous: prev && { ...scores(done.report.residuals.map((r) => prev.errors.get(r.row)!)), file: prev.file },
      coverage_80: NaN,
      interval: cal.interval && {
        lo: cal.interval.lo,
        hi: cal.interval.hi,
        transfer: cal.interval.transfer,
        basis: cal.interval.basis,
      },
      fresh,
      residuals: done.report.residuals.map((r) => ({
        row: r.row,
        architecture: '',
        measured_ms: r.measured_ms,
        predicted_ms: r.predicted_ms,
        error: r.error,
        interval_80: [NaN, NaN],
        flops_error: NaN,
        previous_error: prev?.errors.get(r.row),
      })),
      inherited: profile.calibration?.inherit?.profile,
    });
    continue;
  }
  const prev = await previousErrors(profile);
  const model: Scores = { median_abs_error: cv.median_abs_error, within_10: cv.within_10, within_25: cv.within_25 };
  const report: ProfileReport = {
    name: profile.name,
    display: profile.display_name,
    rows: cv.rows,
    architectures: cv.architectures,
    model,
    flops: cv.flops,
    previous: prev && { ...scores(cv.residuals.map((r) => prev.errors.get(r.row)!)), file: prev.file },
    coverage_80: cv.coverage_80,
    interval: cal.interval && {
      lo: cal.interval.lo,
      hi: cal.interval.hi,
      transfer: cal.interval.transfer,
      basis: cal.interval.basis,
    },
    fresh,
    residuals: cv.residuals.map((r) => ({
      ...r,
      flops_error: done.report.cross_validation!.rows.find((h) => h.row === r.row)!.flops_error,
      previous_error: prev?.errors.get(r.row),
    })),
  };
  reports.push(report);
  say(
    `  ${cv.rows} rows, ${cv.architectures} architectures: median |error| ${share(model.median_abs_error)}, within ±25% ${share(model.within_25)}; FLOPs ${share(cv.flops.median_abs_error)}, ${share(cv.flops.within_25)}${report.previous ? `; three-row ${share(report.previous.median_abs_error)}, ${share(report.previous.within_25)}` : ''}; interval coverage ${share(cv.coverage_80)}`,
  );
  if (ACCEPT.has(profile.name)) {
    verdicts.push({
      what: `${profile.name}: median |error| ≤ 20% (${share(model.median_abs_error)}) and ≥ 70% within ±25% (${share(model.within_25)})`,
      ok: model.median_abs_error <= 0.2 && model.within_25 >= 0.7,
    });
    const better = (b: Scores) => model.median_abs_error < b.median_abs_error && model.within_25 > b.within_25;
    verdicts.push({
      what: `${profile.name}: better than the FLOPs baseline${report.previous ? ' and the three-row profile' : ''} on both`,
      ok: better(cv.flops) && (!report.previous || better(report.previous)),
    });
  }
  verdicts.push({
    what: `${profile.name}: 80% intervals cover 70–90% of the held-out rows (${share(cv.coverage_80)})`,
    ok: cv.coverage_80 >= 0.7 && cv.coverage_80 <= 0.9,
  });
}

/**
 * The three-row profile this one replaced (models/devices/previous/), priced as
 * it shipped on every row of this profile: its errors by row id.
 */
async function previousErrors(
  profile: DeviceProfile,
): Promise<{ file: string; errors: Map<string, number> } | undefined> {
  const file = path.join(DEVICES_DIR, 'previous', `${profile.name}.json`);
  if (!fs.existsSync(file)) return undefined;
  const old = loadProfileFile(file, log);
  if (!old) return undefined;
  // Its own fusions and precision plan the rows; the rows are this profile's selection.
  const rows = await publishedRows({ ...old, calibration: { ...profile.calibration!, inherit: undefined } }, log);
  if (!rows) return undefined;
  return {
    file: path.relative(ROOT, file),
    errors: new Map(rows.map((r: CalibrationRow) => [r.id, predictRow(r, old) / r.measured_ms - 1])),
  };
}

// ------------------------------------------------------------------ report

const md: string[] = [
  '# Cost model validation',
  '',
  'Written by `npm run validate:cost` (scripts/validate-cost.ts); do not edit. Every profile is refitted by',
  "`pocketdiff calibrate`'s own code, then cross-validated leaving one architecture out at a time: each",
  'architecture (with all the precisions it was measured at) is predicted by a fit on the others. Rows whose',
  'graphs compute the same (VGG-11 and VGG-11-BN: torch.onnx folds the BatchNorm) are one architecture.',
  '',
  'Beside the profile, on the same rows: a **FLOPs-proportional baseline** (ms per MAC, one constant per',
  'precision, fitted on the same other rows) and, where one shipped, the **three-row profile** it replaced',
  '(models/devices/previous/: fitted to three SD-v1.5 rows; priced as it shipped, not cross-validated). The',
  "**80% interval** of each row is made without the row's architecture (see src/cost/roofline/interval.ts); its",
  'coverage is the share of rows inside their interval.',
  '',
  '| profile | rows | architectures | median \\|error\\| | within ±10% | within ±25% | FLOPs baseline (median, ±25%) | three-row profile (median, ±25%) | interval coverage |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const r of reports) {
  const cv = r.architectures > 0;
  md.push(
    `| ${r.name} | ${r.rows} | ${cv ? r.architectures : '–'} | ${cv ? share(r.model.median_abs_error) : `(fit: ${share(r.model.median_abs_error)})`} | ${cv ? share(r.model.within_10) : '–'} | ${cv ? share(r.model.within_25) : '–'} | ${cv ? `${share(r.flops.median_abs_error)}, ${share(r.flops.within_25)}` : '–'} | ${r.previous ? `${share(r.previous.median_abs_error)}, ${share(r.previous.within_25)}` : '–'} | ${cv ? share(r.coverage_80) : '–'} |`,
  );
}
md.push('', 'Acceptance (issue: phone cost model fitted on a published corpus):', '');
for (const v of verdicts) md.push(`- ${v.ok ? 'PASS' : 'FAIL'} ${v.what}`);
for (const r of reports) {
  md.push('', `## ${r.name}`, '', r.display, '');
  if (r.interval)
    md.push(
      `80% interval: measured/predicted from ×${Math.exp(Math.min(0, r.interval.lo)).toFixed(2)} to ×${Math.exp(Math.max(0, r.interval.hi)).toFixed(2)} for a graph as typical as the rows${r.interval.transfer ? `, widened ×${Math.exp(r.interval.transfer).toFixed(2)} each way` : ''} (${r.interval.basis}).`,
      '',
    );
  if (r.architectures === 0) {
    md.push(
      `Not cross-validated: ${r.rows} row${r.rows === 1 ? '' : 's'} for its free parameters${r.inherited ? `; the rest of its shape is inherited from ${r.inherited}` : ''}. The fit on its own rows:`,
      '',
    );
    md.push('| row | measured ms | fitted ms | error | three-row profile |', '| --- | --- | --- | --- | --- |');
    for (const x of r.residuals)
      md.push(
        `| ${short(x.row)} | ${num(x.measured_ms)} | ${num(x.predicted_ms)} | ${pct(x.error)} | ${x.previous_error === undefined ? '–' : pct(x.previous_error)} |`,
      );
    continue;
  }
  md.push(
    '| row | architecture | measured ms | predicted ms | error | 80% interval ms | inside | FLOPs baseline | three-row profile |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const x of r.residuals) {
    const inside = x.measured_ms >= x.interval_80[0] && x.measured_ms <= x.interval_80[1];
    md.push(
      `| ${short(x.row)} | ${x.architecture.replace(/^calibration\//, '')} | ${num(x.measured_ms)} | ${num(x.predicted_ms)} | ${pct(x.error)} | ${num(x.interval_80[0])}–${num(x.interval_80[1])} | ${inside ? 'yes' : '**no**'} | ${pct(x.flops_error)} | ${x.previous_error === undefined ? '–' : pct(x.previous_error)} |`,
    );
  }
  md.push(
    '',
    `Median |error| ${share(r.model.median_abs_error)} (FLOPs ${share(r.flops.median_abs_error)}${r.previous ? `, three-row ${share(r.previous.median_abs_error)}` : ''}); the largest misses: ${[
      ...r.residuals,
    ]
      .sort((a, b) => Math.abs(b.error) - Math.abs(a.error))
      .slice(0, 3)
      .map((x) => `${short(x.row)} ${pct(x.error)}`)
      .join(', ')}.`,
  );
}

/** A row id without the device and snapshot its section already says. */
function short(id: string): string {
  const parts = id.split('/');
  return parts.length > 2 ? parts.slice(1, -1).join('/') : id;
}

say('');
for (const v of verdicts) say(`${v.ok ? 'PASS' : 'FAIL'}  ${v.what}`);
say(`(${secs()})`);
if (!opt.only) fs.writeFileSync(path.join(DEVICES_DIR, 'validation.md'), md.join('\n') + '\n');
fs.mkdirSync(path.join(ROOT, 'out'), { recursive: true });
fs.writeFileSync(
  path.join(ROOT, 'out', 'validate-cost.json'),
  JSON.stringify(
    {
      profiles: reports,
      verdicts,
      median_coverage: median(reports.filter((r) => r.architectures).map((r) => r.coverage_80)),
    },
    null,
    2,
  ) + '\n',
);
for (const d of log.items) process.stderr.write(formatDiagnostic(d) + '\n');
if (opt.check && verdicts.some((v) => !v.ok)) process.exitCode = 1;

// npm run validate:local [-- --write] [--check] [--rounds N] [--only TEXT] [--reuse FILE[,FILE…]]
//
// The local-cpu profile measured here, against held-out variants, always
// beside a FLOPs-proportional baseline: calibrate on the microbenchmarks and
// calibration models, then predict ≥ 20 held-out variants of the narrow UNet
// and two VAE decoders (removals, duplicates, widths, float16, sizes): share
// within ±10% and median error, from each variant's own graph (predict) and
// from the base table plus the edit (whatif). Both sets are measured in the
// same interleaved session (about ten minutes).
// --write saves the fitted local-cpu profile (then run `pocketdiff calibrate
// --device local-cpu --reuse` to refresh its cross-validation and interval);
// --check exits 1 when an acceptance line fails; --reuse takes the
// measurements from earlier reports instead of measuring (to study the model
// on fixed data), or from several, each job's fastest (20-round runs on this
// VM disagree by up to 18% on small rows, when another tenant's load lasts a
// whole run). A JSON copy of the report goes to out/validate-local.json.
// The cross-validation of every profile, phones included, is npm run validate:cost.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fitProfile, rowMacs, type CalibrationRow } from '../src/cost/calibrate/profile-fit.ts';
import { discard, prepareLocalRows, rowsFrom } from '../src/cost/calibrate/local.ts';
import { measureRounds, type Measurement } from '../src/cost/calibrate/measure.ts';
import { prepareVariants, VALIDATION_SET, variantResults, type VariantResult } from '../src/cost/calibrate/variants.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { loadDevice, writeProfile } from '../src/devices/index.ts';

const { values: opt } = parseArgs({
  options: {
    write: { type: 'boolean' },
    check: { type: 'boolean' },
    rounds: { type: 'string' },
    only: { type: 'string' },
    reuse: { type: 'string' },
  },
});
const reuse = opt.reuse?.split(',');
const ROOT = path.resolve(import.meta.dirname, '..');
const log = new DiagnosticLog();
const say = (s = '') => process.stdout.write(s + '\n');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const share = (errors: number[]) => errors.filter((e) => Math.abs(e) <= 0.1).length / errors.length;
const fail = (why: string): never => {
  for (const d of log.items) process.stderr.write(formatDiagnostic(d) + '\n');
  throw new Error(why);
};
const verdicts: { what: string; ok: boolean }[] = [];
const t0 = performance.now();
const secs = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

// ------------------------------------------------------------------ local-cpu

say('local-cpu: building the calibration rows (microbenchmarks, calibration models) and the held-out variants …');
const local = loadDevice('local-cpu', log) ?? fail('no local-cpu profile');
const specs = VALIDATION_SET.filter((s) => !opt.only || s.name.includes(opt.only));
const calPrepared = prepareLocalRows(local, log) ?? fail('calibration models failed to build');
const varPrepared = prepareVariants(specs, log) ?? fail('variants failed to build');
// Calibration rows and variants are measured together, in interleaved rounds
// spread over minutes: every job gets its quiet moments on a shared machine,
// and both sets see the same machine (its load moves CPU times by several
// percent over minutes). Twenty rounds, because other tenants slow this VM for
// seconds at a time: with eight, the narrow UNet's minimum stayed 10% above
// what it reaches on a quiet machine (48.8 against 43.1 ms at 24x24).
say(
  opt.reuse
    ? `  taking the measurements of ${calPrepared.length} calibration rows and ${varPrepared.length} variants from ${opt.reuse} (${secs()})`
    : `  measuring ${calPrepared.length} calibration rows and ${varPrepared.length} variants together (onnxruntime-node, 1 thread, CPU time per run in the fastest 100 ms window of ${opt.rounds ?? 20} interleaved rounds) … (${secs()})`,
);
let measured: Map<string, Measurement>;
try {
  measured = reuse
    ? reuseMeasurements(reuse)
    : await measureRounds(
        [...varPrepared, ...calPrepared].map((p) => p.job),
        {
          rounds: Number(opt.rounds ?? 20),
          windows: 2,
          budget_ms: 3000,
          onRound: (r) => say(`  round ${r + 1} (${secs()})`),
        },
      );
} finally {
  discard(calPrepared);
  discard(varPrepared);
}
const calRows = rowsFrom(calPrepared, measured);

/**
 * Measurements of earlier reports (their calibration residuals and variants
 * carry them); of several, each job's fastest, as if their rounds had been
 * one run's.
 */
function reuseMeasurements(files: string[]): Map<string, Measurement> {
  const m = new Map<string, Measurement>();
  for (const file of files) {
    const prior = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      calibration: { residuals: { row: string; measured_ms: number }[] };
      variants: { name: string; measured_ms: number }[];
    };
    const mine = new Map([
      ...prior.calibration.residuals.map((r) => [r.row, r.measured_ms] as const),
      ...prior.variants.map((v) => [v.name, v.measured_ms] as const),
    ]);
    for (const [name, ms] of mine) {
      const had = m.get(name);
      if (!had || ms < had.ms) m.set(name, { ms, median_ms: ms, wall_ms: ms, runs: 0 });
    }
    const missing = [...calPrepared, ...varPrepared].map((p) => p.job.name).filter((n) => !mine.has(n));
    if (missing.length) fail(`${file} has no measurement of ${missing.join(', ')}`);
  }
  return m;
}
const fit = fitProfile(local, calRows, {
  tool:
    reuse && reuse.length > 1
      ? `npm run validate:cost (the fastest of ${reuse.length} runs' measurements)`
      : 'npm run validate:cost',
});
say(
  `  fitted ${fit.groups.length} groups on ${calRows.length} rows: ${fit.groups.map((g) => `${g.id} ×${g.factor}`).join(', ')}`,
);
const calErr = fit.residuals.map((r) => r.error);
verdicts.push({
  what: `local-cpu: reproduces its ${calErr.length} calibration rows within ±10%`,
  ok: calErr.every((e) => Math.abs(e) <= 0.1),
});
say(
  `  calibration residuals: median |e| ${(median(calErr.map(Math.abs)) * 100).toFixed(1)}%, within ±10% ${(share(calErr) * 100).toFixed(0)}%, worst ${pct(calErr.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)))}`,
);
if (opt.write) {
  writeProfile(fit.profile);
  say('  wrote models/devices/local-cpu.json');
}
const results = variantResults(varPrepared, measured, fit.profile, log);
say(`\nlocal-cpu: ${results.length} held-out variants`);
// FLOPs-proportional baselines: ms per MAC fitted on the calibration rows, and the best any such model
// could do (fitted on the validation measurements themselves).
// ms per MAC of the calibration rows (least squares in log space).
const flopsConstant = (rows: CalibrationRow[]) => {
  const logs = rows.filter((r) => rowMacs(r) > 0).map((r) => Math.log(r.measured_ms / rowMacs(r)));
  return Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length);
};
const kCal = flopsConstant(calRows);
const kOracle = Math.exp(results.reduce((s, r) => s + Math.log(r.measured_ms / r.macs), 0) / results.length);
const flops = (r: VariantResult, k: number) => (k * r.macs) / r.measured_ms - 1;
const width = Math.max(...results.map((r) => r.name.length));
say(`${'variant'.padEnd(width)}  measured ms  predicted ms   error  whatif err  FLOPs(cal)  FLOPs(best)`);
for (const r of results) {
  say(
    `${r.name.padEnd(width)}  ${r.measured_ms.toFixed(1).padStart(11)}  ${r.predicted_ms.toFixed(1).padStart(12)}  ${pct(r.error).padStart(6)}  ${(r.whatif_error === undefined ? '-' : pct(r.whatif_error)).padStart(10)}  ${pct(flops(r, kCal)).padStart(10)}  ${pct(flops(r, kOracle)).padStart(11)}`,
  );
}
const errs = results.map((r) => r.error);
const whatifErrs = results.flatMap((r) => (r.whatif_error === undefined ? [] : [r.whatif_error]));
const summary = {
  variants: results.length,
  within_10pct: share(errs),
  median_abs_error: median(errs.map(Math.abs)),
  whatif_within_10pct: share(whatifErrs),
  whatif_median_abs_error: median(whatifErrs.map(Math.abs)),
  flops_cal_within_10pct: share(results.map((r) => flops(r, kCal))),
  flops_cal_median_abs_error: median(results.map((r) => Math.abs(flops(r, kCal)))),
  flops_best_within_10pct: share(results.map((r) => flops(r, kOracle))),
  flops_best_median_abs_error: median(results.map((r) => Math.abs(flops(r, kOracle)))),
};
say('');
say(
  `  cost model:          ${(summary.within_10pct * 100).toFixed(0)}% within ±10%, median |error| ${(summary.median_abs_error * 100).toFixed(1)}%`,
);
say(
  `  what-if (base+edit): ${(summary.whatif_within_10pct * 100).toFixed(0)}% within ±10%, median |error| ${(summary.whatif_median_abs_error * 100).toFixed(1)}%`,
);
say(
  `  FLOPs baseline:      ${(summary.flops_cal_within_10pct * 100).toFixed(0)}% within ±10%, median |error| ${(summary.flops_cal_median_abs_error * 100).toFixed(1)}% (constant from calibration)`,
);
say(
  `                       ${(summary.flops_best_within_10pct * 100).toFixed(0)}% within ±10%, median |error| ${(summary.flops_best_median_abs_error * 100).toFixed(1)}% (best constant for these variants)`,
);
verdicts.push({
  what: `local-cpu: ≥ 90% of ${results.length} held-out variants within ±10%`,
  ok: summary.within_10pct >= 0.9,
});
verdicts.push({
  what: 'local-cpu: better than the FLOPs-proportional baseline',
  ok: summary.median_abs_error < summary.flops_best_median_abs_error,
});

say('');
for (const v of verdicts) say(`${v.ok ? 'PASS' : 'FAIL'}  ${v.what}`);
say(`(${secs()})`);
fs.mkdirSync(path.join(ROOT, 'out'), { recursive: true });
fs.writeFileSync(
  path.join(ROOT, 'out', 'validate-local.json'),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      reused_from: opt.reuse,
      calibration: { groups: fit.groups, residuals: fit.residuals },
      variants: results,
      summary,
      verdicts,
    },
    null,
    2,
  ) + '\n',
);
for (const d of log.items) process.stderr.write(formatDiagnostic(d) + '\n');
if (opt.check && verdicts.some((v) => !v.ok)) process.exitCode = 1;

// pocketdiff calibrate --device D [--dry-run] [--json]
// Fits a profile's free parameters (its fit groups) to measured latencies by
// bounded nonlinear least squares, cross-validates the fit leaving one
// architecture out at a time (beside a FLOPs-proportional baseline), makes the
// profile's 80% prediction interval from those held-out errors, and writes
// the profile. Phones: the published rows of models/devices/measurements.json
// their calibration.select takes. local-cpu: microbenchmarks and calibration
// models measured now with onnxruntime-node.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice, profileFile, writeProfile } from '../devices/index.ts';
import { describeMachine, thisMachine } from '../devices/machine.ts';
import type { DeviceProfile } from '../devices/schema.ts';
import {
  crossValidate,
  rowMix,
  type CrossValidation,
  type HeldOutRow,
  type Scores,
} from '../cost/calibrate/cross-validate.ts';
import { inherit, transferWidth } from '../cost/calibrate/inherit.ts';
import { localRowCount, localRows, storedRows } from '../cost/calibrate/local.ts';
import { fitProfile, type CalibrationRow, type FitReport } from '../cost/calibrate/profile-fit.ts';
import { publishedRows } from '../cost/calibrate/rows.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff calibrate --device D [--dry-run] [--reuse] [--json]';

export interface CalibrationReport {
  device: string;
  file: string;
  written: boolean;
  rows: number;
  fitted: FitReport['groups'];
  priors: FitReport['priors'];
  residuals: FitReport['residuals'];
  /** Leave-one-architecture-out, where the rows have more than two architectures. */
  cross_validation?: { architectures: number; scores: Scores; flops: Scores; coverage_80: number; rows: HeldOutRow[] };
  interval?: { lo: number; hi: number; basis: string };
}

export async function calibrationRows(
  profile: DeviceProfile,
  log: DiagnosticLog,
  opts: { reuse?: boolean; onRow?: (id: string, ms: number) => void } = {},
): Promise<CalibrationRow[] | undefined> {
  if (profile.calibration?.select) return await publishedRows(profile, log);
  if (opts.reuse) return storedRows(profile, log);
  return localRows(profile, log, { onRow: (r) => opts.onRow?.(r.id, r.measured_ms) });
}

/** The fitted profile (calibration.fitted, cross_validation and interval filled in) and what to report. */
export async function calibrateProfile(
  profile: DeviceProfile,
  log: DiagnosticLog,
  opts: { progress?: (line: string) => void; date?: string; reuse?: boolean } = {},
): Promise<{ profile: DeviceProfile; report: Omit<CalibrationReport, 'file' | 'written'> } | undefined> {
  const inherited = profile.calibration?.inherit ? inherit(profile, log) : undefined;
  if (profile.calibration?.inherit && !inherited) return undefined;
  const base = inherited?.profile ?? profile;
  const rows = await calibrationRows(base, log, {
    reuse: opts.reuse,
    onRow: (id, ms) => opts.progress?.(`  measured ${id}: ${ms.toFixed(2)} ms`),
  });
  if (!rows) return undefined;
  if (!rows.length) {
    log.error(Code.CalibrationRows, `no rows to calibrate '${profile.name}' on`);
    return undefined;
  }
  // A refit on stored measurements says where they came from.
  const measuredBy = base.calibration?.fitted?.tool.replace(
    /^pocketdiff calibrate --reuse \(measured by (.*)\)$/,
    '$1',
  );
  const tool = opts.reuse && measuredBy ? `pocketdiff calibrate --reuse (measured by ${measuredBy})` : undefined;
  const fit = fitProfile(base, rows, { date: opts.date, tool });
  const out = fit.profile;
  const archs = new Set(rows.map((r) => r.architecture ?? r.id));
  let cv: CrossValidation | undefined;
  // Cross-validation needs rows to spare: a fold fits the free groups on the other rows.
  if (archs.size > 2 && rows.length >= fit.groups.length + 3 && rows.every((r) => r.architecture)) {
    opts.progress?.(`  cross-validating: ${archs.size} architectures, each left out in turn`);
    cv = crossValidate(base, rows, fit);
    out.calibration!.cross_validation = {
      method: 'leave-one-architecture-out',
      rows: rows.length,
      architectures: cv.architectures,
      ...cv.scores,
      coverage_80: cv.coverage_80,
      flops: cv.flops,
      residuals: cv.rows.map((h) => ({
        row: h.row,
        architecture: h.architecture,
        measured_ms: h.measured_ms,
        predicted_ms: h.predicted_ms,
        error: h.error,
        interval_80: h.interval_80,
      })),
    };
    out.calibration!.interval = {
      coverage: 0.8,
      ...cv.interval,
      basis: `leave-one-architecture-out errors of ${profile.name}'s ${rows.length} rows (${cv.architectures} architectures), scaled by mix distance; conformal ends`,
    };
  } else if (inherited?.parent.calibration?.interval) {
    // Too few rows of its own: the parent's interval, widened by how far these rows are from its shape.
    const iv = inherited.parent.calibration.interval;
    // Widths inherited twice (A13 → Apple's A16 runtime → SnapFusion's) add in quadrature.
    const transfer = Math.hypot(iv.transfer, transferWidth(fit, profile.calibration!.inherit!.params));
    delete out.calibration!.cross_validation;
    out.calibration!.interval = {
      ...iv,
      transfer: Math.round(transfer * 1e4) / 1e4,
      // Its own rows are calibration rows too: a graph like them is not unlike the profile.
      reference: [
        ...iv.reference,
        ...rows.map((r) => ({
          architecture: r.graph ?? r.id,
          mix: rowMix(r, out).map((x) => Math.round(x * 1e9) / 1e6),
        })),
      ],
      basis: `${iv.basis.split(', widened')[0]}, widened by ×${Math.exp(transfer).toFixed(2)} each way: how far the rows of ${profile.name}${iv.transfer ? ` and ${inherited.parent.name}` : ''} moved the shape they inherit, and what their fits leave on them`,
    };
  } else {
    delete out.calibration!.cross_validation;
    delete out.calibration!.interval;
  }
  const worst = Math.max(...fit.residuals.map((r) => Math.abs(r.error)));
  if (worst > 0.25)
    log.warn(
      Code.CalibrationFit,
      `the fit leaves a residual of ${(worst * 100).toFixed(1)}% on one of ${profile.name}'s rows (above ±25%)`,
    );
  return {
    profile: out,
    report: {
      device: profile.name,
      rows: rows.length,
      fitted: fit.groups,
      priors: fit.priors,
      residuals: fit.residuals,
      ...(cv
        ? {
            cross_validation: {
              architectures: cv.architectures,
              scores: cv.scores,
              flops: cv.flops,
              coverage_80: cv.coverage_80,
              rows: cv.rows,
            },
          }
        : {}),
      ...(out.calibration?.interval
        ? {
            interval: {
              lo: out.calibration.interval.lo,
              hi: out.calibration.interval.hi,
              basis: out.calibration.interval.basis,
            },
          }
        : {}),
    },
  };
}

export async function calibrate(
  device: string,
  opts: { write: boolean; reuse?: boolean; progress?: (line: string) => void },
  log: DiagnosticLog,
): Promise<CalibrationReport | undefined> {
  const profile = loadDevice(device, log);
  if (!profile) return undefined;
  // A measured profile (local-cpu) says which machine measured it: used on another, it warns (PD8013).
  const measured = !profile.calibration?.select && !profile.calibration?.inherit;
  if (measured && !opts.reuse) {
    const n = localRowCount();
    opts.progress?.(
      `measuring ${describeMachine(thisMachine())}: ${n} graphs, 12 rounds of two 0.1 s windows each (about ${Math.ceil((n * 12 * 0.25) / 60)} minutes, longer for the larger models)`,
    );
  }
  const done = await calibrateProfile(profile, log, opts);
  if (!done) return undefined;
  if (measured && !opts.reuse) done.profile.machine = thisMachine();
  if (opts.write) writeProfile(done.profile);
  return { ...done.report, file: profileFile(device), written: opts.write };
}

export const calibrateCommand: Command = {
  name: 'calibrate',
  usage,
  summary: "fit a device profile's free parameters to measured latencies, cross-validated, with its 80% interval",
  async run(argv, { log, stdout, stderr }) {
    const args = parse(
      argv,
      {
        device: { type: 'string' },
        'dry-run': { type: 'boolean' },
        reuse: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      usage,
      log,
    );
    if (!args) return Exit.Usage;
    if (args.positionals.length || !args.values.device) {
      log.error(Code.Usage, `expected --device\nusage: ${usage}`);
      return Exit.Usage;
    }
    const profile = loadDevice(args.values.device, log);
    if (!profile) return Exit.Error;
    if (args.values.reuse && profile.calibration?.select) {
      log.error(
        Code.Usage,
        `--reuse refits a measured profile on its stored measurements; ${profile.name} is fitted to published rows, which calibrate always reuses`,
      );
      return Exit.Usage;
    }
    const report = await calibrate(
      args.values.device,
      { write: !args.values['dry-run'], reuse: args.values.reuse, progress: args.values.json ? undefined : stderr },
      log,
    );
    if (!report) return Exit.Error;
    stdout(args.values.json ? JSON.stringify(report, null, 2) : formatCalibration(report));
    return Exit.Ok;
  },
};

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const share = (x: number) => `${(x * 100).toFixed(0)}%`;

export function formatCalibration(r: CalibrationReport): string {
  const width = Math.max(...r.residuals.map((x) => x.row.length), 3);
  const cv = new Map((r.cross_validation?.rows ?? []).map((h) => [h.row, h]));
  const lines = [
    `${r.device}: ${r.fitted.length} free parameter${r.fitted.length === 1 ? '' : 's'} fitted to ${r.rows} rows${r.written ? `, written to ${r.file}` : ' (dry run: nothing written)'}`,
    '',
    "fitted (one factor per group on its params' priors):",
    ...r.fitted.map(
      (g) =>
        `  ${g.id.padEnd(10)} ×${g.factor}  ${g.params.map((p) => `${p.path} ${p.prior} → ${p.value}`).join(', ')}`,
    ),
    '',
    'priors (not fitted):',
    ...r.priors.map((p) => `  ${p.path.padEnd(28)} ${String(p.value).padStart(10)}  ${p.source}`),
    '',
    `${'row'.padEnd(width)}  measured ms  predicted ms  residual${cv.size ? '  held out  FLOPs baseline' : ''}`,
    ...r.residuals.map((x) => {
      const h = cv.get(x.row);
      return `${x.row.padEnd(width)}  ${x.measured_ms.toFixed(3).padStart(11)}  ${x.predicted_ms.toFixed(3).padStart(12)}  ${pct(x.error).padStart(8)}${h ? `  ${pct(h.error).padStart(8)}  ${pct(h.flops_error).padStart(14)}` : ''}`;
    }),
  ];
  const c = r.cross_validation;
  if (c) {
    lines.push(
      '',
      `leave-one-architecture-out (${c.architectures} architectures): median |error| ${pct(c.scores.median_abs_error).slice(1)}, within ±10% ${share(c.scores.within_10)}, within ±25% ${share(c.scores.within_25)}`,
      `FLOPs-proportional baseline on the same rows: median |error| ${pct(c.flops.median_abs_error).slice(1)}, within ±10% ${share(c.flops.within_10)}, within ±25% ${share(c.flops.within_25)}`,
      `80% intervals cover ${share(c.coverage_80)} of the held-out rows`,
    );
  }
  if (r.interval)
    lines.push(
      `interval: measured/predicted from ×${Math.exp(Math.min(0, r.interval.lo)).toFixed(2)} to ×${Math.exp(Math.max(0, r.interval.hi)).toFixed(2)} for a typical graph (${r.interval.basis})`,
    );
  return lines.join('\n');
}

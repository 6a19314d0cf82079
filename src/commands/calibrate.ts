// pocketdiff calibrate --device D [--dry-run] [--json]
// Fits a profile's free parameters (its fit groups) to measured latencies by
// bounded least squares, reports each row's residual and the leave-one-out
// error beside a FLOPs-proportional baseline, and writes the fitted profile.
// Phones: the published rows in models/devices/measurements.json. local-cpu:
// microbenchmarks and calibration models measured now with onnxruntime-node.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice, profileFile, writeProfile } from '../devices/index.ts';
import type { DeviceProfile } from '../devices/schema.ts';
import { fitProfile, leaveOneOut, type CalibrationRow, type FitReport, type HeldOut } from '../cost/calibrate.ts';
import { localRows } from '../cost/local.ts';
import { measurementRows } from '../cost/rows.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff calibrate --device D [--dry-run] [--json]';

export interface CalibrationReport {
  device: string;
  file: string;
  written: boolean;
  rows: number;
  fitted: FitReport['groups'];
  priors: FitReport['priors'];
  residuals: FitReport['residuals'];
  leave_one_out?: HeldOut[];
}

export async function calibrationRows(profile: DeviceProfile, log: DiagnosticLog, onRow?: (id: string, ms: number) => void): Promise<CalibrationRow[] | undefined> {
  if (profile.name === 'local-cpu') return localRows(profile, log, { onRow: (r) => onRow?.(r.id, r.measured_ms) });
  return await measurementRows(profile, log);
}

export async function calibrate(device: string, opts: { write: boolean; progress?: (line: string) => void }, log: DiagnosticLog): Promise<CalibrationReport | undefined> {
  const profile = loadDevice(device, log);
  if (!profile) return undefined;
  const rows = await calibrationRows(profile, log, (id, ms) => opts.progress?.(`  measured ${id}: ${ms.toFixed(2)} ms`));
  if (!rows) return undefined;
  if (!rows.length) {
    log.error(Code.CalibrationRows, `no rows to calibrate '${device}' on`);
    return undefined;
  }
  const fit = fitProfile(profile, rows);
  // Leave-one-out refits per row: affordable for the few published rows a phone has.
  const loo = rows.length <= 12 && rows.length > 1 ? leaveOneOut(profile, rows) : undefined;
  const worst = Math.max(...fit.residuals.map((r) => Math.abs(r.error)));
  if (worst > 0.1) log.warn(Code.CalibrationFit, `the fit leaves a residual of ${(worst * 100).toFixed(1)}% on ${device}'s rows (above ±10%)`);
  if (opts.write) writeProfile(fit.profile);
  return {
    device,
    file: profileFile(device),
    written: opts.write,
    rows: rows.length,
    fitted: fit.groups,
    priors: fit.priors,
    residuals: fit.residuals,
    leave_one_out: loo,
  };
}

export const calibrateCommand: Command = {
  name: 'calibrate',
  usage,
  summary: "fit a device profile's free parameters to measured latencies, with per-row residuals",
  async run(argv, { log, stdout, stderr }) {
    const args = parse(argv, { device: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } }, usage, log);
    if (!args) return Exit.Usage;
    if (args.positionals.length || !args.values.device) {
      log.error(Code.Usage, `expected --device\nusage: ${usage}`);
      return Exit.Usage;
    }
    const report = await calibrate(args.values.device, { write: !args.values['dry-run'], progress: args.values.json ? undefined : stderr }, log);
    if (!report) return Exit.Error;
    stdout(args.values.json ? JSON.stringify(report, null, 2) : formatCalibration(report));
    return Exit.Ok;
  },
};

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

export function formatCalibration(r: CalibrationReport): string {
  const width = Math.max(...r.residuals.map((x) => x.row.length), 3);
  const lines = [
    `${r.device}: ${r.fitted.length} free parameter${r.fitted.length === 1 ? '' : 's'} fitted to ${r.rows} rows${r.written ? `, written to ${r.file}` : ' (dry run: nothing written)'}`,
    '',
    'fitted (one factor per group on its params\' priors):',
    ...r.fitted.map((g) => `  ${g.id.padEnd(10)} ×${g.factor}  ${g.params.map((p) => `${p.path} ${p.prior} → ${p.value}`).join(', ')}`),
    '',
    'priors (not fitted):',
    ...r.priors.map((p) => `  ${p.path.padEnd(28)} ${String(p.value).padStart(10)}  ${p.source}`),
    '',
    `${'row'.padEnd(width)}  measured ms  predicted ms  residual${r.leave_one_out ? '  leave-one-out  FLOPs baseline' : ''}`,
    ...r.residuals.map((x, i) => {
      const loo = r.leave_one_out?.[i];
      return `${x.row.padEnd(width)}  ${x.measured_ms.toFixed(3).padStart(11)}  ${x.predicted_ms.toFixed(3).padStart(12)}  ${pct(x.error).padStart(8)}${loo ? `  ${pct(loo.error).padStart(13)}  ${pct(loo.flops_error).padStart(14)}` : ''}`;
    }),
  ];
  return lines.join('\n');
}

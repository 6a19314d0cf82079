// pocketdiff devices [--json]
// The device profiles (one per device and runtime), with the sources of their numbers.
import { Code } from '../codes.ts';
import { listDevices } from '../devices/index.ts';
import { freeGroups } from '../cost/calibrate/profile-fit.ts';
import type { DeviceProfile } from '../devices/schema.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff devices [--json]';

export interface DeviceListing {
  name: string;
  display_name: string;
  runtime: string;
  precision: DeviceProfile['precision'];
  /** Fitted parameter groups, and the rows they were fitted to. */
  fitted: string[];
  calibration_rows: string[];
  max_abs_residual?: number;
  /** Leave-one-architecture-out: how the profile does on graphs it has not seen. */
  cross_validation?: {
    rows: number;
    architectures: number;
    median_abs_error: number;
    within_25: number;
    coverage_80: number;
  };
  /** The factors measured/predicted spans for a graph as typical as the calibration rows. */
  interval_80?: { typical: [number, number]; basis: string };
  sources: DeviceProfile['sources'];
}

export function deviceListing(p: DeviceProfile): DeviceListing {
  const residuals = p.calibration?.fitted?.residuals ?? [];
  const cv = p.calibration?.cross_validation;
  const iv = p.calibration?.interval;
  const factor = (x: number) => Math.round(Math.exp(x) * 1000) / 1000;
  return {
    name: p.name,
    display_name: p.display_name,
    runtime: p.runtime.name,
    precision: p.precision,
    fitted: freeGroups(p).map((g) => g.id),
    calibration_rows: residuals.map((r) => r.row),
    max_abs_residual: residuals.length ? Math.max(...residuals.map((r) => Math.abs(r.error))) : undefined,
    ...(cv
      ? {
          cross_validation: {
            rows: cv.rows,
            architectures: cv.architectures,
            median_abs_error: cv.median_abs_error,
            within_25: cv.within_25,
            coverage_80: cv.coverage_80,
          },
        }
      : {}),
    ...(iv
      ? {
          interval_80: {
            typical: [factor(Math.min(0, iv.lo) - iv.transfer), factor(Math.max(0, iv.hi) + iv.transfer)] as [
              number,
              number,
            ],
            basis: iv.basis,
          },
        }
      : {}),
    sources: p.sources,
  };
}

export const devices: Command = {
  name: 'devices',
  usage,
  summary: 'the device profiles (device × runtime) the cost model knows, with their sources',
  run(argv, { log, stdout }) {
    const args = parse(argv, { json: { type: 'boolean' } }, usage, log);
    if (!args) return Exit.Usage;
    if (args.positionals.length) {
      log.error(Code.Usage, `devices takes no arguments\nusage: ${usage}`);
      return Exit.Usage;
    }
    const list = listDevices(log).map(deviceListing);
    if (args.values.json) {
      stdout(JSON.stringify({ devices: list }, null, 2));
      return log.hasErrors ? Exit.Error : Exit.Ok;
    }
    const lines: string[] = [];
    for (const d of list) {
      const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
      const cv = d.cross_validation;
      const fit =
        d.max_abs_residual === undefined
          ? 'not calibrated'
          : cv
            ? `calibrated on ${cv.rows} rows of ${cv.architectures} architectures; each held out: median |error| ${pct(cv.median_abs_error)}, ${pct(cv.within_25)} within ±25%`
            : `calibrated on ${d.calibration_rows.length} row${d.calibration_rows.length === 1 ? '' : 's'}, worst residual ${(d.max_abs_residual * 100).toFixed(1)}%`;
      lines.push(`${d.name}  ${d.display_name}`);
      lines.push(
        `  runtime ${d.runtime}; computes in ${d.precision.compute}, weights ${d.precision.weights}, activations ${d.precision.activations}; ${fit}`,
      );
      if (d.interval_80)
        lines.push(
          `  80% interval: ×${d.interval_80.typical[0].toFixed(2)} to ×${d.interval_80.typical[1].toFixed(2)} of a prediction for a typical graph, wider for unlike ones`,
        );
      for (const s of d.sources) lines.push(`  [${s.id}] ${s.citation}${s.url ? ` <${s.url}>` : ''}`);
      lines.push('');
    }
    stdout(lines.join('\n').trimEnd());
    return log.hasErrors ? Exit.Error : Exit.Ok;
  },
};

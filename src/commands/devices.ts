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
  sources: DeviceProfile['sources'];
}

export function deviceListing(p: DeviceProfile): DeviceListing {
  const residuals = p.calibration?.fitted?.residuals ?? [];
  return {
    name: p.name,
    display_name: p.display_name,
    runtime: p.runtime.name,
    precision: p.precision,
    fitted: freeGroups(p).map((g) => g.id),
    calibration_rows: p.calibration?.rows ?? [],
    max_abs_residual: residuals.length ? Math.max(...residuals.map((r) => Math.abs(r.error))) : undefined,
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
      const fit = d.max_abs_residual === undefined ? 'not calibrated' : `calibrated on ${d.calibration_rows.length} rows, worst residual ${(d.max_abs_residual * 100).toFixed(1)}%`;
      lines.push(`${d.name}  ${d.display_name}`);
      lines.push(`  runtime ${d.runtime}; computes in ${d.precision.compute}, weights ${d.precision.weights}, activations ${d.precision.activations}; ${fit}`);
      for (const s of d.sources) lines.push(`  [${s.id}] ${s.citation}${s.url ? ` <${s.url}>` : ''}`);
      lines.push('');
    }
    stdout(lines.join('\n').trimEnd());
    return log.hasErrors ? Exit.Error : Exit.Ok;
  },
};

// The device profiles shipped in models/devices/*.json: listing, loading by
// name (with a did-you-mean), validating and writing back (calibrate).
import fs from 'node:fs';
import { describeMachine, sameCpu, thisMachine } from './machine.ts';
import path from 'node:path';
import { Code } from '../codes.ts';
import { DiagnosticLog, type Location } from '../diagnostics.ts';
import { pathText } from '../schema/issues.ts';
import { PROJECT_ROOT } from '../root.ts';
import { closest } from '../text/did-you-mean.ts';
import { deviceProfileSchema, type DeviceProfile } from './schema.ts';

export type { DeviceProfile } from './schema.ts';

export const DEVICES_DIR = path.join(PROJECT_ROOT, 'models', 'devices');
/** Files in DEVICES_DIR that are not profiles. */
const NOT_PROFILES = new Set(['measurements.json']);

const cache = new Map<string, DeviceProfile>();

export function profileFile(name: string, dir = DEVICES_DIR): string {
  return path.join(dir, `${name}.json`);
}

/** Names of the shipped profiles, sorted. */
export function deviceNames(dir = DEVICES_DIR): string[] {
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith('.json') && !NOT_PROFILES.has(f))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Every valid shipped profile; invalid ones are reported to `log` when given. */
export function listDevices(log?: DiagnosticLog): DeviceProfile[] {
  const sink = log ?? new DiagnosticLog();
  return deviceNames().flatMap((n) => loadProfileFile(profileFile(n), sink) ?? []);
}

/** The profile called `name`; PD7009 with a did-you-mean when there is none. */
export function loadDevice(name: string, log: DiagnosticLog, at?: Location): DeviceProfile | undefined {
  const names = deviceNames();
  if (!names.includes(name)) {
    const guess = closest(name, names);
    log.error(
      Code.UnknownDevice,
      `unknown device '${name}'${guess ? `; did you mean '${guess}'?` : ''}`,
      at,
      guess ? undefined : [`known devices: ${names.join(', ')}`],
    );
    return undefined;
  }
  const profile = loadProfileFile(profileFile(name), log);
  if (profile?.machine) otherMachine(profile, log);
  return profile;
}

const warned = new WeakSet<DiagnosticLog>();

/** A profile measured on another CPU predicts that CPU: said once per run, with how to fit this one. */
function otherMachine(profile: DeviceProfile, log: DiagnosticLog): void {
  const here = thisMachine();
  if (sameCpu(profile.machine!, here) || warned.has(log)) return;
  warned.add(log);
  log.warn(
    Code.ProfileOtherMachine,
    `${profile.name} was calibrated on ${describeMachine(profile.machine!)}; this machine is ${describeMachine(here)}, so its predictions here may be off by tens of percent`,
    { file: profileFile(profile.name) },
    [`\`pocketdiff calibrate --device ${profile.name}\` measures this machine and refits it (a few minutes)`],
  );
}

/** Reads and validates one profile file (PD8001 unreadable, PD8002 invalid). */
export function loadProfileFile(file: string, log: DiagnosticLog): DeviceProfile | undefined {
  const stat = statOf(file);
  const key = `${file}@${stat}`;
  const hit = cache.get(key);
  if (hit) return structuredClone(hit);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    log.error(Code.ProfileUnreadable, `device profile ${path.basename(file)} cannot be read: ${(e as Error).message}`, {
      file,
    });
    return undefined;
  }
  const parsed = deviceProfileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      log.error(
        Code.ProfileInvalid,
        `device profile ${path.basename(file)}: '${pathText(issue.path as (string | number)[]) || '(root)'}': ${issue.message}`,
        { file },
      );
    }
    return undefined;
  }
  if (parsed.data.name !== path.basename(file, '.json')) {
    log.error(
      Code.ProfileInvalid,
      `device profile ${path.basename(file)} is named '${parsed.data.name}'; a profile's file is <name>.json`,
      { file },
    );
    return undefined;
  }
  cache.set(key, parsed.data);
  return structuredClone(parsed.data);
}

function statOf(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return 'missing';
  }
}

/** Writes a profile (after calibration), keeping the file's `$schema` hint first. */
export function writeProfile(profile: DeviceProfile, file = profileFile(profile.name)): void {
  const { $schema, ...rest } = profile;
  const text =
    JSON.stringify({ $schema: $schema ?? '../../schemas/device-profile.schema.json', ...rest }, null, 2) + '\n';
  fs.writeFileSync(file + '.partial', text);
  fs.renameSync(file + '.partial', file);
}

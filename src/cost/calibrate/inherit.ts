// Params one profile takes from another's fit (calibration.inherit): the same
// hardware family under another runtime or a later chip, where the profile's
// own rows are too few to fit them. The Neural Engine's shape (how fast convs,
// depthwise convs, memory and per-op costs run relative to its peak) comes
// from the 15 iPhone 11 Pro rows; the iPhone 14 Pro's three SnapFusion rows
// then fit only what they can tell: its speed and its attention.
//
// An inherited param takes the other profile's value; where it is free, that
// value becomes its prior, so the fit starts from the family's shape and the
// prior pull keeps it there unless the rows say otherwise.
import { Code } from '../../codes.ts';
import type { DiagnosticLog } from '../../diagnostics.ts';
import { loadDevice } from '../../devices/index.ts';
import { paramsOf, type DeviceProfile, type Param } from '../../devices/schema.ts';

/** The profile with the inherited params taken, and the profile they came from. */
export function inherit(
  profile: DeviceProfile,
  log: DiagnosticLog,
): { profile: DeviceProfile; parent: DeviceProfile } | undefined {
  const spec = profile.calibration?.inherit;
  if (!spec) return undefined;
  const parent = loadDevice(spec.profile, log);
  if (!parent) return undefined;
  const out = structuredClone(profile);
  const mine = new Map(paramsOf(out).map(([p, v]) => [p.join('.'), v]));
  const theirs = new Map(paramsOf(parent).map(([p, v]) => [p.join('.'), v]));
  const fitted = parent.calibration?.fitted;
  for (const path of spec.params) {
    const dst = mine.get(path);
    const src = theirs.get(path);
    if (!dst || !src) {
      log.error(
        Code.ProfileInvalid,
        `${profile.name}: calibration.inherit names '${path}', which ${dst ? spec.profile : profile.name} does not have`,
      );
      return undefined;
    }
    take(
      dst,
      src,
      `fitted: on ${spec.profile}'s ${fitted ? `${fitted.residuals.length} rows (${fitted.date})` : 'priors'}, inherited`,
    );
  }
  return { profile: out, parent };
}

/**
 * How far this profile's rows are from the inherited shape, in log units:
 * the largest factor its fit moved an inherited group by, and what its fit
 * still leaves on its own rows (root mean square), added in quadrature. It
 * widens the parent's interval (interval.transfer).
 */
export function transferWidth(
  fit: { groups: { factor: number; params: { path: string }[] }[]; residuals: { error: number }[] },
  inherited: readonly string[],
): number {
  const moved = Math.max(
    0,
    ...fit.groups
      .filter((g) => g.params.some((p) => inherited.includes(p.path)))
      .map((g) => Math.abs(Math.log(g.factor))),
  );
  const left = Math.sqrt(
    fit.residuals.reduce((s, r) => s + Math.log(1 + r.error) ** 2, 0) / Math.max(1, fit.residuals.length),
  );
  return Math.hypot(moved, left);
}

function take(dst: Param, src: Param, source: string): void {
  dst.value = src.value;
  dst.source = source;
  if (dst.fit) {
    dst.fit.prior = src.value;
    dst.fit.min = Math.min(dst.fit.min, src.value);
    dst.fit.max = Math.max(dst.fit.max, src.value);
  }
}

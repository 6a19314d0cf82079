// Config keys as data: each model class has a table of the keys its
// diffusers/transformers class reads, with the library's default and a check.
// A check refuses a value the builder does not implement (PD4004) or one that is
// not a valid value at all (PD4006); a key in no table is refused too (PD4005),
// because an unknown key may change the architecture in a way we would miss.
import { Code } from '../../codes.ts';
import type { DiagnosticLog } from '../../diagnostics.ts';
import type { ConfigFile } from './read.ts';

export interface Problem {
  /** True: a real value the builder does not implement. False: not a valid value. */
  unsupported: boolean;
  message: string;
}

export type Check = (v: unknown) => Problem | undefined;

export interface KeyRule {
  default: unknown;
  check: Check;
}

export type KeyTable = Record<string, KeyRule>;

const show = (v: unknown) => JSON.stringify(v);
const invalid = (message: string): Problem => ({ unsupported: false, message });
const unsupported = (message: string): Problem => ({ unsupported: true, message });

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

export const is = {
  any: (): Check => () => undefined,
  number: (): Check => (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : invalid('must be a number')),
  positive: (): Check => (v) => (typeof v === 'number' && v > 0 ? undefined : invalid('must be a positive number')),
  bool: (): Check => (v) => (typeof v === 'boolean' ? undefined : invalid('must be true or false')),
  posInt: (): Check => (v) => (isInt(v) && v > 0 ? undefined : invalid('must be a positive integer')),
  int: (): Check => (v) => (isInt(v) ? undefined : invalid('must be an integer')),
  posIntList: (): Check => (v) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => isInt(x) && x > 0)
      ? undefined
      : invalid('must be a non-empty list of positive integers'),
  /** A positive integer, or a per-block list of them. */
  posIntOrList: (): Check => (v) =>
    (isInt(v) && v > 0) || (Array.isArray(v) && v.length > 0 && v.every((x) => isInt(x) && x > 0))
      ? undefined
      : invalid('must be a positive integer or a list of positive integers'),
  /** An odd kernel size (padding (k-1)/2 keeps the size). */
  oddKernel: (): Check => (v) =>
    isInt(v) && v > 0
      ? v % 2 === 1
        ? undefined
        : unsupported('even kernel sizes are not implemented (the exporter pads asymmetrically)')
      : invalid('must be a positive integer'),
  /** Only these values are implemented; anything else is refused. */
  only:
    (...allowed: unknown[]): Check =>
    (v) =>
      allowed.some((a) => show(a) === show(v))
        ? undefined
        : unsupported(`only ${allowed.map(show).join(' or ')} is implemented`),
  /** A list whose every entry is one of `allowed`. */
  listOf:
    (...allowed: string[]): Check =>
    (v) => {
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string'))
        return invalid('must be a non-empty list of block type names');
      const bad = v.filter((x) => !allowed.includes(x as string));
      return bad.length
        ? unsupported(`block type ${bad.map(show).join(', ')} is not implemented (implemented: ${allowed.join(', ')})`)
        : undefined;
    },
  /** false, or a list of false (per block). */
  allFalse: (): Check => (v) =>
    v === false || (Array.isArray(v) && v.every((x) => x === false))
      ? undefined
      : unsupported('only false is implemented'),
};

/**
 * Checks every key of `cfg` against `table` and returns the resolved config
 * (defaults filled in), or undefined after logging each refused key.
 * Keys starting with `_` and keys in `inert` (metadata that changes no graph) pass.
 */
export function resolveKeys(
  cfg: ConfigFile,
  model: string,
  table: KeyTable,
  inert: ReadonlySet<string>,
  log: DiagnosticLog,
): Record<string, unknown> | undefined {
  const before = log.errors().length;
  const out: Record<string, unknown> = {};
  for (const [k, rule] of Object.entries(table)) out[k] = rule.default;
  for (const [k, v] of Object.entries(cfg.values)) {
    if (k.startsWith('_') || inert.has(k)) continue;
    const rule = table[k];
    if (!rule) {
      log.error(
        Code.ConfigUnknownKey,
        `unknown ${model} config key '${k}': the builder does not know how it changes the model, so it refuses it rather than ignore it`,
        cfg.keyAt(k),
        near(k, Object.keys(table)),
      );
      continue;
    }
    const p = rule.check(v);
    if (p) {
      log.error(
        p.unsupported ? Code.ConfigUnsupported : Code.ConfigInvalid,
        `${model} config key '${k}' = ${show(v)}: ${p.message}`,
        cfg.keyAt(k),
      );
      continue;
    }
    out[k] = v;
  }
  return log.errors().length > before ? undefined : out;
}

/** A did-you-mean note for a misspelt key. */
function near(key: string, known: string[]): string[] | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best && bestD <= Math.max(2, Math.floor(key.length / 4)) ? [`did you mean '${best}'?`] : undefined;
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** Reports a cross-key problem (lengths that disagree, groups that do not divide). */
export function refuse(log: DiagnosticLog, cfg: ConfigFile, key: string, message: string, isUnsupported = false): void {
  log.error(isUnsupported ? Code.ConfigUnsupported : Code.ConfigInvalid, message, cfg.keyAt(key));
}

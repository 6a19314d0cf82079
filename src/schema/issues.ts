// zod issues -> coded diagnostics at the YAML position of the offending value,
// one per root cause: a union failure is reported once, from the branch that
// got furthest, and unknown keys and enum values get a did-you-mean.
import type { z } from 'zod';
import { Code } from '../codes.ts';
import { DiagnosticLog, type Location } from '../diagnostics.ts';
import { closest } from '../text/did-you-mean.ts';
import { keysAt, type Path } from './shape.ts';

type Issue = z.core.$ZodIssue;

export interface Locator {
  locate(path: Path, opts?: { key?: boolean }): Location;
  valueAt(path: Path): unknown;
}

export function reportIssues(issues: readonly Issue[], schema: z.ZodType, where: Locator, log: DiagnosticLog): void {
  let flat = issues.flatMap((i) => rootCauses(i, []));
  // Cross-field checks (steps ≤ train_timesteps, …) see the raw values: while a
  // field is wrong by itself, a conflict involving it is that same root cause.
  if (flat.some((i) => i.code !== 'custom')) flat = flat.filter((i) => i.code !== 'custom');
  // A misspelt key also leaves the real key missing: one root cause, one error.
  const misspelt = new Set<string>();
  for (const i of flat) {
    if (i.code !== 'unrecognized_keys') continue;
    const known = keysAt(schema, i.path as (string | number)[]);
    for (const k of i.keys) {
      const guess = guessKey(k, known);
      if (guess) misspelt.add(pathText([...(i.path as (string | number)[]), guess]));
    }
  }
  const seen = new Set<string>();
  const out = new DiagnosticLog();
  for (const issue of flat) {
    const p = issue.path as (string | number)[];
    // One diagnostic per value: 25 for a resolution is too small *and* not a
    // multiple of 64, but it is one mistake. Unknown keys are each their own.
    const key = issue.code === 'unrecognized_keys' ? `${pathText(p)}|${issue.keys.join(',')}` : pathText(p);
    if (seen.has(key)) continue;
    seen.add(key);
    if (issue.code === 'invalid_type' && where.valueAt(p) === undefined && misspelt.has(pathText(p))) continue;
    report(issue, schema, where, out);
  }
  // In source order, as a reader goes through the file.
  out.items.sort(
    (a, b) => (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.col ?? 0) - (b.location?.col ?? 0),
  );
  for (const d of out.items) log.items.push(d);
}

/** `unet.remove[1].block` */
export function pathText(path: readonly (string | number)[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join('');
}

/** A key the user probably meant: a close spelling, or the one key it abbreviates (`budget` → `budget_ms`). */
function guessKey(k: string, known: readonly string[]): string | undefined {
  const near = closest(k, known);
  if (near) return near;
  const longer = known.filter((c) => k.length >= 3 && (c.startsWith(k) || k.startsWith(c)));
  return longer.length === 1 ? longer[0] : undefined;
}

/** The one other section that has key `k` (`steps` written at the top belongs under `'schedule'`). */
function homeOf(schema: z.ZodType, path: readonly (string | number)[], k: string): string | undefined {
  const homes: string[] = [];
  for (const top of keysAt(schema, [])) {
    if (top === path[0]) continue;
    if (keysAt(schema, [top]).includes(k)) homes.push(`'${top}'`);
    else if (keysAt(schema, [top, 0]).includes(k)) homes.push(`each entry of '${top}'`);
  }
  return homes.length === 1 ? homes[0] : undefined;
}

/** Unions: keep the branch whose errors reach deepest (it matched the shape best). */
function rootCauses(issue: Issue, prefix: PropertyKey[]): Issue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || !issue.errors?.length) return [{ ...issue, path } as Issue];
  const depth = (errs: readonly Issue[]) =>
    Math.max(...errs.map((e) => e.path.length + (e.code === 'invalid_type' ? 0 : 0.5)));
  const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0];
  if (depth(best) === 0 && best.every((e) => e.code === 'invalid_type')) {
    // The value fits no branch at all: say what would.
    const expected = issue.errors.map((errs) => (errs[0] as { expected?: string }).expected ?? 'value');
    return [
      {
        code: 'invalid_type',
        expected: [...new Set(expected)].join(' or '),
        path,
        message: '',
        input: undefined,
      } as unknown as Issue,
    ];
  }
  if (best.length === 1 && best[0].code === 'invalid_value' && best[0].path.length === 0) {
    // A literal branch (`'input'`) won: the other branches' shapes are alternatives too.
    const alternatives = issue.errors
      .filter(
        (errs) => errs !== best && errs.length === 1 && errs[0].code === 'invalid_type' && errs[0].path.length === 0,
      )
      .map((errs) => String((errs[0] as { expected?: string }).expected));
    return [{ ...best[0], path, alternatives } as Issue];
  }
  return best.flatMap((e) => rootCauses(e, path));
}

const show = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${show(v)}`;
}

function report(issue: Issue, schema: z.ZodType, where: Locator, log: DiagnosticLog): void {
  const path = issue.path as (string | number)[];
  const name = path.length ? pathText(path) : 'the recipe';
  const value = where.valueAt(path);
  const at = where.locate(path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(schema, path);
      for (const k of issue.keys) {
        const guess = guessKey(k, known);
        const home = guess ? undefined : homeOf(schema, path, k);
        const hint = guess ? `; did you mean '${guess}'?` : home ? `; '${k}' belongs under ${home}` : '';
        log.error(
          Code.RecipeUnknownKey,
          `unknown key '${k}' in ${path.length ? `'${name}'` : 'the recipe'}${hint}`,
          where.locate([...path, k], { key: true }),
          guess || home ? undefined : [`expected one of: ${known.join(', ')}`],
        );
      }
      return;
    }
    case 'invalid_type': {
      const expected = String((issue as { expected?: string }).expected ?? 'value');
      if (value === undefined) {
        log.error(Code.RecipeMissing, `'${name}' is required (${expected})`, at);
      } else {
        log.error(Code.RecipeType, `'${name}' must be ${article(expected)}, not ${kindOf(value)}`, at);
      }
      return;
    }
    case 'invalid_value': {
      const options = (issue.values ?? []).map(String);
      const expected = [
        ...options.map(show),
        ...((issue as { alternatives?: string[] }).alternatives ?? []).map(article),
      ].join(' or ');
      if (typeof value !== 'string' && issue.values.every((v) => typeof v === 'string')) {
        log.error(Code.RecipeType, `'${name}' must be ${expected}, not ${kindOf(value)}`, at);
        return;
      }
      const guess = typeof value === 'string' ? closest(value, options) : undefined;
      log.error(
        Code.RecipeValue,
        `${show(value)} is not a valid '${name}': expected ${expected}${guess ? `; did you mean '${guess}'?` : ''}`,
        at,
      );
      return;
    }
    case 'invalid_format':
      log.error(Code.RecipeValue, `${show(value)} is not a valid '${name}': ${issue.message}`, at);
      return;
    case 'too_small':
    case 'too_big':
    case 'not_multiple_of':
      log.error(Code.RecipeRange, `'${name}' is ${show(value)}: ${rangeText(issue)}`, at);
      return;
    case 'custom':
      log.error(Code.RecipeConflict, issue.message, at);
      return;
    default:
      log.error(Code.RecipeValue, `'${name}': ${issue.message}`, at);
  }
}

function article(t: string): string {
  const noun = t
    .replace(/\bint\b/g, 'integer')
    .replace(/\bobject\b/g, 'mapping')
    .replace(/\barray\b/g, 'list');
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function rangeText(issue: Issue): string {
  const i = issue as {
    code: string;
    minimum?: number | bigint;
    maximum?: number | bigint;
    inclusive?: boolean;
    divisor?: number;
    origin?: string;
  };
  const what = i.origin === 'string' ? 'length' : i.origin === 'array' ? 'number of items' : 'value';
  if (i.code === 'not_multiple_of') return `must be a multiple of ${i.divisor}`;
  if (i.code === 'too_small')
    return `${what} must be ${i.inclusive === false ? 'greater than' : 'at least'} ${i.minimum}`;
  return `${what} must be ${i.inclusive === false ? 'less than' : 'at most'} ${i.maximum}`;
}

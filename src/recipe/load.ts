// Loading a recipe: read YAML with positions, follow `extends:` (child keys
// override the parent's; lists replace), resolve file references against the
// recipe that wrote them, then validate the merged result with the schema.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import { reportIssues } from '../schema/issues.ts';
import { recipeSchema, type Recipe } from './schema.ts';
import { YamlSource, type Path } from './source.ts';
import { MODEL_NAMES } from '../model-names.ts';

export interface LoadedRecipe {
  recipe: Recipe;
  file: string;
  /** Artifact folder name: `name:` or the file name without extension. */
  name: string;
  /** sha256 of the merged, validated recipe (canonical JSON). */
  hash: string;
  /** Where a value of the merged recipe was written (the child wins over its parents). */
  locate(path: Path, opts?: { key?: boolean }): Location;
}

// Fields holding file paths, resolved against the recipe that wrote them.
const PATH_FIELDS: Path[] = [
  ...MODEL_NAMES.map((c) => ['model', c]),
  ['guidance', 'uncond', 'baked'],
  ...MODEL_NAMES.map((c) => ['quantize', c, 'calibration', 'inputs']),
];

export function loadRecipe(file: string, log: DiagnosticLog): LoadedRecipe | undefined {
  const sources: YamlSource[] = [];
  const raw = readChain(path.resolve(file), sources, [], log);
  if (!raw) return undefined;
  const locate = (p: Path, opts?: { key?: boolean }): Location => {
    const best = [...sources].sort((a, b) => b.depth(p) - a.depth(p))[0];
    return best.locate(p, opts);
  };
  const valueAt = (p: Path): unknown =>
    p.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), raw);
  const parsed = recipeSchema.safeParse(raw);
  if (!parsed.success) {
    reportIssues(parsed.error.issues, recipeSchema, { locate, valueAt }, log);
    return undefined;
  }
  const recipe = parsed.data;
  const name = recipe.name ?? path.basename(file).replace(/\.(ya?ml)$/i, '');
  // File references are hashed relative to the recipe, so the same checkout in
  // another folder gives the same hash.
  const portable = structuredClone(recipe) as unknown as Record<string, unknown>;
  for (const p of PATH_FIELDS) mapPathField(portable, p, relativeTo(path.dirname(path.resolve(file))));
  const hash = crypto.createHash('sha256').update(canonicalJson(portable)).digest('hex');
  return { recipe, file: path.resolve(file), name, hash, locate };
}

function readChain(
  file: string,
  sources: YamlSource[],
  chain: string[],
  log: DiagnosticLog,
  from?: Location,
): Record<string, unknown> | undefined {
  if (chain.includes(file)) {
    log.error(
      Code.RecipeExtendsCycle,
      `'extends' makes a cycle: ${[...chain, file].map((f) => path.basename(f)).join(' → ')}`,
      from,
    );
    return undefined;
  }
  let text: string;
  try {
    // Only regular files: a directory, a FIFO or /dev/zero is not a recipe (and may never end).
    if (!fs.statSync(file).isFile()) throw new Error('not a file');
    text = fs.readFileSync(file, 'utf8');
  } catch {
    const exists = fs.existsSync(file);
    if (from)
      log.error(
        Code.RecipeExtendsMissing,
        `'extends' names '${path.relative(process.cwd(), file) || file}', which ${exists ? 'is not a file' : 'does not exist'}`,
        from,
      );
    else log.error(Code.RecipeNotFound, exists ? `not a recipe file: ${file}` : `recipe not found: ${file}`, { file });
    return undefined;
  }
  const { source, error } = YamlSource.parse(file, text);
  if (error) {
    log.error(Code.RecipeSyntax, `YAML: ${error.message}`, error.at);
    return undefined;
  }
  const data = source.toJS() ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    log.error(
      Code.RecipeType,
      `a recipe is a mapping of keys (model, unet, schedule, …), not ${Array.isArray(data) ? 'a list' : typeof data}`,
      source.locate([]),
    );
    return undefined;
  }
  sources.push(source);
  const own = data as Record<string, unknown>;
  for (const p of PATH_FIELDS) mapPathField(own, p, resolveAgainst(path.dirname(file)));
  const parentRef = own.extends;
  if (parentRef === undefined) return own;
  if (typeof parentRef !== 'string' || parentRef === '') {
    log.error(Code.RecipeType, `'extends' must be a path to another recipe`, source.locate(['extends']));
    return undefined;
  }
  const parent = readChain(
    path.resolve(path.dirname(file), parentRef),
    sources,
    [...chain, file],
    log,
    source.locate(['extends']),
  );
  if (!parent) return undefined;
  const merged = merge(parent, own);
  delete merged.extends;
  return merged;
}

/** Rewrites the string at `p` (when the object has one there) with `fn`. */
function mapPathField(obj: Record<string, unknown>, p: Path, fn: (v: string) => string): void {
  let o: unknown = obj;
  for (const k of p.slice(0, -1))
    o = o && typeof o === 'object' ? (o as Record<string, unknown>)[k as string] : undefined;
  if (!o || typeof o !== 'object') return;
  const last = p[p.length - 1] as string;
  const v = (o as Record<string, unknown>)[last];
  if (typeof v === 'string') (o as Record<string, unknown>)[last] = fn(v);
}

const resolveAgainst = (dir: string) => (v: string) =>
  v === '' || v === 'default' || v === 'input' || path.isAbsolute(v) ? v : path.resolve(dir, v);
const relativeTo = (dir: string) => (v: string) =>
  path.isAbsolute(v) ? path.relative(dir, v).split(path.sep).join('/') : v;

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    out[k] = isPlain(b) && isPlain(v) ? merge(b, v) : v;
  }
  return out;
}

const isPlain = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** JSON with sorted keys, so equal recipes hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlain(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

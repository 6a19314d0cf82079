// Where cost tables come from: an ONNX file, or a builder config (the embedded
// default SD-v1.5, and the reference models the phone rows were measured on)
// built graph-only in memory. Tables are cached on disk, keyed by the bytes
// they came from, the bound dims and TABLE_VERSION (and, for configs, the
// builder's sources), so a what-if on the default model skips building,
// inferring and analysing 8,000 nodes. The graph machinery is imported only
// on a cache miss: a warm `whatif` loads none of it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';
import type { InputBinding } from '../../ir/bind.ts';
import type { Graph } from '../../ir/graph.ts';
import { TABLE_VERSION, type CostTable } from './format.ts';
import { PROJECT_ROOT } from '../../root.ts';
import type { ModelName } from '../../model-names.ts';

export type ModelSource =
  | { kind: 'file'; file: string }
  /** A builder config (models/<family>/<part>.json): built graph-only, in memory. */
  | { kind: 'config'; file: string };

const ROOT = PROJECT_ROOT;
/** The builder's file for each part of a model family (as in builder/default-model.ts). */
const CONFIG_FILES: Record<ModelName, string> = {
  unet: 'unet.json',
  vae_decoder: 'vae.json',
  text_encoder: 'text_encoder.json',
};

export function cacheDir(): string {
  return process.env.POCKETDIFF_CACHE ?? path.join(ROOT, 'node_modules', '.cache', 'pocketdiff', 'cost');
}

/** The config of one part of a model family (models/sd15/unet.json). */
export function familyConfig(part: ModelName, family = 'sd15'): string {
  return path.join(ROOT, 'models', family, CONFIG_FILES[part]);
}

/** A recipe's model reference ('default' or a path) for one part. */
export function sourceOf(ref: string, part: ModelName, family = 'sd15'): ModelSource {
  return ref === 'default' ? { kind: 'config', file: familyConfig(part, family) } : { kind: 'file', file: ref };
}

/** The graph of a source, shape-inferred with `dims` over the defaults. */
export async function loadSourceGraph(
  src: ModelSource,
  bindings: InputBinding[],
  dims: Record<string, number>,
  log: DiagnosticLog,
  at?: Location,
): Promise<Graph | undefined> {
  const { ensureShapes } = await import('../../ir/bind.ts');
  let g: Graph | undefined;
  if (src.kind === 'file') {
    const [{ loadModel }, { importGraph }] = await Promise.all([
      import('../../onnx/model.ts'),
      import('../../ir/import.ts'),
    ]);
    const m = loadModel(src.file, log);
    g = m && importGraph(m, log);
  } else {
    if (!fs.existsSync(src.file)) {
      log.error(Code.ReferenceModel, `model config not found: ${src.file}`, at);
      return undefined;
    }
    const { buildGraph, planModel } = await import('../../builder/build.ts');
    const planned = planModel(src.file, log);
    g = planned && buildGraph(planned, { weights: 'none', seed: 0, dtype: 'float32', opset: 14 });
  }
  if (!g) return undefined;
  return ensureShapes(g, bindings, dims, log, src.file) ? g : undefined;
}

/** The cost table of a source at `dims`, from the cache when its bytes are unchanged. */
/** A rewrite of a source's graph before it is tabled (a recipe's passes), named for the cache. */
export interface SourceTransform {
  /** Everything the rewrite depends on, as text: part of the cache key. */
  key: string;
  run(g: Graph, log: DiagnosticLog): boolean;
}

export async function sourceTable(
  src: ModelSource,
  bindings: InputBinding[],
  dims: Record<string, number>,
  log: DiagnosticLog,
  at?: Location,
  opts: { width?: boolean; transform?: SourceTransform } = {},
): Promise<CostTable | undefined> {
  const width = opts.width ?? true;
  const key = cacheKey(src, bindings, dims, width, opts.transform?.key);
  const file = key && path.join(cacheDir(), `${key}.json`);
  if (file) {
    try {
      const t = JSON.parse(fs.readFileSync(file, 'utf8')) as CostTable;
      if (t.version === TABLE_VERSION) return t;
    } catch {
      // not cached yet
    }
  }
  const g = await loadSourceGraph(src, bindings, dims, log, at);
  if (!g || (opts.transform && !opts.transform.run(g, log))) return undefined;
  const { buildCostTable } = await import('./build.ts');
  const t = buildCostTable(
    g,
    { model: path.relative(process.cwd(), src.file) || src.file, noWidth: !width },
    log,
    at ?? { file: src.file },
  );
  if (t && file) writeCache(file, t);
  return t;
}

/** Tables kept in the cache; the least recently written go first. */
const CACHE_ENTRIES = 256;

function writeCache(file: string, t: CostTable): void {
  try {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.partial`;
    fs.writeFileSync(tmp, JSON.stringify(t));
    fs.renameSync(tmp, file);
    const entries = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ f, t: fs.statSync(path.join(dir, f)).mtimeMs }));
    entries.sort((a, b) => b.t - a.t);
    for (const e of entries.slice(CACHE_ENTRIES)) fs.rmSync(path.join(dir, e.f), { force: true });
  } catch {
    // A read-only cache only costs time.
  }
}

function cacheKey(
  src: ModelSource,
  bindings: InputBinding[],
  dims: Record<string, number>,
  width: boolean,
  transform?: string,
): string | undefined {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(src.file);
  } catch {
    return undefined;
  }
  const h = crypto.createHash('sha256').update(`v${TABLE_VERSION}\0${src.kind}\0`).update(bytes);
  h.update(JSON.stringify({ bindings, dims: Object.entries(dims).sort(), width, transform }));
  // A built graph also depends on the builder's code.
  if (src.kind === 'config') h.update(builderStamp());
  return `${path.basename(src.file, path.extname(src.file))}-${h.digest('hex').slice(0, 24)}`;
}

let stamp: string | undefined;
function builderStamp(): string {
  if (stamp !== undefined) return stamp;
  const h = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(e.name).update(fs.readFileSync(p));
    }
  };
  try {
    walk(path.join(ROOT, 'src', 'builder'));
  } catch {
    // no builder sources: configs cannot be built anyway
  }
  stamp = h.digest('hex');
  return stamp;
}

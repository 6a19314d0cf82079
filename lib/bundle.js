// The sources are TypeScript. Run through tsx, every start transpiles the modules it
// loads again (about a quarter of a second, as much as a 1 GiB convert's copying takes),
// so the first start bundles src/ with esbuild into node_modules/.cache/pocketdiff/js/<hash
// of the sources>/ and later starts import that plain JavaScript: the CLI (cli.js) and
// the library (api.js) from one build. An edit to src/ changes the hash, so the copy is
// never stale. Where the copy cannot be built or written (a read-only install), or with
// POCKETDIFF_TSX=1, callers run the sources through tsx as before.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'pocketdiff', 'js');
/** Bumped when the bundling options below change, so older copies are not reused. */
const LAYOUT = 'esm-splitting-2';
/** Copies not used for this long are removed when a new one is written. */
const STALE_MS = 24 * 3600 * 1000;
const ENTRIES = ['cli', 'api'];

/** The module src/<entry>.ts (`cli` or `api`): from the bundled copy, else through tsx. */
export async function load(entry) {
  const file = await bundled(entry);
  if (file) {
    // Stack traces of internal errors then name src/*.ts lines, not the bundle's.
    process.setSourceMapsEnabled(true);
    return import(pathToFileURL(file).href);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(path.join(SRC, `${entry}.ts`)).href);
}

/**
 * The bundled entry (`cli` or `api`) for the sources as they are now, built first if
 * needed; undefined where it cannot be, or with POCKETDIFF_TSX=1.
 */
async function bundled(entry) {
  if (process.env.POCKETDIFF_TSX === '1') return undefined;
  try {
    return await transpiled(entry);
  } catch {
    return undefined;
  }
}

async function transpiled(entry) {
  const dir = path.join(CACHE, sourceHash());
  const file = path.join(dir, `${entry}.js`);
  if (fs.existsSync(file)) return file;
  const { build } = await import('esbuild');
  // Built beside its final place and renamed in whole: a concurrent start sees either
  // no copy or a complete one.
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await build({
    entryPoints: ENTRIES.map((e) => path.join(SRC, `${e}.ts`)),
    outdir: tmp,
    bundle: true,
    splitting: true, // commands stay separate chunks, loaded on use as in src/cli.ts
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(file)) throw e;
  }
  prune(dir);
  return file;
}

/** A hash of every file under src/ (names and contents), esbuild's version and LAYOUT. */
function sourceHash() {
  const h = crypto.createHash('sha256').update(LAYOUT);
  const files = fs
    .readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath ?? d.path, d.name))
    .sort();
  for (const f of files) h.update(path.relative(SRC, f)).update('\0').update(fs.readFileSync(f)).update('\0');
  const pkg = path.join(ROOT, 'node_modules', 'esbuild', 'package.json');
  if (fs.existsSync(pkg)) h.update(JSON.parse(fs.readFileSync(pkg, 'utf8')).version);
  return h.digest('hex').slice(0, 16);
}

/** Removes copies of older sources written over a day ago (a long run may still be loading chunks from a recent one). */
function prune(keep) {
  for (const name of fs.readdirSync(CACHE)) {
    const p = path.join(CACHE, name);
    if (p === keep) continue;
    try {
      if (Date.now() - fs.statSync(p).mtimeMs > STALE_MS) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another start removed it first
    }
  }
}

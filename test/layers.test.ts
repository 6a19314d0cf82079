// The layering of src/, read off the imports themselves: every import points
// down the floors below (or stays on its own floor), and no modules import
// each other in a circle except through `import type`, which TypeScript
// erases. A new folder or top-level file must be given a floor here.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/** Top to bottom: a unit (a folder under src/, or a top-level file) may import its own floor and the floors below. */
const FLOORS: readonly (readonly string[])[] = [
  ['cli'],
  ['commands'],
  ['api'],
  ['compile', 'evolve', 'distill', 'schemas'],
  ['run'],
  ['steps'],
  ['codegen', 'report', 'artifact'],
  ['cost'],
  ['passes', 'builder'],
  ['blocks', 'schedule', 'recipe', 'devices', 'runtime'],
  ['ir', 'schema', 'precision'],
  ['onnx'],
  ['codes', 'diagnostics', 'scratch', 'root', 'version', 'text', 'model-names', 'random'],
];

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
  line: number;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Static imports and re-exports, and dynamic import('…') calls, of relative modules. */
export function importsOf(file: string): Import[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: Import[] = [];
  const lineAt = (i: number) => text.slice(0, i).split('\n').length;
  const add = (spec: string, typeOnly: boolean, at: number) => {
    if (!spec.startsWith('.')) return;
    out.push({ from: file, to: path.normalize(path.join(path.dirname(file), spec)), typeOnly, line: lineAt(at) });
  };
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?(?:([^;'"]*?)\s+from\s+)?'([^']+)'/gm)) {
    const names = m[3] ?? '';
    const braces = /^\{([^}]*)\}$/.exec(names.trim());
    // `import { type A, type B }` is erased as wholly as `import type { A, B }`.
    const allTyped =
      !!braces &&
      braces[1]!
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .every((s) => s.startsWith('type '));
    add(m[4]!, !!m[2] || allTyped, m.index);
  }
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) add(m[1]!, false, m.index);
  return out;
}

const unitOf = (file: string): string => {
  const [first, ...rest] = path.relative('src', file).split(path.sep);
  return rest.length ? first! : first!.replace(/\.ts$/, '');
};

const files = sourceFiles('src');
const imports = files.flatMap(importsOf);
const floorOf = new Map(FLOORS.flatMap((units, i) => units.map((u) => [u, i] as const)));

test('every unit of src/ has a floor, and every floor names a unit that exists', () => {
  const units = new Set(files.map(unitOf));
  for (const u of units) assert.ok(floorOf.has(u), `src/${u} is on no floor: add it to FLOORS in test/layers.test.ts`);
  for (const u of floorOf.keys()) assert.ok(units.has(u), `FLOORS names '${u}', which src/ does not have`);
});

test('every import resolves to a file', () => {
  for (const i of imports) assert.ok(fs.existsSync(i.to), `${i.from}:${i.line} imports ${i.to}, which does not exist`);
});

test('no import points up a floor', () => {
  const up = imports
    .filter((i) => (floorOf.get(unitOf(i.from)) ?? 0) > (floorOf.get(unitOf(i.to)) ?? 0))
    .map((i) => `${i.from}:${i.line} (${unitOf(i.from)}) imports ${i.to} (${unitOf(i.to)}, a floor above)`);
  assert.equal(up, []);
});

/** Strongly connected components of more than one node (or a self-loop), by Tarjan. */
function circles(edges: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || edges.get(v)?.has(v)) out.push(scc.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

function graph(key: (file: string) => string): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    if (i.typeOnly || key(i.from) === key(i.to)) continue;
    if (!edges.has(key(i.from))) edges.set(key(i.from), new Set());
    edges.get(key(i.from))!.add(key(i.to));
  }
  return edges;
}

test('no circle of value imports between modules', () => {
  assert.equal(circles(graph((f) => f)), []);
});

test('no circle of value imports between units on one floor', () => {
  assert.equal(circles(graph(unitOf)), []);
});

test('the check itself sees an upward import and a circle', () => {
  const g = new Map([
    ['a', new Set(['b'])],
    ['b', new Set(['c'])],
    ['c', new Set(['a'])],
    ['d', new Set(['a'])],
  ]);
  assert.equal(circles(g), [['a', 'b', 'c']]);
  const probe = importsOf('src/cli.ts');
  assert.ok(
    probe.some((i) => i.to === path.normalize('src/commands/compile.ts') && !i.typeOnly),
    'dynamic imports are read',
  );
});

test.run();

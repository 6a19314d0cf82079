// `pocketdiff check` on the broken-recipe corpus (test/recipes/broken/, each
// file one user mistake): how long a check takes to find the mistake, in
// process through the CLI as the test runs it. One untimed pass loads what
// the commands load lazily; then ROUNDS passes, each recipe's median kept.
// The per-recipe verdicts are test/recipe-errors.test.ts's business; here a
// check that does not exit 2 with one error stops the bench, so it never
// times something else.
//
//   node --import tsx bench/recipe-check.ts
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { main } from '../src/cli.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { median } from './stats.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIR = path.join(ROOT, 'test', 'recipes', 'broken');
const ROUNDS = 3;

export interface RecipeCheckBench {
  recipes: number;
  /** Sum over the recipes of each one's median check time. */
  total_ms: number;
  slowest: { name: string; ms: number }[];
  /** How many recipes gave each diagnostic code. */
  codes: Record<string, number>;
}

export async function benchRecipeCheck(): Promise<RecipeCheckBench> {
  const files = fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const codes: Record<string, number> = {};
  const check = async (name: string, count: boolean) => {
    const log = new DiagnosticLog();
    const out: string[] = [];
    const sink = (t: string) => void out.push(t);
    const t0 = performance.now();
    const status = await main(['check', path.join(DIR, name)], { log, stdout: sink, stderr: sink });
    const ms = performance.now() - t0;
    const errors = log.errors();
    if (status !== 2 || errors.length !== 1)
      throw new Error(
        `${name}: exit ${status}, ${errors.length} errors (test/recipe-errors.test.ts says why)\n${log.items.map(formatDiagnostic).join('\n') || out.join('\n')}`,
      );
    if (count) codes[errors[0].code] = (codes[errors[0].code] ?? 0) + 1;
    return ms;
  };
  for (const f of files) await check(f, true);
  const times = new Map(files.map((f) => [f, [] as number[]]));
  for (let r = 0; r < ROUNDS; r++) for (const f of files) times.get(f)!.push(await check(f, false));
  const medians = files.map((name) => ({ name, ms: median(times.get(name)!) }));
  const result: RecipeCheckBench = {
    recipes: files.length,
    total_ms: medians.reduce((s, t) => s + t.ms, 0),
    slowest: [...medians].sort((a, b) => b.ms - a.ms).slice(0, 3),
    codes: Object.fromEntries(Object.entries(codes).sort()),
  };
  console.log(
    `recipe check: ${result.recipes} broken recipes, ${(result.total_ms / 1000).toFixed(2)} s in all (median of ${ROUNDS} after a warm-up pass); slowest ${result.slowest.map((t) => `${t.name} ${t.ms.toFixed(0)} ms`).join(', ')}`,
  );
  console.log(
    `  one coded error each: ${Object.entries(result.codes)
      .map(([c, n]) => `${c}×${n}`)
      .join(' ')}`,
  );
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await benchRecipeCheck();

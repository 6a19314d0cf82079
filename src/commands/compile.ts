// pocketdiff compile RECIPE.yaml [--out DIR] [--force] [--json] [--graph-only]
// pocketdiff check RECIPE.yaml
import * as api from '../api.ts';
import { Code } from '../codes.ts';
import { parse } from './args.ts';
import { Exit, type Command, type CommandContext } from './command.ts';
import { ProgressBar } from '../builder/progress.ts';
import { fmt, fmtInterval } from '../text/numbers.ts';
import { shownPath } from '../text/paths.ts';

const usage = 'pocketdiff compile RECIPE.yaml [--out DIR] [--force] [--json] [--graph-only]';

export const compile: Command = {
  name: 'compile',
  usage,
  summary: 'compile a recipe into per-device artifacts under out/<recipe>/<device>/',
  async run(argv, ctx) {
    const args = parse(
      argv,
      {
        out: { type: 'string' },
        json: { type: 'boolean' },
        'graph-only': { type: 'boolean' },
        force: { type: 'boolean' },
      },
      usage,
      ctx.log,
    );
    if (!args) return Exit.Usage;
    const file = onePositional(args.positionals, usage, ctx);
    if (!file) return Exit.Usage;
    const bars = new Map<string, ProgressBar>();
    const onProgress = (what: string, done: number, total: number) => {
      let bar = bars.get(what);
      if (!bar) bars.set(what, (bar = new ProgressBar(`writing ${what}`)));
      bar.update(done, total);
      if (done >= total) bar.finish();
    };
    const out = await api.compile(file, {
      out: args.values.out,
      graphOnly: args.values['graph-only'],
      force: args.values.force,
      onProgress,
      progress: process.stderr,
    });
    ctx.log.items.push(...out.diagnostics);
    if (!out.result) return Exit.Error;
    const { artifacts, budget_exceeded } = out.result;
    if (args.values.json) ctx.stdout(JSON.stringify(out.result, null, 2));
    else {
      for (const a of artifacts) {
        const p = a.predicted_ms === undefined ? '' : `  (${prediction(a)})`;
        ctx.stdout(`${a.device}: ${shownPath(a.dir)}${a.status === 'up to date' ? ' up to date' : ''}${p}`);
      }
    }
    return budget_exceeded.length ? Exit.Budget : Exit.Ok;
  },
};

const checkUsage = 'pocketdiff check RECIPE.yaml [--json]';

export const check: Command = {
  name: 'check',
  usage: checkUsage,
  summary:
    "compile without writing: the recipe against its models (read without weights), its targets' predictions against their budgets",
  async run(argv, ctx) {
    const args = parse(argv, { json: { type: 'boolean' } }, checkUsage, ctx.log);
    if (!args) return Exit.Usage;
    const file = onePositional(args.positionals, checkUsage, ctx);
    if (!file) return Exit.Usage;
    const out = await api.check(file);
    ctx.log.items.push(...out.diagnostics);
    if (!out.result) return Exit.Error;
    const { targets, budget_exceeded } = out.result;
    if (args.values.json) ctx.stdout(JSON.stringify(out.result, null, 2));
    else {
      ctx.stdout(`${file}: ${budget_exceeded.length ? `over budget on ${budget_exceeded.join(', ')}` : 'ok'}`);
      for (const t of targets) if (t.predicted_ms !== undefined) ctx.stdout(`  ${t.device}: ${prediction(t)}`);
    }
    return budget_exceeded.length ? Exit.Budget : Exit.Ok;
  },
};

/** `predicted 1,738 ms (80%: 950–2,672) of a 2,000 ms budget`, as compile and check print it. */
function prediction(a: api.CheckedTarget): string {
  const iv = a.interval_80 ? ` (80%: ${fmtInterval(a.interval_80)})` : '';
  return `predicted ${fmt(a.predicted_ms!)} ms${iv}${a.budget_ms !== undefined ? ` of a ${fmt(a.budget_ms)} ms budget${a.within_budget ? '' : ': OVER'}` : ''}`;
}

function onePositional(p: string[], use: string, ctx: CommandContext): string | undefined {
  if (p.length === 1) return p[0];
  ctx.log.error(Code.Usage, `expected one RECIPE.yaml\nusage: ${use}`);
  return undefined;
}

// pocketdiff evolve RECIPE.yaml --device D (--budget-ms B | --unet-budget-ms B) [--prompts FILE] [--samples N] [--seed S]
//   [--metric latent|clip] [--clip-text M.onnx --clip-vision M.onnx] [--resolution PX] [--group N] [--cache DIR] [--queue URL] [--out EVOLVED.yaml] [--json]
// SnapFusion's architecture evolving: the best UNet the recipe's blocks allow
// within a latency budget on a device, as a recipe that extends the input.
import { evolve } from '../evolve/run.ts';
import { parse, usageError } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage =
  'pocketdiff evolve RECIPE.yaml --device D (--budget-ms B | --unet-budget-ms B) [--prompts FILE] [--samples N] [--seed S] [--metric latent|clip] [--clip-text M.onnx --clip-vision M.onnx] [--resolution PX] [--group N] [--cache DIR] [--queue redis://HOST:PORT[/DB]] [--out EVOLVED.yaml] [--json]';

export const evolveCommand: Command = {
  name: 'evolve',
  usage,
  summary:
    "SnapFusion's architecture evolving: remove the least valuable UNet blocks per ms until a device budget holds, then add the most valuable that fit; writes a recipe",
  async run(argv, ctx) {
    const args = parse(
      argv,
      {
        device: { type: 'string' },
        'budget-ms': { type: 'string' },
        'unet-budget-ms': { type: 'string' },
        prompts: { type: 'string' },
        samples: { type: 'string' },
        seed: { type: 'string' },
        metric: { type: 'string' },
        'clip-text': { type: 'string' },
        'clip-vision': { type: 'string' },
        resolution: { type: 'string' },
        group: { type: 'string' },
        cache: { type: 'string' },
        queue: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
      },
      usage,
      ctx.log,
    );
    if (!args) return Exit.Usage;
    const bad = usageError(ctx.log, usage, Exit.Usage);
    const [file, ...extra] = args.positionals;
    const v = args.values;
    if (!file || extra.length) return bad('expected one RECIPE.yaml');
    if (!v.device) return bad('--device is required');
    if ((v['budget-ms'] === undefined) === (v['unet-budget-ms'] === undefined))
      return bad('give one of --budget-ms (one image) and --unet-budget-ms (one UNet step)');
    const budgetText = v['budget-ms'] ?? v['unet-budget-ms']!;
    const budget = Number(budgetText);
    if (!(Number.isFinite(budget) && budget > 0))
      return bad(`the budget must be a positive number of milliseconds, not '${budgetText}'`);
    const int = (name: string, text: string | undefined, def: number, min: number, max: number): number | undefined => {
      if (text === undefined) return def;
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < min || n > max) {
        bad(`--${name} must be an integer from ${min} to ${max}, not '${text}'`);
        return undefined;
      }
      return n;
    };
    const samples = int('samples', v.samples, 4, 1, 1024);
    const seed = int('seed', v.seed, 0, 0, 2 ** 32 - 1);
    const group = int('group', v.group, 1, 1, 64);
    const resolution = v.resolution === undefined ? undefined : int('resolution', v.resolution, 512, 16, 4096);
    if (
      samples === undefined ||
      seed === undefined ||
      group === undefined ||
      (v.resolution !== undefined && resolution === undefined)
    )
      return Exit.Usage;

    const result = await evolve(
      file,
      {
        device: v.device,
        budget,
        objective: v['budget-ms'] !== undefined ? 'image' : 'unet-step',
        prompts: v.prompts,
        samples,
        seed,
        metric: v.metric ?? 'latent',
        clipText: v['clip-text'],
        clipVision: v['clip-vision'],
        resolution,
        out: v.out,
        group,
        cache: v.cache,
        queue: v.queue,
        onProgress: (line) => ctx.stderr(line),
      },
      ctx.log,
    );
    if (!result) return Exit.Error;
    const l = result.summary;
    if (v.json) {
      ctx.stdout(
        JSON.stringify(
          {
            recipe: result.recipe,
            log: result.log,
            report: result.report,
            met: result.met,
            budget_ms: l.budget_ms,
            objective: l.objective,
            predicted_ms: result.predicted_ms,
            start: l.start,
            end: l.end,
            floor_ms: l.floor_ms,
            rounds: l.rounds.length,
            removed: l.removed,
            added: l.added,
            scores: result.scores,
          },
          null,
          2,
        ),
      );
    } else {
      const ms = (n: number) => `${n.toLocaleString('en-US', { maximumFractionDigits: n >= 100 ? 0 : 2 })} ms`;
      ctx.stdout(
        [
          `wrote ${result.recipe} (${l.rounds.length} rounds; removed ${l.removed.length}: ${l.removed.join(', ') || 'none'}; added ${l.added.length}${l.added.length ? `: ${l.added.join(', ')}` : ''})`,
          `predicted ${ms(l.start.ms)} → ${ms(result.predicted_ms)}${l.end.interval_80 ? ` (80%: ${ms(l.end.interval_80[0])}–${ms(l.end.interval_80[1])})` : ''} ${l.objective === 'image' ? 'per image' : 'per UNet step'} on ${l.device}, budget ${ms(l.budget_ms)}; quality ${l.start.quality.toPrecision(4)} → ${l.end.quality.toPrecision(4)} (${l.metric})`,
          `log ${result.log}, report ${result.report}; scores: ${result.scores.computed} computed, ${result.scores.reused} reused from the cache`,
        ].join('\n'),
      );
    }
    return result.met ? Exit.Ok : Exit.Budget;
  },
};

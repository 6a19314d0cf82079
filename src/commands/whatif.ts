// pocketdiff whatif RECIPE.yaml --device D [--remove SEL]… [--duplicate SEL]… [--width [MODEL/]SEL=R]… [--steps N] [--quantize SCHEME] [--json]
// A recipe's image latency on a device, per component, with its 80% interval,
// with extra edits, and the difference they make against the recipe's own
// plan. It prices the recipe through the same plan compile does
// (steps/recipe-cost.ts). Needs no weights.
import * as api from '../api.ts';
import { Code } from '../codes.ts';

import type { WhatIfReport } from '../steps/whatif.ts';
import { fmt, fmtInterval } from '../text/numbers.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';
import { MODEL_NAMES } from '../model-names.ts';

const usage =
  'pocketdiff whatif RECIPE.yaml --device D [--remove SEL]… [--duplicate SEL]… [--width [MODEL/]SEL=R]… [--steps N] [--quantize SCHEME] [--json]';

export const whatif: Command = {
  name: 'whatif',
  usage,
  summary:
    "a recipe's image latency on a device per component, with its 80% interval and extra edits, against its own plan",
  async run(argv, { log, stdout }) {
    const args = parse(
      argv,
      {
        device: { type: 'string' },
        remove: { type: 'string', multiple: true },
        duplicate: { type: 'string', multiple: true },
        width: { type: 'string', multiple: true },
        steps: { type: 'string' },
        quantize: { type: 'string' },
        json: { type: 'boolean' },
      },
      usage,
      log,
    );
    if (!args) return Exit.Usage;
    const [file, ...rest] = args.positionals;
    const v = args.values;
    if (!file || rest.length || !v.device) {
      log.error(Code.Usage, `expected one RECIPE.yaml and --device\nusage: ${usage}`);
      return Exit.Usage;
    }
    const steps = v.steps === undefined ? undefined : Number(v.steps);
    if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1 && steps <= 1000)) {
      log.error(Code.Usage, `--steps must be an integer from 1 to 1000, not '${v.steps}'`);
      return Exit.Usage;
    }
    const out = await api.whatif(file, {
      device: v.device,
      remove: v.remove,
      duplicate: v.duplicate,
      width: v.width,
      steps,
      quantize: v.quantize,
    });
    log.items.push(...out.diagnostics);
    if (!out.result) return Exit.Error;
    stdout(v.json ? JSON.stringify(out.result, null, 2) : formatWhatIf(file, out.result));
    return Exit.Ok;
  },
};

export function formatWhatIf(file: string, r: WhatIfReport): string {
  const c = r.components;
  const te = c.text_encoder.ms * c.text_encoder.runs;
  const unet = c.unet.ms_per_step * c.unet.steps;
  const row = (name: string, detail: string, ms: number) =>
    `  ${name.padEnd(13)} ${detail.padEnd(34)} ${fmt(ms).padStart(9)} ms  ${((ms / r.total_ms) * 100).toFixed(1).padStart(5)}%`;
  const sign = r.delta_ms >= 0 ? '+' : '−';
  const precisions = [...new Set(Object.values(r.precision))];
  return [
    `${file} on ${r.device}`,
    row('text encoder', `${fmt(c.text_encoder.ms)} ms × ${c.text_encoder.runs} runs`, te),
    row(
      'unet',
      `${fmt(c.unet.ms_per_step)} ms/step × ${c.unet.steps} steps${c.unet.calls_per_step > 1 ? ` (${c.unet.calls_per_step} calls/step)` : ''}`,
      unet,
    ),
    row('vae decoder', '', c.vae_decoder.ms),
    `  ${'total'.padEnd(48)} ${fmt(r.total_ms).padStart(9)} ms${r.interval_80 ? ` (80%: ${fmtInterval(r.interval_80)})` : ''}  (${sign}${fmt(Math.abs(r.delta_ms))} ms vs the recipe's plan)`,
    `  ${'uncompressed'.padEnd(13)} ${'source models, same steps'.padEnd(34)} ${fmt(r.baseline.total_ms).padStart(9)} ms  (${r.baseline.saved_ms >= 0 ? `saves ${fmt(r.baseline.saved_ms)} ms, −${r.baseline.saved_pct.toFixed(1)}%` : `costs ${fmt(-r.baseline.saved_ms)} ms more`})`,
    '',
    `guidance: ${r.guidance}; precision: ${precisions.length === 1 ? precisions[0] : MODEL_NAMES.map((k) => `${k.replace('_', ' ')} ${r.precision[k]}`).join(', ')}`,
    '',
    'top blocks:',
    ...r.top_blocks.map((b) => `  ${b.name.padEnd(48)} ${fmt(b.ms).padStart(9)} ms`),
  ].join('\n');
}

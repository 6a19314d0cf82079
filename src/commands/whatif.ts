// pocketdiff whatif RECIPE.yaml --device D [--remove SEL]… [--duplicate SEL]… [--width SEL=R]… [--steps N] [--quantize SCHEME] [--json]
// A recipe's image latency on a device, per component, with extra edits, and
// the difference they make against the recipe's own plan. Needs no weights.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice } from '../devices/index.ts';
import { effectivePrecision, QUANTIZE_SCHEMES } from '../cost/plan.ts';
import type { PipelinePrediction } from '../cost/pipeline-cost.ts';
import { recipeCost, recipeEdits } from '../cost/recipe.ts';
import type { BlockEdits } from '../cost/whatif.ts';
import { loadRecipe } from '../recipe/load.ts';
import { closest } from '../text/did-you-mean.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';
import { fmt, round } from './predict.ts';

const usage = 'pocketdiff whatif RECIPE.yaml --device D [--remove SEL]… [--duplicate SEL]… [--width SEL=R]… [--steps N] [--quantize SCHEME] [--json]';

export interface WhatIfReport {
  device: string;
  steps: number;
  components: {
    /** ms per run. */
    text_encoder: { ms: number; runs: number };
    unet: { ms_per_step: number; calls_per_step: number; steps: number };
    vae_decoder: { ms: number };
  };
  total_ms: number;
  /** total_ms minus the recipe's own plan on this device. */
  delta_ms: number;
}

export interface WhatIfRequest {
  device: string;
  remove?: string[];
  duplicate?: string[];
  width?: string[];
  steps?: number;
  quantize?: string;
}

export async function whatIf(recipeFile: string, req: WhatIfRequest, log: DiagnosticLog): Promise<{ report: WhatIfReport; prediction: PipelinePrediction } | undefined> {
  const loaded = loadRecipe(recipeFile, log);
  if (!loaded) return undefined;
  const profile = loadDevice(req.device, log);
  if (!profile) return undefined;
  let scheme;
  if (req.quantize !== undefined) {
    scheme = QUANTIZE_SCHEMES[req.quantize];
    if (!scheme) {
      const names = Object.keys(QUANTIZE_SCHEMES);
      const guess = closest(req.quantize, names);
      log.error(Code.UnknownQuantize, `unknown --quantize scheme '${req.quantize}'${guess ? `; did you mean '${guess}'?` : ''}`, undefined, [`schemes: ${names.join(', ')}`]);
      return undefined;
    }
    const eff = effectivePrecision(profile, scheme);
    if (eff.fellBack) {
      log.warn(Code.PrecisionFallback, `${profile.name} does not compute in ${scheme.compute}: --quantize ${req.quantize} is priced as ${eff.precision.compute} compute with ${eff.precision.weights} weights`);
    }
    scheme = eff.precision;
  }
  const widths: BlockEdits['width'] = [];
  for (const text of req.width ?? []) {
    const m = /^(.+)=(\d*\.?\d+)$/.exec(text);
    const ratio = m ? Number(m[2]) : NaN;
    if (!m || !(ratio > 0 && ratio <= 4)) {
      log.error(Code.BadWidth, `--width '${text}' is not SEL=R with 0 < R ≤ 4 (e.g. --width 'up_blocks.*.resnets.*=0.75')`);
      continue;
    }
    widths.push({ selector: m[1], ratio });
  }
  if (log.hasErrors) return undefined;
  const own = await recipeCost(loaded, profile, log);
  const edited = scheme ? await recipeCost(loaded, profile, log, scheme) : own;
  if (!own || !edited) return undefined;
  const base = own.unet.variant();
  if (!own.unet.apply(base, recipeEdits(loaded), log)) return undefined;
  const variant = edited.unet.variant();
  edited.unet.apply(variant, recipeEdits(loaded), log);
  const extra: BlockEdits = {
    remove: (req.remove ?? []).map((selector) => ({ selector })),
    duplicate: (req.duplicate ?? []).map((selector) => ({ selector })),
    width: widths,
  };
  if (!edited.unet.apply(variant, extra, log)) return undefined;
  const steps = req.steps ?? loaded.recipe.schedule.steps;
  const before = own.predict(base);
  const after = edited.predict(variant, steps);
  const c = after.components;
  return {
    prediction: after,
    report: {
      device: profile.name,
      steps,
      components: {
        text_encoder: { ms: round(c.text_encoder!.ms), runs: c.text_encoder!.runs },
        unet: { ms_per_step: round(c.unet.ms_per_step), calls_per_step: c.unet.calls_per_step, steps },
        vae_decoder: { ms: round(c.vae_decoder!.ms) },
      },
      total_ms: round(after.total_ms),
      delta_ms: round(after.total_ms - before.total_ms),
    },
  };
}

export const whatif: Command = {
  name: 'whatif',
  usage,
  summary: "a recipe's image latency on a device per component, with extra edits, against its own plan",
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
    const out = await whatIf(file, { device: v.device, remove: v.remove, duplicate: v.duplicate, width: v.width, steps, quantize: v.quantize }, log);
    if (!out) return Exit.Error;
    stdout(v.json ? JSON.stringify(out.report, null, 2) : formatWhatIf(file, out.report, out.prediction));
    return Exit.Ok;
  },
};

export function formatWhatIf(file: string, r: WhatIfReport, p: PipelinePrediction): string {
  const c = r.components;
  const te = c.text_encoder.ms * c.text_encoder.runs;
  const unet = c.unet.ms_per_step * c.unet.steps;
  const row = (name: string, detail: string, ms: number) => `  ${name.padEnd(13)} ${detail.padEnd(34)} ${fmt(ms).padStart(9)} ms  ${((ms / r.total_ms) * 100).toFixed(1).padStart(5)}%`;
  const sign = r.delta_ms >= 0 ? '+' : '−';
  return [
    `${file} on ${r.device}`,
    row('text encoder', `${fmt(c.text_encoder.ms)} ms × ${c.text_encoder.runs} runs`, te),
    row('unet', `${fmt(c.unet.ms_per_step)} ms/step × ${c.unet.steps} steps${c.unet.calls_per_step > 1 ? ` (${c.unet.calls_per_step} calls/step)` : ''}`, unet),
    row('vae decoder', '', c.vae_decoder.ms),
    `  ${'total'.padEnd(48)} ${fmt(r.total_ms).padStart(9)} ms  (${sign}${fmt(Math.abs(r.delta_ms))} ms vs the recipe's plan)`,
    '',
    'top blocks:',
    ...p.by_block.slice(0, 8).map((b) => `  ${b.name.padEnd(48)} ${fmt(b.ms).padStart(9)} ms`),
  ].join('\n');
}

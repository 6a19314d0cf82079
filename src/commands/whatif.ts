// pocketdiff whatif RECIPE.yaml --device D [--remove SEL]… [--duplicate SEL]… [--width [MODEL/]SEL=R]… [--steps N] [--quantize SCHEME] [--json]
// A recipe's image latency on a device, per component, with its 80% interval,
// with extra edits, and the difference they make against the recipe's own
// plan. It prices the recipe through the same plan compile does
// (pipeline/recipe-cost.ts). Needs no weights.
import { Code } from '../codes.ts';
import { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice } from '../devices/index.ts';
import type { PipelinePrediction } from '../cost/whatif/pipeline-cost.ts';
import type { BlockEdits } from '../cost/whatif/whatif.ts';
import { PARTS, type Part } from '../cost/table/sources.ts';
import { guidanceWhy, planRecipe, priceRecipe, type RecipePrice } from '../pipeline/recipe-cost.ts';
import { SCHEMES, type Scheme } from '../precision.ts';
import { loadRecipe } from '../recipe/load.ts';
import { closest } from '../text/did-you-mean.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';
import { fmt, fmtInterval, round } from './predict.ts';

const usage = 'pocketdiff whatif RECIPE.yaml --device D [--remove SEL]… [--duplicate SEL]… [--width [MODEL/]SEL=R]… [--steps N] [--quantize SCHEME] [--json]';

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
  /** 80% interval of total_ms, from the profile's cross-validated errors. */
  interval_80?: [number, number];
  /** total_ms minus the recipe's own plan on this device. */
  delta_ms: number;
  /** How guidance runs (fold: auto says which it chose). */
  guidance: string;
  /** Each model's precision as priced. */
  precision: Record<Part, string>;
}

export interface WhatIfRequest {
  device: string;
  remove?: string[];
  duplicate?: string[];
  /** `[MODEL/]SELECTOR=R`: a model's widths as a recipe's `widths:` gives them (the UNet when no model is named). */
  width?: string[];
  steps?: number;
  quantize?: string;
}

export async function whatIf(recipeFile: string, req: WhatIfRequest, log: DiagnosticLog): Promise<{ report: WhatIfReport; prediction: PipelinePrediction } | undefined> {
  const loaded = loadRecipe(recipeFile, log);
  if (!loaded) return undefined;
  const profile = loadDevice(req.device, log);
  if (!profile) return undefined;
  let scheme: Scheme | undefined;
  if (req.quantize !== undefined) {
    if (!(SCHEMES as readonly string[]).includes(req.quantize)) {
      const guess = closest(req.quantize, [...SCHEMES]);
      log.error(Code.UnknownQuantize, `unknown --quantize scheme '${req.quantize}'${guess ? `; did you mean '${guess}'?` : ''}`, undefined, [`schemes: ${SCHEMES.join(', ')}`]);
      return undefined;
    }
    scheme = req.quantize as Scheme;
  }
  const own = planRecipe(loaded, profile.name);
  const edited = structuredClone(own);
  for (const text of req.width ?? []) {
    const m = /^(?:(unet|vae_decoder|text_encoder)\/)?(.+)=(\d*\.?\d+)$/.exec(text);
    const ratio = m ? Number(m[3]) : NaN;
    if (!m || !(ratio > 0 && ratio <= 1)) {
      log.error(Code.BadWidth, `--width '${text}' is not [MODEL/]SEL=R with 0 < R ≤ 1 (e.g. --width 'up_blocks.*.resnets.*=0.75' or --width 'vae_decoder/*=0.5')`, undefined, [`models: ${PARTS.join(', ')}`]);
      continue;
    }
    const part = (m[1] ?? 'unet') as Part;
    const widths = edited.models[part].widths.filter((w) => w.selector !== m[2]);
    edited.models[part].widths = [...widths, { selector: m[2], ratio }];
  }
  if (log.hasErrors) return undefined;
  const extra: BlockEdits = {
    remove: (req.remove ?? []).map((selector) => ({ selector })),
    duplicate: (req.duplicate ?? []).map((selector) => ({ selector })),
  };
  // The recipe's own plan, for the difference: its warnings are the edited plan's too, so they are said once.
  const quiet = new DiagnosticLog();
  const before = await priceRecipe(own, profile, quiet);
  for (const d of quiet.errors()) log.error(d.code, d.message, d.location, d.notes);
  if (!before) return undefined;
  const after = await priceRecipe(edited, profile, log, { extra, scheme, steps: req.steps });
  if (!after) return undefined;
  return { prediction: after.prediction, report: report(after, req.steps ?? own.steps, before.prediction.total_ms) };
}

function report(p: RecipePrice, steps: number, baseMs: number): WhatIfReport {
  const c = p.prediction.components;
  const pr = p.prediction;
  return {
    device: pr.device,
    steps,
    components: {
      text_encoder: { ms: round(c.text_encoder!.ms), runs: c.text_encoder!.runs },
      unet: { ms_per_step: round(c.unet.ms_per_step), calls_per_step: c.unet.calls_per_step, steps },
      vae_decoder: { ms: round(c.vae_decoder!.ms) },
    },
    total_ms: round(pr.total_ms),
    ...(pr.interval_80 ? { interval_80: [round(pr.interval_80[0]), round(pr.interval_80[1])] as [number, number] } : {}),
    delta_ms: round(pr.total_ms - baseMs),
    guidance: guidanceWhy(p.guidance, pr.device),
    precision: p.precision,
  };
}

export const whatif: Command = {
  name: 'whatif',
  usage,
  summary: "a recipe's image latency on a device per component, with its 80% interval and extra edits, against its own plan",
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
  const precisions = [...new Set(Object.values(r.precision))];
  return [
    `${file} on ${r.device}`,
    row('text encoder', `${fmt(c.text_encoder.ms)} ms × ${c.text_encoder.runs} runs`, te),
    row('unet', `${fmt(c.unet.ms_per_step)} ms/step × ${c.unet.steps} steps${c.unet.calls_per_step > 1 ? ` (${c.unet.calls_per_step} calls/step)` : ''}`, unet),
    row('vae decoder', '', c.vae_decoder.ms),
    `  ${'total'.padEnd(48)} ${fmt(r.total_ms).padStart(9)} ms${r.interval_80 ? ` (80%: ${fmtInterval(r.interval_80)})` : ''}  (${sign}${fmt(Math.abs(r.delta_ms))} ms vs the recipe's plan)`,
    '',
    `guidance: ${r.guidance}; precision: ${precisions.length === 1 ? precisions[0] : PARTS.map((k) => `${k.replace('_', ' ')} ${r.precision[k]}`).join(', ')}`,
    '',
    'top blocks:',
    ...p.by_block.slice(0, 8).map((b) => `  ${b.name.padEnd(48)} ${fmt(b.ms).padStart(9)} ms`),
  ].join('\n');
}

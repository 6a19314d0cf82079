// report.md: the readable account of one artifact — what went in, which
// passes changed what, what came out, and what the target is predicted to do.
import type { ModelStats } from '../blocks/analyze.ts';
import type { Manifest } from '../artifact/manifest.ts';
import type { PassRecord } from '../passes/pass.ts';
import type { ImagePrediction } from '../cost/whatif/image-cost.ts';
import type { Baseline } from './recipe-cost.ts';
import type { ModelName } from '../model-names.ts';

export interface ReportInput {
  recipeFile: string;
  /** The recipe's `description:`. */
  description?: string;
  sources: Partial<Record<ModelName, string>>;
  before: Partial<Record<ModelName, ModelStats>>;
  after: Partial<Record<ModelName, ModelStats>>;
  passes: Partial<Record<ModelName, PassRecord[]>>;
  /** The cost model's prediction for this target, with its budget, how guidance runs and each model's precision. */
  prediction?: ImagePrediction & {
    budget_ms?: number;
    guidance?: string;
    precision?: Record<string, string>;
    interval_basis?: string;
    baseline?: Baseline;
  };
}

const int = (n: number) => n.toLocaleString('en-US');
const g = (n: number | undefined) => (n === undefined ? '–' : (n / 1e9).toFixed(2));
const size = (b: number) =>
  b >= 2 ** 30
    ? `${(b / 2 ** 30).toFixed(2)} GiB`
    : b >= 2 ** 20
      ? `${(b / 2 ** 20).toFixed(1)} MiB`
      : `${(b / 1024).toFixed(1)} KiB`;

function table(head: string[], rows: string[][]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

function kindCounts(s: ModelStats | undefined): string {
  if (!s) return '–';
  const ca = s.blocks.filter((b) => b.kind === 'cross_attention').length;
  const rb = s.blocks.filter((b) => b.kind === 'resnet').length;
  return `${ca} CA, ${rb} RB`;
}

/** Guidance costs two UNet evaluations per step; say what one step costs before and after. */
function unetStep(m: Manifest, r: ReportInput): string {
  const before = r.before.unet?.macs.total;
  const after = r.after.unet?.macs.total;
  if (before === undefined || after === undefined) return '';
  const folded = m.guidance.fold === 'batch';
  return ` Per denoising step the UNet costs ${g(2 * before)} GMACs before (two batch-1 calls for guidance) and ${g(folded ? after : 2 * after)} GMACs after (${folded ? 'one batch-2 call' : 'two calls'}).`;
}

const ms = (x: number) => `${x.toFixed(1)} ms`;

/** The prediction's component rows (name, ms per image, how) and its costliest blocks, for report.md and report.html alike. */
export function predictionTables(p: NonNullable<ReportInput['prediction']>): {
  components: string[][];
  blocks: string[][];
} {
  const c = p.components;
  const calls =
    c.unet.calls_per_step === 1
      ? `1 call of batch ${c.unet.batch_per_call}`
      : `${c.unet.calls_per_step} calls of batch ${c.unet.batch_per_call}`;
  return {
    components: [
      ...(c.text_encoder
        ? [
            [
              'text encoder',
              ms(c.text_encoder.ms * c.text_encoder.runs),
              `${c.text_encoder.runs} × ${ms(c.text_encoder.ms)}`,
            ],
          ]
        : []),
      [
        'UNet',
        ms(c.unet.ms_per_step * c.unet.steps),
        `${c.unet.steps} steps × ${calls} × ${ms(c.unet.ms_per_call)} per call`,
      ],
      ...(c.vae_decoder ? [['VAE decoder', ms(c.vae_decoder.ms), '1 call']] : []),
    ],
    blocks: p.by_block.slice(0, 10).map((b) => [b.name, ms(b.ms)]),
  };
}

/** What the recipe saves against its source models, run the same way. */
export function baselineLine(b: Baseline): string {
  const change =
    b.saved_ms >= 0 ? `saves ${ms(b.saved_ms)} (−${(b.saved * 100).toFixed(1)}%)` : `costs ${ms(-b.saved_ms)} more`;
  return `Against the source models unedited (no removals or copies, every channel, float weights) with the same steps and guidance, ${ms(b.total_ms)} per image: the recipe ${change}.`;
}

/** Components first, then the blocks that cost most: where to look when over budget. */
export function predictionLines(p: NonNullable<ReportInput['prediction']>): string[] {
  const iv = p.interval_80;
  const verdict =
    p.budget_ms === undefined
      ? ''
      : p.total_ms > p.budget_ms
        ? ` — **over the ${ms(p.budget_ms)} budget by ${ms(p.total_ms - p.budget_ms)}**`
        : iv && iv[1] > p.budget_ms
          ? ` — within the ${ms(p.budget_ms)} budget, but the interval's upper end is over it`
          : ` — within the ${ms(p.budget_ms)} budget`;
  const precisions = p.precision ? [...new Set(Object.values(p.precision))] : [];
  return [
    `${ms(p.total_ms)} per image on ${p.device}${iv ? ` (80% interval: ${ms(iv[0])} to ${ms(iv[1])})` : ''}${verdict}.`,
    '',
    ...(p.baseline ? [baselineLine(p.baseline), ''] : []),
    ...(p.guidance
      ? [
          `Guidance: ${p.guidance}.${
            precisions.length
              ? ` Priced at ${
                  precisions.length === 1
                    ? precisions[0]
                    : Object.entries(p.precision!)
                        .map(([k, v]) => `${k} ${v}`)
                        .join(', ')
                }.`
              : ''
          }`,
          '',
        ]
      : []),
    ...(iv && p.interval_basis
      ? [
          `The interval: ${p.interval_basis}, widened for graphs unlike the profile's calibration rows (\`pocketdiff devices\` lists its sources).`,
          '',
        ]
      : []),
    ...table(['component', 'ms per image', 'how'], predictionTables(p).components),
    '',
    'Top blocks:',
    '',
    ...table(['block', 'ms per image'], predictionTables(p).blocks),
  ];
}

export function renderReport(m: Manifest, r: ReportInput): string {
  const comps = Object.keys(m.models) as ModelName[];
  const lines = [
    `# ${m.recipe.name} → ${m.device}`,
    '',
    ...(r.description ? [`> ${r.description}`, ''] : []),
    `Recipe \`${r.recipeFile}\` (sha256 \`${m.recipe.hash.slice(0, 16)}…\`), pocketdiff ${m.tool.version}.${m.graph_only ? ' **Graph only**: the source models had no weights, so none were written.' : ''}`,
    '',
    '## Models',
    '',
    ...table(
      [
        'model',
        'source',
        'params before',
        'params after',
        'GMACs per call before',
        'GMACs per call after',
        'blocks after',
      ],
      comps.map((c) => [
        c,
        r.sources[c] ?? '',
        int(r.before[c]?.params ?? 0),
        int(r.after[c]?.params ?? 0),
        g(r.before[c]?.macs.total),
        g(r.after[c]?.macs.total),
        c === 'unet' ? kindCounts(r.after[c]) : String(r.after[c]?.blocks.length ?? '–'),
      ]),
    ),
    '',
    `MACs are per call of each model, before and after alike${m.resolution ? ` at ${m.resolution}×${m.resolution}` : ` at a 512×512 image (${512 / (m.vae_scale_factor ?? 8)}×${512 / (m.vae_scale_factor ?? 8)} latent)`}.${unetStep(m, r)}`,
    '',
    '## Passes',
    '',
    ...table(
      ['model', 'pass', 'what it did', 'nodes removed', 'weights removed'],
      comps.flatMap((c) =>
        (r.passes[c] ?? []).map((p) => [
          c,
          p.pass,
          Object.entries(p.stats)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; '),
          int(p.nodes_removed),
          int(p.weights_removed),
        ]),
      ),
    ),
    '',
    '## Schedule and guidance',
    '',
    `${m.schedule.scheduler.toUpperCase()}, ${m.schedule.steps} steps, ${m.schedule.spacing} spacing, ${m.schedule.prediction_type} prediction${m.schedule.folded_step ? ', step folded into the UNet' : ''}.`,
    '',
    `Timesteps: ${m.schedule.timesteps.join(', ')}`,
    '',
    `Guidance scale ${m.guidance.scale}, ${m.guidance.fold === 'batch' ? 'folded into one batch-2 UNet call per step' : 'two UNet calls per step'}${m.guidance.auto ? ` (fold: auto: the cost model prices ${m.guidance.auto.batch_ms_per_step.toFixed(1)} ms per step for one batch-2 call and ${m.guidance.auto.two_calls_ms_per_step.toFixed(1)} ms for two batch-1 calls on ${m.device})` : ''}, unconditional embedding ${m.guidance.uncond === 'baked' ? 'baked in' : 'as an input'}.`,
    '',
  ];
  if (r.prediction) lines.push('## Predicted latency', '', ...predictionLines(r.prediction), '');
  lines.push(
    '## Files',
    '',
    ...table(
      ['file', 'size', 'sha256'],
      Object.entries(m.files).map(([f, h]) => [f, size(h.bytes), `\`${h.sha256}\``]),
    ),
    '',
  );
  return lines.join('\n');
}

// The local-cpu validation set: variants of the narrow SD-shaped UNet and of
// two VAE decoders (block removals, duplicates, widths, float16, other sizes
// and batches), none of them used in calibration. Each is built for real
// (builder config, the structural passes, width narrowing), measured with
// onnxruntime-node and predicted twice: from the variant's own graph
// (`predict`) and from the base model's table plus the edit (`whatif`).
import { buildGraph, planModel } from '../../builder/build.ts';
import { findBlocks } from '../../blocks/find.ts';
import type { DiagnosticLog } from '../../diagnostics.ts';
import type { DeviceProfile } from '../../devices/schema.ts';
import type { Graph } from '../../ir/graph.ts';
import { inferShapes } from '../../ir/infer/index.ts';
import { duplicateBlocks } from '../../passes/duplicate-blocks.ts';
import { runPasses } from '../../passes/pass.ts';
import { removeBlocks } from '../../passes/remove-blocks.ts';
import { globToRegExp } from '../../blocks/select.ts';
import { discard } from './local.ts';
import { feedsFor, saveForRun, type Job, type Measurement } from './measure.ts';
import { planCost } from '../roofline/plan.ts';
import { predictPlan } from '../roofline/roofline.ts';
import { buildCostTable, Kind, valueKinds, type CostTable } from '../table/build.ts';
import { ensureShapes } from '../../ir/bind.ts';
import { applyNarrow, narrowPlan } from '../table/width.ts';
import { WhatIf, type BlockEdits } from '../whatif/whatif.ts';

export interface VariantSpec {
  name: string;
  /** Builder config of the base model. */
  config: string;
  dims: Record<string, number>;
  dtype?: 'float32' | 'float16';
  edits?: BlockEdits;
}

export interface VariantResult {
  name: string;
  measured_ms: number;
  predicted_ms: number;
  whatif_ms?: number;
  macs: number;
  error: number;
  whatif_error?: number;
}

const NARROW = 'models/test/unet-sd15shape-narrow.json';
const SD_DECODER = 'models/sd15/vae.json';
const TINY_DECODER = 'models/test/vae-decoder-tiny.json';
const unet = (h: number, batch = 1) => ({ height: h, width: h, batch_size: batch });
const latent = (h: number) => ({ height_latent: h, width_latent: h, height: h, width: h });

export const VALIDATION_SET: VariantSpec[] = [
  { name: 'unet 32x32', config: NARROW, dims: unet(32) },
  { name: 'unet 24x24', config: NARROW, dims: unet(24) },
  { name: 'unet 40x40', config: NARROW, dims: unet(40) },
  { name: 'unet 32x32 batch 2', config: NARROW, dims: unet(32, 2) },
  { name: 'unet 32x32 float16', config: NARROW, dims: unet(32), dtype: 'float16' },
  {
    name: 'unet -64x64 attentions',
    config: NARROW,
    dims: unet(32),
    edits: { remove: [{ selector: 'down_blocks.0.attentions.*' }, { selector: 'up_blocks.3.attentions.*' }] },
  },
  {
    name: 'unet -mid attention -up resnets',
    config: NARROW,
    dims: unet(32),
    edits: {
      remove: [
        { selector: 'mid_block.attentions.0' },
        { selector: 'up_blocks.1.resnets.2' },
        { selector: 'up_blocks.2.resnets.2' },
      ],
    },
  },
  {
    name: 'unet -down resnets',
    config: NARROW,
    dims: unet(32),
    edits: {
      remove: [
        { selector: 'down_blocks.1.resnets.1' },
        { selector: 'down_blocks.2.resnets.1' },
        { selector: 'down_blocks.3.resnets.*' },
      ],
    },
  },
  {
    name: 'unet +attentions',
    config: NARROW,
    dims: unet(32),
    edits: { duplicate: [{ selector: 'down_blocks.1.attentions.*' }, { selector: 'mid_block.attentions.0' }] },
  },
  {
    name: 'unet +resnets',
    config: NARROW,
    dims: unet(32),
    edits: { duplicate: [{ selector: 'down_blocks.0.resnets.1' }, { selector: 'mid_block.resnets.*' }] },
  },
  {
    name: 'unet snapfusion-style',
    config: NARROW,
    dims: unet(32),
    edits: {
      remove: [
        { selector: 'down_blocks.0.attentions.*' },
        { selector: 'up_blocks.3.attentions.0' },
        { selector: 'mid_block.attentions.0' },
      ],
      duplicate: [{ selector: 'up_blocks.1.attentions.*' }],
    },
  },
  {
    name: 'unet width 0.5 resnets',
    config: NARROW,
    dims: unet(32),
    edits: { width: [{ selector: '*_blocks.*.resnets.*', ratio: 0.5 }] },
  },
  {
    name: 'unet width 0.5 attentions',
    config: NARROW,
    dims: unet(32),
    edits: { width: [{ selector: '*_blocks.*.attentions.*', ratio: 0.5 }] },
  },
  {
    name: 'unet width 1.5 mid',
    config: NARROW,
    dims: unet(32),
    edits: { width: [{ selector: 'mid_block.**', ratio: 1.5 }] },
  },
  {
    name: 'unet 24x24 float16 -attentions',
    config: NARROW,
    dims: unet(24),
    dtype: 'float16',
    edits: { remove: [{ selector: 'down_blocks.0.attentions.*' }] },
  },
  { name: 'sd decoder 8x8', config: SD_DECODER, dims: latent(8) },
  { name: 'sd decoder 12x12', config: SD_DECODER, dims: latent(12) },
  { name: 'sd decoder 8x8 float16', config: SD_DECODER, dims: latent(8), dtype: 'float16' },
  {
    name: 'sd decoder -up resnets',
    config: SD_DECODER,
    dims: latent(8),
    edits: { remove: [{ selector: 'decoder.up_blocks.*.resnets.2' }] },
  },
  {
    name: 'sd decoder -mid attention',
    config: SD_DECODER,
    dims: latent(8),
    edits: { remove: [{ selector: 'decoder.mid_block.attentions.0' }] },
  },
  {
    name: 'sd decoder width 0.5 up_blocks.3',
    config: SD_DECODER,
    dims: latent(8),
    edits: { width: [{ selector: 'decoder.up_blocks.3.resnets.*', ratio: 0.5 }] },
  },
  { name: 'tiny decoder 32x32', config: TINY_DECODER, dims: latent(32) },
  { name: 'tiny decoder 64x64', config: TINY_DECODER, dims: latent(64) },
  {
    name: 'tiny decoder -resnets',
    config: TINY_DECODER,
    dims: latent(48),
    edits: { remove: [{ selector: 'decoder.up_blocks.*.resnets.1' }] },
  },
  {
    name: 'tiny decoder +mid',
    config: TINY_DECODER,
    dims: latent(48),
    edits: { duplicate: [{ selector: 'decoder.mid_block.**' }] },
  },
];

/** Builds a variant's graph, shape-inferred, with the edits applied for real. */
export function buildVariant(spec: VariantSpec, log: DiagnosticLog): Graph | undefined {
  const planned = planModel(spec.config, log);
  if (!planned) return undefined;
  const g = buildGraph(planned, { weights: 'random', seed: 0, dtype: spec.dtype ?? 'float32', opset: 14 });
  if (!ensureShapes(g, [], spec.dims, log, spec.name)) return undefined;
  const e = spec.edits ?? {};
  const passes = [];
  if (e.remove?.length)
    passes.push(removeBlocks(e.remove.map((r) => ({ selector: r.selector, keepShortcut: r.keepShortcut }))));
  if (e.duplicate?.length) passes.push(duplicateBlocks(e.duplicate.map((d) => ({ selector: d.selector }))));
  if (passes.length && !runPasses(g, passes, log, spec.name)) return undefined;
  if (e.width?.length) {
    const kinds = valueKinds(g);
    const map = findBlocks(g);
    const chosen = e.width.flatMap((w) =>
      map.blocks.filter((b) => globToRegExp(w.selector).test(b.name)).map((block) => ({ block, ratio: w.ratio })),
    );
    applyNarrow(
      narrowPlan(chosen, (v) => kinds.get(v) === Kind.Act),
      true,
    );
    const before = log.errors().length;
    inferShapes(g, {}, log, spec.name);
    if (log.errors().length > before) return undefined;
  }
  return g;
}

/** The base model's table for the what-if path (cached per config and dims by the caller). */
export function baseTable(spec: VariantSpec, log: DiagnosticLog): CostTable | undefined {
  const g = buildVariant({ ...spec, edits: undefined }, log);
  return g && buildCostTable(g, { model: spec.config }, log);
}

/** A variant built and saved for the runtime, with what its predictions need. */
export interface PreparedVariant {
  spec: VariantSpec;
  table: CostTable;
  base: CostTable;
  job: Job;
}

/** Builds every variant for real, prices nothing yet (the profile may still be fitted), saves it. */
export function prepareVariants(specs: VariantSpec[], log: DiagnosticLog): PreparedVariant[] | undefined {
  const bases = new Map<string, CostTable | undefined>();
  const prepared: PreparedVariant[] = [];
  for (const spec of specs) {
    const key = `${spec.config}|${JSON.stringify(spec.dims)}|${spec.dtype ?? 'float32'}`;
    if (!bases.has(key)) bases.set(key, baseTable(spec, log));
    const g = buildVariant(spec, log);
    const table = g && buildCostTable(g, { model: spec.name, noWidth: true }, log);
    const base = bases.get(key);
    if (!g || !table || !base) {
      discard(prepared);
      return undefined;
    }
    prepared.push({ spec, table, base, job: { name: spec.name, file: saveForRun(g), feeds: feedsFor(g.inputs) } });
  }
  return prepared;
}

/** Predictions (from the variant's graph, and base + edit) beside the measurements. */
export function variantResults(
  prepared: PreparedVariant[],
  measured: Map<string, Measurement>,
  profile: DeviceProfile,
  log: DiagnosticLog,
): VariantResult[] {
  return prepared.map((p) => {
    const plan = planCost(p.table, profile);
    const predicted = predictPlan(plan).ms;
    const w = new WhatIf(planCost(p.base, profile));
    const v = w.variant();
    const whatif = w.apply(v, p.spec.edits ?? {}, log) ? w.variantMs(v) : undefined;
    const macs = plan.groups.reduce(
      (s, gr) => s + [gr.conv, gr.linear, gr.attention].reduce((a, c) => a + c[0] + c[1] + c[2], 0),
      0,
    );
    const m = measured.get(p.spec.name)!.ms;
    return {
      name: p.spec.name,
      measured_ms: m,
      predicted_ms: predicted,
      whatif_ms: whatif,
      macs,
      error: predicted / m - 1,
      whatif_error: whatif === undefined ? undefined : whatif / m - 1,
    };
  });
}

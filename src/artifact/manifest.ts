// manifest.json: what an artifact folder holds, for apps, CI scripts and the
// runner. The zod schema is the source of truth; schemas/manifest.schema.json
// is generated from it, and every manifest is validated (ajv, against that
// generated schema) before it is written.
import { z } from 'zod';
import type { SchemaFile } from '../schema/json-schema.ts';

const signature = z.array(
  z.strictObject({
    name: z.string(),
    dtype: z.string(),
    shape: z.array(z.union([z.number().int(), z.string()])),
  }),
);

const modelEntry = z.strictObject({
  file: z.string().describe('Path relative to the manifest'),
  data_file: z.string().optional().describe('External weights file, relative to the manifest'),
  inputs: signature,
  outputs: signature,
  params: z.number().int(),
  macs: z.number().optional(),
  passes: z.array(z.string()),
  blocks_removed: z.array(z.string()).optional().describe('Blocks remove-blocks took out, by module path'),
  blocks_duplicated: z.array(z.string()).optional().describe('Blocks duplicate-blocks copied, by module path'),
  quantization: z
    .string()
    .optional()
    .describe(
      "Precision scheme: 'fp16', 'int8', 'int4', 'w8a16', 'w8a8' or a '+'-joined mix ('int4+int8': int4 with its first and last layers kept at int8)",
    ),
  widths: z
    .record(z.string(), z.number())
    .optional()
    .describe('Channel widths applied: selector -> kept fraction or count'),
});

export const manifestSchema = z.strictObject({
  format: z.literal('pocketdiff-artifact/1'),
  tool: z.strictObject({ name: z.literal('pocketdiff'), version: z.string() }),
  recipe: z.strictObject({ name: z.string(), hash: z.string().describe('sha256 of the merged, validated recipe') }),
  device: z.string(),
  resolution: z.number().int().optional(),
  vae_scale_factor: z
    .number()
    .int()
    .optional()
    .describe(
      "How much the VAE decoder upsamples its latent (8 for Stable Diffusion's): the latent is resolution / vae_scale_factor. Absent in older manifests: 8",
    ),
  graph_only: z.boolean().describe('True when weights were not written (compile --graph-only)'),
  models: z.strictObject({
    unet: modelEntry.optional(),
    vae_decoder: modelEntry.optional(),
    text_encoder: modelEntry.optional(),
  }),
  schedule: z.strictObject({
    scheduler: z.enum(['ddim', 'euler']),
    steps: z.number().int(),
    spacing: z.enum(['leading', 'trailing', 'linspace']),
    prediction_type: z.enum(['epsilon', 'v_prediction']),
    train_timesteps: z.number().int(),
    timesteps: z.array(z.number()),
    alphas_cumprod: z.array(z.number()).describe('alpha_bar at each timestep, in run order'),
    final_alpha_cumprod: z.number(),
    prev_alphas_cumprod: z
      .array(z.number())
      .describe('alpha_bar each step moves to (DDIM: t - train_timesteps // steps), in run order'),
    sigmas: z.array(z.number()).optional(),
    init_noise_sigma: z.number(),
    folded_step: z.boolean(),
  }),
  guidance: z.strictObject({
    scale: z.number(),
    fold: z.enum(['batch', 'none']).describe('batch: one batch-2 UNet call per step; none: two calls'),
    uncond: z.enum(['input', 'baked']),
    auto: z
      .strictObject({ batch_ms_per_step: z.number(), two_calls_ms_per_step: z.number() })
      .optional()
      .describe('fold: auto in the recipe: the two prices per step the cost model chose between on this device'),
  }),
  prediction: z
    .strictObject({
      device: z.string(),
      total_ms: z.number(),
      interval_80: z
        .tuple([z.number(), z.number()])
        .optional()
        .describe("80% interval of total_ms from the profile's cross-validated errors"),
      budget_ms: z.number().optional(),
      within_budget: z.boolean().optional().describe('total_ms (the point prediction) ≤ budget_ms'),
      baseline_ms: z
        .number()
        .optional()
        .describe(
          'The source models unedited (no removals or copies, every channel, float weights) with the same steps and guidance on this device',
        ),
      components: z.record(z.string(), z.number()),
      precision: z.record(z.string(), z.string()).optional().describe('Each model priced at this precision'),
      guidance: z.string().optional().describe('How guidance was priced, and why for fold: auto'),
    })
    .optional(),
  inputs: z
    .strictObject({
      files: z
        .record(z.string(), z.string())
        .describe(
          'sha256 of every file compile read (models, weights, configs, tokenizer, embeddings, calibration), by path relative to the recipe',
        ),
      device_profile: z.string().optional().describe("sha256 of the device profile's file"),
    })
    .optional()
    .describe(
      'What the artifact was built from: a compile finding the same (and the same recipe hash and tool version) says up to date',
    ),
  files: z
    .record(z.string(), z.strictObject({ bytes: z.number().int(), sha256: z.string() }))
    .describe('Every other file in the folder'),
});

export type Manifest = z.output<typeof manifestSchema>;
export type ModelEntry = z.output<typeof modelEntry>;

export const MANIFEST_SCHEMA: SchemaFile = {
  file: 'manifest.schema.json',
  schema: manifestSchema,
  title: 'pocketdiff artifact manifest',
  io: 'output',
};

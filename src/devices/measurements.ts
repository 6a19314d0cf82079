// The published measurements profiles are calibrated on, copied with their
// sources into models/devices/measurements.json (the product never reads the
// shared data folder).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { DEVICES_DIR } from './index.ts';

export const measurementSchema = z.strictObject({
  id: z.string().min(1),
  profile: z.string().describe('The device profile this row calibrates'),
  device: z.string(),
  runtime: z.string(),
  precision: z.string(),
  model: z.string().describe('Reference model family: its builder configs are models/<model>/*.json'),
  component: z.enum(['text_encoder', 'unet', 'vae_decoder', 'pipeline']),
  latent: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  batch: z.number().int().positive().default(1).describe('UNet batch per evaluation'),
  steps: z.number().int().positive().optional().describe('Denoising steps of a pipeline row'),
  latency_ms: z.number().positive(),
  source: z.string().min(1),
  note: z.string().optional(),
});

const fileSchema = z.strictObject({
  about: z.string(),
  rows: z.array(measurementSchema),
  hardware: z.array(z.record(z.string(), z.unknown())),
});

export type Measurement = z.output<typeof measurementSchema>;

export const MEASUREMENTS_FILE = path.join(DEVICES_DIR, 'measurements.json');

export function loadMeasurements(log: DiagnosticLog, file = MEASUREMENTS_FILE): Measurement[] | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    log.error(Code.ProfileUnreadable, `measurements cannot be read: ${(e as Error).message}`, { file });
    return undefined;
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) log.error(Code.ProfileInvalid, `measurements: '${i.path.join('.')}': ${i.message}`, { file });
    return undefined;
  }
  return parsed.data.rows;
}

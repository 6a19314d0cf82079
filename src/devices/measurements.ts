// The published measurements profiles are calibrated on, copied with their
// sources into models/devices/measurements.json by scripts/import-corpus.ts
// (the product never reads the shared data folder), and the rows a profile
// selects: one device, its runtimes, one toolchain snapshot.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { scheme, weightFormat } from '../precision.ts';
import { DEVICES_DIR } from './index.ts';

export const measurementSchema = z.strictObject({
  id: z.string().min(1),
  device: z.string().describe('The device id (galaxy-s23)'),
  display: z.string(),
  chip: z.string().optional(),
  runtime: z.string().describe('As the source names it (qnn_dlc, tflite, onnx, …; coreml-ane, snapfusion)'),
  snapshot: z.string().nullable().describe('Date of the toolchain release the row belongs to; null where unversioned'),
  scheme: scheme
    .nullable()
    .describe("The precision in pocketdiff's vocabulary; null where the source states none pocketdiff has"),
  weights: weightFormat
    .optional()
    .describe('How the weights were stored, where the scheme does not say (6-bit palettized)'),
  precision: z.string().describe('As published'),
  graph: z
    .string()
    .describe(
      "What ran: 'calibration/<folder>' (models/calibration/) or 'builder:<family>/<part>' (models/<family>/ configs)",
    ),
  input: z.string(),
  latent: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  batch: z.number().int().positive(),
  latency_ms: z.number().positive(),
  layers: z
    .strictObject({ npu: z.number().int().nullable(), total: z.number().int() })
    .optional()
    .describe('Ops in the compiled graph, and how many ran on the NPU'),
  compute_unit: z.string().optional(),
  source: z.string().min(1),
  trust: z.string(),
  measured: z.string().describe('What the number includes'),
  note: z.string().optional(),
});

const fileSchema = z.strictObject({
  about: z.string(),
  rows: z.array(measurementSchema),
  hardware: z.array(z.record(z.string(), z.unknown())),
});

export type Measurement = z.output<typeof measurementSchema>;

/** Which rows calibrate a profile (its `calibration.select`). */
export interface RowSelection {
  device: string;
  runtimes: string[];
  snapshot: string | null;
  /** Rows left out, by id, each with its reason (kept in the profile). */
  exclude?: { id: string; why: string }[];
}

export const MEASUREMENTS_FILE = path.join(DEVICES_DIR, 'measurements.json');

let cached: { key: string; rows: Measurement[] } | undefined;

export function loadMeasurements(log: DiagnosticLog, file = MEASUREMENTS_FILE): Measurement[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    log.error(Code.ProfileUnreadable, `measurements cannot be read: ${(e as Error).message}`, { file });
    return undefined;
  }
  const stat = fs.statSync(file);
  const key = `${file}:${stat.mtimeMs}:${stat.size}`;
  if (cached?.key === key) return cached.rows;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    log.error(Code.ProfileUnreadable, `measurements are not JSON: ${(e as Error).message}`, { file });
    return undefined;
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues)
      log.error(Code.ProfileInvalid, `measurements: '${i.path.join('.')}': ${i.message}`, { file });
    return undefined;
  }
  cached = { key, rows: parsed.data.rows };
  return parsed.data.rows;
}

/** The rows a selection takes, in file order, without the excluded ones. */
export function selectRows(all: readonly Measurement[], sel: RowSelection): Measurement[] {
  const excluded = new Set((sel.exclude ?? []).map((e) => e.id));
  return all.filter(
    (m) =>
      m.device === sel.device && sel.runtimes.includes(m.runtime) && m.snapshot === sel.snapshot && !excluded.has(m.id),
  );
}

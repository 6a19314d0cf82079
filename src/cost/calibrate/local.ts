// Calibration rows of the local-cpu profile, measured here with
// onnxruntime-node and priced by the same cost model: the per-op-class
// microbenchmarks (micro.ts), and small whole models of their own configs
// (calibration models: none is a validation model, see validate.ts), which
// pin what microbenchmarks cannot, such as the runtime's per-op cost inside a
// real graph.
import fs from 'node:fs';
import path from 'node:path';
import { buildGraph, planModel } from '../../builder/build.ts';
import { Code } from '../../codes.ts';
import type { DiagnosticLog } from '../../diagnostics.ts';
import type { DeviceProfile } from '../../devices/schema.ts';
import type { Graph } from '../../ir/graph.ts';
import type { CalibrationRow } from './profile-fit.ts';
import { feedsFor, measureRounds, saveForRun, type Job, type Measurement } from './measure.ts';
import { MICROBENCHMARKS, type Micro } from './micro.ts';
import { planCost } from '../roofline/plan.ts';
import { buildCostTable } from '../table/build.ts';
import { ensureShapes } from '../../ir/bind.ts';
import { PROJECT_ROOT } from '../../root.ts';
import { removeScratch, scratchDir } from '../../scratch.ts';

export interface LocalRow extends CalibrationRow {
  median_ms: number;
}

export interface LocalOptions {
  rounds?: number;
  windows?: number;
  budget_ms?: number;
  only?: (name: string) => boolean;
  onRow?: (r: LocalRow) => void;
}

/** Calibration models: builder configs, each at a few sizes. */
export const CALIBRATION_MODELS: {
  name: string;
  config: Record<string, unknown> | string;
  dims: Record<string, number>[];
}[] = [
  { name: 'unet-tiny', config: 'models/test/unet-tiny.json', dims: [16, 32, 64].map((h) => ({ height: h, width: h })) },
  {
    name: 'unet-cal',
    config: {
      _class_name: 'UNet2DConditionModel',
      sample_size: 32,
      in_channels: 4,
      out_channels: 4,
      layers_per_block: 1,
      block_out_channels: [32, 64, 96],
      down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
      up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      cross_attention_dim: 64,
      attention_head_dim: 8,
      norm_num_groups: 32,
    },
    dims: [8, 16, 28].map((h) => ({ height: h, width: h })),
  },
  { name: 'text-encoder-tiny', config: 'models/test/text-encoder-tiny.json', dims: [{}] },
  {
    name: 'vae-cal',
    config: {
      _class_name: 'AutoencoderKL',
      block_out_channels: [64, 128, 128],
      in_channels: 3,
      out_channels: 3,
      latent_channels: 4,
      norm_num_groups: 32,
      layers_per_block: 1,
      down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
      up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
    },
    dims: [12, 20].map((h) => ({ height_latent: h, width_latent: h, height: h, width: h })),
  },
];

const ROOT = PROJECT_ROOT;

function calibrationGraph(m: (typeof CALIBRATION_MODELS)[number], log: DiagnosticLog): Graph | undefined {
  if (typeof m.config === 'string') {
    const planned = planModel(path.resolve(ROOT, m.config), log);
    return planned && buildGraph(planned, { weights: 'random', seed: 0, dtype: 'float32', opset: 14 });
  }
  // The builder reads configs from files: write this one to a temp folder for as long as it takes.
  const dir = scratchDir('cal');
  try {
    const file = path.join(dir, `${m.name}.json`);
    fs.writeFileSync(file, JSON.stringify(m.config));
    const planned = planModel(file, log);
    return planned && buildGraph(planned, { weights: 'random', seed: 0, dtype: 'float32', opset: 14 });
  } finally {
    removeScratch(dir);
  }
}

/** A calibration graph ready to measure: its plan, and its model saved for the runtime. */
export interface PreparedRow {
  name: string;
  /** What leaves the fit together in cross-validation: a calibration model at all its sizes, a microbenchmark alone. */
  architecture: string;
  plan: ReturnType<typeof planCost>;
  job: Job;
}

function prepare(
  name: string,
  architecture: string,
  g: Graph,
  dims: Record<string, number>,
  profile: DeviceProfile,
  log: DiagnosticLog,
  save: boolean,
): PreparedRow | undefined {
  if (!ensureShapes(g, [], dims, log, name)) return undefined;
  const table = buildCostTable(g, { model: name, noWidth: true }, log, { file: name });
  if (!table) return undefined;
  return {
    name,
    architecture,
    plan: planCost(table, profile),
    job: { name, file: save ? saveForRun(g) : '', feeds: save ? feedsFor(g.inputs) : {} },
  };
}

/**
 * Builds, prices and (unless `save` is false: pricing only) saves every
 * microbenchmark and calibration model (delete with `discard`).
 */
export function prepareLocalRows(
  profile: DeviceProfile,
  log: DiagnosticLog,
  keep: (name: string) => boolean = () => true,
  save = true,
): PreparedRow[] | undefined {
  const prepared: PreparedRow[] = [];
  const add = (p: PreparedRow | undefined) => (p ? (prepared.push(p), true) : (discard(prepared), false));
  for (const m of MICROBENCHMARKS) {
    if (keep(m.name) && !add(prepare(m.name, m.name, m.graph(), {}, profile, log, save))) return undefined;
  }
  for (const m of CALIBRATION_MODELS) {
    for (const dims of m.dims) {
      const name = `${m.name}${Object.keys(dims).length ? `-${dims.height ?? dims.height_latent}` : ''}`;
      if (!keep(name)) continue;
      const g = calibrationGraph(m, log);
      if (!add(g && prepare(name, m.name, g, dims, profile, log, save))) return undefined;
    }
  }
  return prepared;
}

/** How many graphs a local calibration measures (microbenchmarks, and each calibration model at each size). */
export function localRowCount(): number {
  return MICROBENCHMARKS.length + CALIBRATION_MODELS.reduce((n, m) => n + m.dims.length, 0);
}

/** Rows from measurements (the minimum CPU time of each job). */
export function rowsFrom(prepared: PreparedRow[], measured: Map<string, Measurement>): LocalRow[] {
  return prepared.map((p) => {
    const m = measured.get(p.name)!;
    return {
      id: p.name,
      architecture: p.architecture,
      measured_ms: m.ms,
      median_ms: m.median_ms,
      parts: [{ plan: p.plan, times: 1 }],
    };
  });
}

/**
 * The rows as the profile was last fitted to them: its calibration residuals
 * keep each row's measurement, so a refit (a change of the model, not of the
 * machine) needs no measuring and gives the same answer every time.
 */
export function storedRows(profile: DeviceProfile, log: DiagnosticLog): LocalRow[] | undefined {
  const stored = new Map((profile.calibration?.fitted?.residuals ?? []).map((r) => [r.row, r.measured_ms]));
  const prepared = prepareLocalRows(profile, log, (name) => stored.has(name), false);
  if (!prepared) return undefined;
  const missing = [...stored.keys()].filter((k) => !prepared.some((p) => p.name === k));
  if (!prepared.length || missing.length) {
    log.error(
      Code.CalibrationRows,
      `${profile.name} keeps no measurement to refit on${missing.length ? ` (it names rows that no longer exist: ${missing.join(', ')})` : ''}; run calibrate without --reuse to measure`,
    );
    return undefined;
  }
  return rowsFrom(
    prepared,
    new Map(
      prepared.map((p) => [
        p.name,
        { ms: stored.get(p.name)!, median_ms: stored.get(p.name)!, wall_ms: stored.get(p.name)!, runs: 0 },
      ]),
    ),
  );
}

export function discard(jobs: { job: Job }[]): void {
  for (const p of jobs) if (p.job.file) removeScratch(path.dirname(p.job.file));
}

/** The microbenchmarks and the calibration models, measured in interleaved rounds, as rows. */
export async function localRows(
  profile: DeviceProfile,
  log: DiagnosticLog,
  opts: LocalOptions = {},
): Promise<LocalRow[] | undefined> {
  const prepared = prepareLocalRows(profile, log, opts.only);
  if (!prepared) return undefined;
  try {
    const measured = await measureRounds(
      prepared.map((p) => p.job),
      { rounds: opts.rounds ?? 12, windows: opts.windows ?? 2, budget_ms: opts.budget_ms ?? 2000 },
    );
    const rows = rowsFrom(prepared, measured);
    for (const r of rows) opts.onRow?.(r);
    return rows;
  } catch (e) {
    log.error(Code.MeasureFailed, `a calibration model failed to run: ${(e as Error).message}`);
    return undefined;
  } finally {
    discard(prepared);
  }
}

export type { Micro };

// config file → plan → traced Graph → model.onnx (+ weights). Every check runs
// before anything is written; saveModel writes `.partial` files and renames
// them only when complete, so a failed build leaves nothing half-written.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { exportGraph } from '../ir/export.ts';
import { DataType } from '../onnx/dtype.ts';
import { saveModel } from '../onnx/save.ts';
import { buildClip } from './clip.ts';
import { buildClipVision } from './clip-vision.ts';
import { resolveClip, resolveClipVision, type ClipPlan, type ClipVisionPlan } from './config/clip.ts';
import { detectModel, MODEL_CLASSES, type ModelKind } from './config/detect.ts';
import { readConfig } from './config/read.ts';
import { resolveUNet, type UNetPlan } from './config/unet.ts';
import { resolveVae, type VaePlan } from './config/vae.ts';
import { Tracer } from './trace.ts';
import { buildUNet } from './unet.ts';
import { buildVaeDecoder } from './vae.ts';
import { randomWeights } from './weights.ts';

export type ModelPlan =
  | { kind: 'unet'; plan: UNetPlan }
  | { kind: 'vae'; plan: VaePlan }
  | { kind: 'clip' | 'clip_projection'; plan: ClipPlan }
  | { kind: 'clip_vision'; plan: ClipVisionPlan };

export interface PlannedModel {
  file: string;
  /** sha256 of the config file's bytes. */
  digest: string;
  model: ModelPlan;
}

export interface BuildOptions {
  /** 'random': seeded weights are written; 'none': the graph alone, weights declared external but absent. */
  weights: 'random' | 'none';
  seed: number;
  dtype: 'float32' | 'float16';
  opset: 14 | 17;
  /** External data file name; undefined picks weights.pb when the weights are too big to write inline (over 1 GiB). */
  externalData?: string;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_BUILD: BuildOptions = { weights: 'random', seed: 0, dtype: 'float32', opset: 14 };

/** The external data file of built models (as in the fixtures' graph-only exports). */
export const WEIGHTS_FILE = 'weights.pb';
/**
 * Weights above this many bytes go to an external file. A protobuf holds at
 * most 2 GiB, and writing weights inline holds all of them in memory (twice,
 * while encoding), so the builder streams to a file well before that: from
 * 1 GiB (the fp16 UNet, 1.72 GB, would otherwise peak at 3.5 GB of RSS).
 */
const INLINE_LIMIT = 2 ** 30;

/** Reads, identifies and validates a config; logs every refused key. */
export function planModel(file: string, log: DiagnosticLog): PlannedModel | undefined {
  const cfg = readConfig(file, log);
  if (!cfg) return undefined;
  const kind = detectModel(cfg, log);
  if (!kind) return undefined;
  const digest = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const model = resolve(kind, cfg, log);
  return model && { file, digest, model };
}

function resolve(kind: ModelKind, cfg: Parameters<typeof resolveUNet>[0], log: DiagnosticLog): ModelPlan | undefined {
  switch (kind) {
    case 'unet': {
      const plan = resolveUNet(cfg, log);
      return plan && { kind, plan };
    }
    case 'vae': {
      const plan = resolveVae(cfg, log);
      return plan && { kind, plan };
    }
    case 'clip':
    case 'clip_projection': {
      const plan = resolveClip(cfg, log, kind === 'clip' ? 'CLIPTextModel' : 'CLIPTextModelWithProjection');
      return plan && { kind, plan };
    }
    case 'clip_vision': {
      const plan = resolveClipVision(cfg, log);
      return plan && { kind, plan };
    }
  }
}

/** Traces the model into a Graph whose weights stream from the seeded generator. */
export function buildGraph(m: PlannedModel, opts: Pick<BuildOptions, 'seed' | 'dtype' | 'opset' | 'weights'>): Graph {
  const float = opts.dtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
  const t = new Tracer({ opset: opts.opset, float, weights: randomWeights(opts.seed, float) });
  const mp = m.model;
  if (mp.kind === 'unet') buildUNet(t, mp.plan);
  else if (mp.kind === 'vae') buildVaeDecoder(t, mp.plan);
  else if (mp.kind === 'clip_vision') buildClipVision(t, mp.plan);
  else buildClip(t, mp.plan);
  const stamp = {
    builder: 'pocketdiff models build',
    class: MODEL_CLASSES[mp.kind],
    config: path.basename(m.file),
    config_sha256: m.digest,
    weights: opts.weights,
    seed: opts.seed,
    dtype: opts.dtype,
    opset: opts.opset,
  };
  return t.finish([{ key: 'pocketdiff.build', value: JSON.stringify(stamp) }]);
}

export function weightBytes(g: Graph): number {
  let n = 0;
  for (const w of g.weights) {
    const d = w.weight!.data;
    if (d.kind === 'stream') n += d.length;
    else if (d.kind === 'raw') n += d.bytes.length;
  }
  return n;
}

/** Builds `m` into `outDir/model.onnx`. Returns the model path, or undefined after logging why not. */
export function writeModel(
  m: PlannedModel,
  outDir: string,
  opts: BuildOptions,
  log: DiagnosticLog,
): string | undefined {
  const g = buildGraph(m, opts);
  const out = path.join(outDir, 'model.onnx');
  const bytes = weightBytes(g);
  const none = opts.weights === 'none';
  const external = opts.externalData ?? (none || bytes > INLINE_LIMIT ? WEIGHTS_FILE : null);
  const ok = saveModel(
    exportGraph(g),
    out,
    {
      externalData: external,
      // A graph-only model declares every initializer external, so none needs data.
      sizeThreshold: none ? 0 : undefined,
      graphOnly: none,
      onProgress: opts.onProgress,
    },
    log,
  );
  if (!ok) return undefined;
  // A weights file from an earlier build that this model does not use would
  // make a graph-only model look complete, or sit beside an inline one: remove it.
  if (none && external) fs.rmSync(path.join(outDir, external), { force: true });
  if (external !== WEIGHTS_FILE) fs.rmSync(path.join(outDir, WEIGHTS_FILE), { force: true });
  return out;
}

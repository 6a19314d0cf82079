// The embedded default model: SD v1.5's UNet, VAE decoder and CLIP ViT-L/14
// text encoder, built from models/sd15/*.json into the git-ignored
// models/.built/sd15/<part>/model.onnx on first use. A part is rebuilt only when
// its config, the build options or its files no longer match what is there
// (build.json in the part's folder records them).
import fs from 'node:fs';
import path from 'node:path';
import type { DiagnosticLog } from '../diagnostics.ts';
import { PROJECT_ROOT } from '../root.ts';
import { DEFAULT_BUILD, planModel, writeModel, type BuildOptions } from './build.ts';
import { ProgressBar, type ProgressStream } from './progress.ts';
import type { ModelName } from '../model-names.ts';

export const MODELS_DIR = path.join(PROJECT_ROOT, 'models');

const CONFIG: Record<ModelName, string> = {
  unet: 'unet.json',
  vae_decoder: 'vae.json',
  text_encoder: 'text_encoder.json',
};

export function defaultConfig(part: ModelName, model = 'sd15'): string {
  return path.join(MODELS_DIR, model, CONFIG[part]);
}

export function defaultModelDir(part: ModelName, model = 'sd15', root = path.join(MODELS_DIR, '.built')): string {
  return path.join(root, model, part);
}

export interface EnsureOptions {
  build?: Partial<BuildOptions>;
  force?: boolean;
  /** Where the progress bar goes (stderr by default). */
  progress?: ProgressStream;
  /** Root of the built models (models/.built by default; tests use a temp dir). */
  root?: string;
}

/**
 * The path of a default part's model.onnx, building it first when it is
 * missing or stale. `built` tells whether this call wrote it.
 */
export function ensureDefaultModel(
  part: ModelName,
  log: DiagnosticLog,
  opts: EnsureOptions = {},
): { file: string; built: boolean } | undefined {
  const build: BuildOptions = { ...DEFAULT_BUILD, ...opts.build };
  const planned = planModel(defaultConfig(part), log);
  if (!planned) return undefined;
  const dir = defaultModelDir(part, 'sd15', opts.root);
  const file = path.join(dir, 'model.onnx');
  if (!opts.force && upToDate(dir, planned.digest, build)) return { file, built: false };
  const bar = new ProgressBar(`building ${part}`, opts.progress);
  let out: string | undefined;
  try {
    out = writeModel(planned, dir, { ...build, onProgress: bar.update }, log);
  } finally {
    bar.finish();
  }
  if (!out) return undefined;
  writeStamp(dir, planned.digest, build);
  return { file: out, built: true };
}

// build.json beside the model records what it was built from and the sizes of
// its files, so the up-to-date check reads no model.
const STAMP = 'build.json';

interface Stamp {
  config_sha256: string;
  options: { weights: string; seed: number; dtype: string; opset: number };
  files: Record<string, number>;
}

function stampOf(digest: string, o: BuildOptions): Omit<Stamp, 'files'> {
  return { config_sha256: digest, options: { weights: o.weights, seed: o.seed, dtype: o.dtype, opset: o.opset } };
}

function writeStamp(dir: string, digest: string, o: BuildOptions): void {
  const files: Record<string, number> = {};
  for (const f of fs.readdirSync(dir))
    if (f !== STAMP && !f.endsWith('.partial')) files[f] = fs.statSync(path.join(dir, f)).size;
  fs.writeFileSync(path.join(dir, STAMP), JSON.stringify({ ...stampOf(digest, o), files }, null, 2) + '\n');
}

/** True when the folder holds a build from a config with this digest and these options, its files whole. */
function upToDate(dir: string, digest: string, o: BuildOptions): boolean {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(path.join(dir, STAMP), 'utf8'));
  } catch {
    return false;
  }
  if (
    JSON.stringify(stampOf(stamp.config_sha256, stamp.options as BuildOptions)) !== JSON.stringify(stampOf(digest, o))
  )
    return false;
  const files = Object.entries(stamp.files ?? {});
  return (
    files.some(([f]) => f === 'model.onnx') &&
    files.every(([f, size]) => fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.size === size)
  );
}

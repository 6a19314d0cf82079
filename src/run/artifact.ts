// Reading an artifact folder for `run`: its manifest (validated against the
// published schema), the files it lists, and the schedule in the form the host
// scheduler step takes.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Manifest, ModelEntry } from '../artifact/manifest.ts';
import { hashFile } from '../artifact/hash.ts';
import { readManifest } from '../artifact/read.ts';
import type { Schedule } from '../schedule/index.ts';
import { MODEL_NAMES, type ModelName } from '../model-names.ts';

export interface Artifact {
  dir: string;
  manifest: Manifest;
  models: Record<ModelName, ModelEntry>;
}

export function readArtifact(where: string, log: DiagnosticLog): Artifact | undefined {
  const read = readManifest(where, log);
  if (!read) return undefined;
  const { dir, file, manifest } = read;
  if (manifest.graph_only) {
    log.error(
      Code.ArtifactInvalid,
      'the artifact holds graphs only (compiled with --graph-only): there are no weights to run; compile without --graph-only to run it',
      { file },
    );
    return undefined;
  }
  const missing = MODEL_NAMES.filter((c) => !manifest.models[c]);
  if (missing.length) {
    log.error(
      Code.ArtifactInvalid,
      `the artifact has no ${missing.join(', ')}: running needs the text encoder, the UNet and the VAE decoder`,
      { file },
    );
    return undefined;
  }
  const absent = Object.keys(manifest.files).filter((f) => !fs.existsSync(path.join(dir, f)));
  if (absent.length) {
    log.error(
      Code.FileNotFound,
      `the artifact is incomplete: ${absent.join(', ')} listed in manifest.json but missing`,
      { file },
    );
    return undefined;
  }
  // What runs is what was compiled: every listed file's size, then its sha256.
  for (const [name, want] of Object.entries(manifest.files)) {
    const f = path.join(dir, name);
    const size = fs.statSync(f).size;
    const got = size === want.bytes ? hashFile(f).sha256 : undefined;
    if (got !== want.sha256) {
      const what =
        got === undefined
          ? `${size} bytes, manifest.json says ${want.bytes}`
          : `sha256 ${got.slice(0, 16)}…, manifest.json says ${want.sha256.slice(0, 16)}…`;
      log.error(
        Code.ArtifactInvalid,
        `${name} is not the file compile wrote (${what}): changed or corrupt; compile the recipe again`,
        { file: f },
      );
      return undefined;
    }
  }
  return { dir, manifest, models: manifest.models as Record<ModelName, ModelEntry> };
}

/** The manifest's schedule as src/schedule's scheduler step takes it (the manifest lists every ᾱ a step reads or moves to). */
export function hostSchedule(m: Manifest): Schedule {
  const s = m.schedule;
  return {
    scheduler: s.scheduler,
    steps: s.steps,
    spacing: s.spacing,
    prediction_type: s.prediction_type,
    timesteps: s.timesteps,
    alphas_cumprod: s.alphas_cumprod,
    final_alpha_cumprod: s.final_alpha_cumprod,
    prev_alphas_cumprod: s.prev_alphas_cumprod,
    ...(s.sigmas ? { sigmas: s.sigmas } : {}),
    init_noise_sigma: s.init_noise_sigma,
  };
}

/** Concrete dims for a signature: numbers stay, named dims come from `dims`. */
export function concreteShape(shape: (number | string)[], dims: Record<string, number>, what: string): number[] {
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    const v = dims[d];
    if (v === undefined) throw new Error(`${what}: no value for the symbolic dim '${d}'`);
    return v;
  });
}

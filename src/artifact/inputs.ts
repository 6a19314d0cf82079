// What an artifact was built from, besides its recipe hash and tool version:
// every file compile read (each model, its weights files, the default
// model's configs, the tokenizer, a baked embedding, calibration tensors) and
// the device profile, each by sha256. A second compile compares them with the
// artifact already there and says `up to date` instead of rebuilding it.
// Contents, not times, decide: a CI cache restores files with new mtimes.
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../ir/graph.ts';
import { hashFile } from './hash.ts';
import type { Manifest } from './manifest.ts';

/** A file that was looked for and not there: its absence is an input too (a tokenizer added later rebuilds). */
export const ABSENT = '(absent)';

/** The manifest's `inputs`. Paths are relative to the recipe's folder, so a checkout anywhere records the same bytes. */
export type ArtifactInputs = NonNullable<Manifest['inputs']>;

/** Hashes files once per compile (a 3.4 GB UNet is read once, not once per target). */
export class InputHashes {
  private readonly memo = new Map<string, string>();
  constructor(readonly base: string) {}

  sha256(file: string): string | undefined {
    const abs = path.resolve(this.base, file);
    let h = this.memo.get(abs);
    if (h === undefined) {
      try {
        h = hashFile(abs).sha256;
      } catch {
        return undefined;
      }
      this.memo.set(abs, h);
    }
    return h;
  }

  /** `{relative path: sha256 or ABSENT}`, sorted by path. */
  record(files: Iterable<string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of [...new Set([...files].map((f) => path.resolve(this.base, f)))].sort()) {
      out[path.relative(this.base, f).split(path.sep).join('/')] = this.sha256(f) ?? ABSENT;
    }
    return out;
  }
}

/** The model file and every external weights file its graph reads, in a stable order. */
export function modelFiles(file: string, g: Graph): string[] {
  const ext = new Set<string>();
  for (const v of g.weights) if (v.weight?.data.kind === 'external') ext.add(v.weight.data.ref.file);
  return [file, ...[...ext].sort()];
}

/** Every file under a folder (calibration inputs), sorted; none when it cannot be read. */
export function filesUnder(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name))
      .sort();
  } catch {
    return [];
  }
}

export interface Expected {
  tool: string;
  recipeHash: string;
  deviceProfile?: string;
  /** compile --graph-only: an artifact's graph_only is exactly that, since compile refuses weightless models otherwise. */
  graphOnly: boolean;
}

/**
 * Why the artifact in `dir` must be rebuilt, or undefined when it is up to
 * date: its manifest records the same tool, recipe, profile and options, every
 * input file still hashes the same, and every file it lists is there at its
 * size (a folder emit never finished has no manifest at all).
 */
export function staleReason(
  dir: string,
  want: Expected,
  hashes: InputHashes,
): { reason: string } | { manifest: Manifest } {
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return { reason: fs.existsSync(dir) ? 'its manifest.json is missing or unreadable' : 'not built yet' };
  }
  if (m.tool?.version !== want.tool)
    return { reason: `it was built by pocketdiff ${m.tool?.version ?? '(unknown)'}, this is ${want.tool}` };
  if (m.recipe?.hash !== want.recipeHash) return { reason: 'the recipe changed' };
  const inputs = m.inputs;
  if (!inputs) return { reason: 'its manifest records no inputs (built before pocketdiff recorded them)' };
  if (inputs.device_profile !== want.deviceProfile) return { reason: 'the device profile changed' };
  if (m.graph_only !== want.graphOnly)
    return { reason: want.graphOnly ? '--graph-only was not given then' : 'it was built with --graph-only' };
  for (const [f, sha] of Object.entries(inputs.files)) {
    const now = hashes.sha256(f) ?? ABSENT;
    if (now !== sha)
      return { reason: now === ABSENT ? `${f} is gone` : sha === ABSENT ? `${f} appeared` : `${f} changed` };
  }
  for (const [f, { bytes }] of Object.entries(m.files ?? {})) {
    let size: number;
    try {
      size = fs.statSync(path.join(dir, f)).size;
    } catch {
      return { reason: `its ${f} is missing` };
    }
    if (size !== bytes) return { reason: `its ${f} is ${size} bytes, the manifest says ${bytes}` };
  }
  return { manifest: m };
}

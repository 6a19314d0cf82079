// `pocketdiff diff OLD NEW`: what a change did to an artifact, per model
// (parameters, MACs, bytes on disk, predicted ms, passes, blocks, precision)
// and as a whole (predicted latency with its 80% interval, the files whose
// bytes changed). Read from the two manifests alone: no model is loaded, so
// it is as quick on a 3 GB artifact as on a tiny one.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { fmt, round } from '../text/numbers.ts';
import type { Manifest, ModelEntry } from './manifest.ts';
import { readManifest } from './read.ts';
import { MODEL_NAMES } from '../model-names.ts';

/** A number on each side; null where that side has no such number (a model or prediction absent). */
export interface Change {
  old: number | null;
  new: number | null;
  /** new − old, when both exist. */
  delta: number | null;
}

export interface ModelDiff {
  model: (typeof MODEL_NAMES)[number];
  params: Change;
  macs: Change;
  /** The model's files on disk (graph and weights). */
  bytes: Change;
  /** Its share of the predicted image latency. */
  ms: Change;
  /** Present when the passes applied differ. */
  passes?: { old: string[]; new: string[] };
  /** Blocks one side removes (or duplicates) and the other does not. */
  blocks_removed?: { added: string[]; dropped: string[] };
  blocks_duplicated?: { added: string[]; dropped: string[] };
  /** Present when the precision differs. */
  quantization?: { old: string | null; new: string | null };
}

export interface DiffSide {
  artifact: string;
  recipe: string;
  recipe_hash: string;
  device: string;
  tool: string;
  resolution: number | null;
  steps: number;
  budget_ms: number | null;
}

export interface ArtifactDiff {
  old: DiffSide;
  new: DiffSide;
  models: ModelDiff[];
  /** Predicted latency of one image, where both manifests carry a prediction. */
  latency: (Change & { old_interval_80: [number, number] | null; new_interval_80: [number, number] | null }) | null;
  files: { changed: string[]; added: string[]; removed: string[] };
  /** False when the two artifacts are the same in every respect above. */
  changed: boolean;
}

export function diffArtifacts(oldPath: string, newPath: string, log: DiagnosticLog): ArtifactDiff | undefined {
  const a = readManifest(oldPath, log);
  const b = readManifest(newPath, log);
  if (!a || !b) return undefined;
  return diffManifests(a.manifest, b.manifest, oldPath, newPath);
}

export function diffManifests(a: Manifest, b: Manifest, oldName: string, newName: string): ArtifactDiff {
  const models = MODEL_NAMES.filter((c) => a.models[c] || b.models[c]).map((c) => modelDiff(c, a, b));
  const iv = (x: [number, number] | undefined): [number, number] | null => (x ? [round(x[0]), round(x[1])] : null);
  const latency =
    a.prediction && b.prediction
      ? {
          ...change(round(a.prediction.total_ms), round(b.prediction.total_ms)),
          old_interval_80: iv(a.prediction.interval_80),
          new_interval_80: iv(b.prediction.interval_80),
        }
      : null;
  const names = new Set([...Object.keys(a.files), ...Object.keys(b.files)]);
  const files = { changed: [] as string[], added: [] as string[], removed: [] as string[] };
  for (const f of [...names].sort()) {
    const x = a.files[f];
    const y = b.files[f];
    if (!x) files.added.push(f);
    else if (!y) files.removed.push(f);
    else if (x.sha256 !== y.sha256) files.changed.push(f);
  }
  const changed =
    a.recipe.hash !== b.recipe.hash ||
    files.added.length + files.removed.length + files.changed.length > 0 ||
    models.some(
      (m) =>
        [m.params, m.macs, m.bytes, m.ms].some(moved) ||
        m.passes ||
        m.blocks_removed ||
        m.blocks_duplicated ||
        m.quantization,
    ) ||
    (latency !== null && moved(latency));
  return { old: side(a, oldName), new: side(b, newName), models, latency, files, changed };
}

/** Whether the predicted latency grew past the limit, said as a coded warning. */
export function latencyGrewPast(d: ArtifactDiff, limitMs: number, log: DiagnosticLog): boolean {
  const grew = d.latency?.delta ?? null;
  if (grew === null || grew <= limitMs) return false;
  log.warn(
    Code.LatencyGrew,
    `${d.new.device}: predicted latency grew by ${fmt(grew)} ms (${fmt(d.latency!.old!)} → ${fmt(d.latency!.new!)} ms), more than the limit of ${fmt(limitMs)} ms`,
  );
  return true;
}

function side(m: Manifest, name: string): DiffSide {
  return {
    artifact: name,
    recipe: m.recipe.name,
    recipe_hash: m.recipe.hash,
    device: m.device,
    tool: m.tool.version,
    resolution: m.resolution ?? null,
    steps: m.schedule.steps,
    budget_ms: m.prediction?.budget_ms ?? null,
  };
}

function modelDiff(c: (typeof MODEL_NAMES)[number], a: Manifest, b: Manifest): ModelDiff {
  const x = a.models[c];
  const y = b.models[c];
  const d: ModelDiff = {
    model: c,
    params: change(x?.params, y?.params),
    macs: change(x?.macs, y?.macs),
    bytes: change(x && bytesOf(a, x), y && bytesOf(b, y)),
    ms: change(ms(a.prediction?.components[c]), ms(b.prediction?.components[c])),
  };
  const px = x?.passes ?? [];
  const py = y?.passes ?? [];
  if (px.join('\n') !== py.join('\n')) d.passes = { old: px, new: py };
  const removed = setChange(x?.blocks_removed, y?.blocks_removed);
  if (removed) d.blocks_removed = removed;
  const duplicated = setChange(x?.blocks_duplicated, y?.blocks_duplicated);
  if (duplicated) d.blocks_duplicated = duplicated;
  if ((x?.quantization ?? null) !== (y?.quantization ?? null))
    d.quantization = { old: x?.quantization ?? null, new: y?.quantization ?? null };
  return d;
}

function bytesOf(m: Manifest, e: ModelEntry): number {
  return (m.files[e.file]?.bytes ?? 0) + (e.data_file ? (m.files[e.data_file]?.bytes ?? 0) : 0);
}

function change(x: number | undefined, y: number | undefined): Change {
  return { old: x ?? null, new: y ?? null, delta: x !== undefined && y !== undefined ? round(y - x) : null };
}

/** Milliseconds to the microsecond: a diff of two identical artifacts shows 0, not 1e-13. */
const ms = (x: number | undefined) => (x === undefined ? undefined : round(x));

function setChange(x: string[] = [], y: string[] = []): { added: string[]; dropped: string[] } | undefined {
  const added = y.filter((n) => !x.includes(n));
  const dropped = x.filter((n) => !y.includes(n));
  return added.length || dropped.length ? { added, dropped } : undefined;
}

const moved = (c: Change) => c.old !== c.new;

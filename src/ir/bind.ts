// Binding the symbolic dims of graph inputs to sizes, before shape inference.
// Explicit `--input NAME=d0,d1,…` bindings come first; the usual SD dim names
// fall back to batch 1, a 64×64 latent and 77 tokens.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Graph, TensorType } from './graph.ts';
import { inferShapes, type InferResult } from './infer/index.ts';

export const DEFAULT_DIMS: Readonly<Record<string, number>> = {
  batch_size: 1,
  batch: 1,
  steps: 1,
  height: 64,
  width: 64,
  height_latent: 64,
  width_latent: 64,
  sequence_length: 77,
  sequence: 77,
};

/** The symbolic dims of SD exports for one image at `resolution` pixels. */
export function targetDims(resolution: number, vaeScale = 8): Record<string, number> {
  // The latent is the image over the decoder's upsampling: 8 for SD's VAE, whatever a recipe's decoder does.
  const latent = resolution / vaeScale;
  return { ...DEFAULT_DIMS, height: latent, width: latent, height_latent: latent, width_latent: latent };
}

export interface InputBinding {
  name: string;
  dims: number[];
}

/** Parses `NAME=d0,d1,…`; undefined (with a PD3002) when malformed. */
export function parseInputBinding(text: string, log: DiagnosticLog): InputBinding | undefined {
  const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(text);
  if (!m) {
    log.error(Code.BadInputBinding, `--input '${text}' is not NAME=d0,d1,… (e.g. --input sample=1,4,64,64)`);
    return undefined;
  }
  return { name: m[1], dims: m[2].split(',').map(Number) };
}

/** Parses every `--input` value; undefined when any is malformed (each gets its PD3002). */
export function parseInputBindings(texts: readonly string[], log: DiagnosticLog): InputBinding[] | undefined {
  const parsed = texts.map((t) => parseInputBinding(t, log));
  return parsed.every((b) => b) ? (parsed as InputBinding[]) : undefined;
}

/**
 * Applies explicit bindings to the graph's input types and returns the name
 * bindings for shape inference (defaults, overridden by what the user bound).
 */
export function bindInputs(
  g: Graph,
  bindings: InputBinding[],
  log: DiagnosticLog,
  defaults = DEFAULT_DIMS,
): Record<string, number> | undefined {
  const named: Record<string, number> = {};
  const before = log.errors().length;
  for (const b of bindings) {
    const input = g.inputs.find((v) => v.name === b.name);
    if (!input) {
      log.error(
        Code.BadInputBinding,
        `--input names '${b.name}', but the model's inputs are ${g.inputs.map((v) => `'${v.name}'`).join(', ')}`,
      );
      continue;
    }
    const shape = input.type?.shape;
    if (!shape || shape.length !== b.dims.length) {
      log.error(
        Code.BadInputBinding,
        `--input ${b.name} gives ${b.dims.length} dims, but '${b.name}' has rank ${shape?.length ?? 'unknown'}`,
      );
      continue;
    }
    shape.forEach((d, i) => {
      const size = b.dims[i];
      if (typeof d === 'number') {
        if (d !== size)
          log.error(Code.BadInputBinding, `--input ${b.name}: dim ${i} is fixed at ${d} in the model, not ${size}`);
      } else if (!d.startsWith('?')) {
        if (named[d] !== undefined && named[d] !== size)
          log.error(Code.BadInputBinding, `dim '${d}' is bound to both ${named[d]} and ${size}`);
        named[d] = size;
      }
    });
    if (log.errors().length === before) input.type = { dtype: input.type!.dtype, shape: [...b.dims] };
  }
  if (log.errors().length > before) return undefined;
  // Defaults bind input dims only: an output's `height` (a VAE's image) is not the latent's.
  const used = inputDimNames(g);
  const applied = Object.fromEntries(Object.entries(defaults).filter(([k]) => used.has(k)));
  return { ...applied, ...named };
}

const inputDimNames = (g: Graph): Set<string> =>
  new Set(g.inputs.flatMap((v) => (v.type?.shape ?? []).filter((d): d is string => typeof d === 'string')));

/**
 * Binds the graph's input dims that `dims` names, then infers every shape;
 * undefined when inference reported an error. The bound input types stay
 * (callers that bind per target restore a snapshot when done).
 */
export function bindAndInfer(
  g: Graph,
  dims: Record<string, number>,
  log: DiagnosticLog,
  file?: string,
): InferResult | undefined {
  const used = inputDimNames(g);
  const before = log.errors().length;
  const result = inferShapes(
    g,
    { dims: Object.fromEntries(Object.entries(dims).filter(([k]) => used.has(k))) },
    log,
    file,
  );
  return log.errors().length === before ? result : undefined;
}

/**
 * bindAndInfer after explicit bindings, with `dims` over the defaults, unless
 * every value already has a numeric shape (a graph compile has specialized),
 * which is used as it is.
 */
export function ensureShapes(
  g: Graph,
  bindings: InputBinding[],
  dims: Record<string, number>,
  log: DiagnosticLog,
  file?: string,
): boolean {
  const inferred = g
    .nodes()
    .every((n) => n.outputs.every((v) => !v || (v.type?.shape && v.type.shape.every((d) => typeof d === 'number'))));
  if (inferred && !bindings.length) return true;
  const bound = bindInputs(g, bindings, log, { ...DEFAULT_DIMS, ...dims });
  return !!bound && !!bindAndInfer(g, bound, log, file);
}

/** Input and output types, so one target's binding never leaks into the next (or into the generic artifact, which keeps the dynamic dims). */
export interface IoSnapshot {
  inputs: (TensorType | undefined)[];
  outputs: (TensorType | undefined)[];
}

const copyType = (t: TensorType | undefined): TensorType | undefined =>
  t ? { dtype: t.dtype, shape: t.shape ? [...t.shape] : undefined } : undefined;

export function snapshotIo(g: Graph): IoSnapshot {
  return { inputs: g.inputs.map((v) => copyType(v.type)), outputs: g.outputs.map((v) => copyType(v.type)) };
}

export function restoreIo(g: Graph, s: IoSnapshot): void {
  g.inputs.forEach((v, i) => (v.type = copyType(s.inputs[i])));
  g.outputs.forEach((v, i) => (v.type = copyType(s.outputs[i])));
}

// Binding the symbolic dims of graph inputs to sizes, before shape inference.
// Explicit `--input NAME=d0,d1,…` bindings come first; the usual SD dim names
// fall back to batch 1, a 64×64 latent and 77 tokens.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Graph } from './graph.ts';

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
export function bindInputs(g: Graph, bindings: InputBinding[], log: DiagnosticLog, defaults = DEFAULT_DIMS): Record<string, number> | undefined {
  const named: Record<string, number> = {};
  const before = log.errors().length;
  for (const b of bindings) {
    const input = g.inputs.find((v) => v.name === b.name);
    if (!input) {
      log.error(Code.BadInputBinding, `--input names '${b.name}', but the model's inputs are ${g.inputs.map((v) => `'${v.name}'`).join(', ')}`);
      continue;
    }
    const shape = input.type?.shape;
    if (!shape || shape.length !== b.dims.length) {
      log.error(Code.BadInputBinding, `--input ${b.name} gives ${b.dims.length} dims, but '${b.name}' has rank ${shape?.length ?? 'unknown'}`);
      continue;
    }
    shape.forEach((d, i) => {
      const size = b.dims[i];
      if (typeof d === 'number') {
        if (d !== size) log.error(Code.BadInputBinding, `--input ${b.name}: dim ${i} is fixed at ${d} in the model, not ${size}`);
      } else if (!d.startsWith('?')) {
        if (named[d] !== undefined && named[d] !== size) log.error(Code.BadInputBinding, `dim '${d}' is bound to both ${named[d]} and ${size}`);
        named[d] = size;
      }
    });
    if (log.errors().length === before) input.type = { dtype: input.type!.dtype, shape: [...b.dims] };
  }
  if (log.errors().length > before) return undefined;
  // Defaults bind input dims only: an output's `height` (a VAE's image) is not the latent's.
  const used = new Set(g.inputs.flatMap((v) => (v.type?.shape ?? []).filter((d): d is string => typeof d === 'string')));
  const applied = Object.fromEntries(Object.entries(defaults).filter(([k]) => used.has(k)));
  return { ...applied, ...named };
}

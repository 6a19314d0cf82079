// Per-target specialization: the same rewritten graphs get static input
// shapes for each target's resolution, are shape-checked, and are checked
// against what the target runtime can run. Input and output types are
// snapshotted so one target's binding never leaks into the next (or into the
// generic artifact, which keeps the dynamic dims).
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Graph, TensorType } from '../ir/graph.ts';
import { inferShapes } from '../ir/infer/index.ts';

export interface IoSnapshot {
  inputs: (TensorType | undefined)[];
  outputs: (TensorType | undefined)[];
}

const copyType = (t: TensorType | undefined): TensorType | undefined => (t ? { dtype: t.dtype, shape: t.shape ? [...t.shape] : undefined } : undefined);

export function snapshotIo(g: Graph): IoSnapshot {
  return { inputs: g.inputs.map((v) => copyType(v.type)), outputs: g.outputs.map((v) => copyType(v.type)) };
}

export function restoreIo(g: Graph, s: IoSnapshot): void {
  g.inputs.forEach((v, i) => (v.type = copyType(s.inputs[i])));
  g.outputs.forEach((v, i) => (v.type = copyType(s.outputs[i])));
}

/** The symbolic dims of SD exports, bound for one image at `resolution` pixels. */
export function targetDims(resolution: number, vaeScale = 8): Record<string, number> {
  // The latent is the image over the decoder's upsampling: 8 for SD's VAE, whatever a recipe's decoder does.
  const latent = resolution / vaeScale;
  return {
    batch_size: 1, batch: 1, steps: 1, sequence_length: 77, sequence: 77,
    height: latent, width: latent, height_latent: latent, width_latent: latent,
  };
}

/**
 * Binds the graph's input dims that `dims` names, then infers every shape.
 * The bound input types stay (callers restore a snapshot when done).
 */
export function bindAndInfer(g: Graph, dims: Record<string, number>, log: DiagnosticLog, file?: string): boolean {
  const used = new Set(g.inputs.flatMap((v) => (v.type?.shape ?? []).filter((d): d is string => typeof d === 'string')));
  const applied = Object.fromEntries(Object.entries(dims).filter(([k]) => used.has(k)));
  const before = log.errors().length;
  inferShapes(g, { dims: applied }, log, file);
  return log.errors().length === before;
}

/** Every op type the target runtime lists as unsupported is an error naming the first node that uses it. */
export function checkOps(g: Graph, device: string, unsupported: readonly string[], model: string, log: DiagnosticLog, at?: Location): boolean {
  const banned = new Set(unsupported);
  const seen = new Map<string, string>();
  for (const n of g.nodes()) if (banned.has(n.op) && !seen.has(n.op)) seen.set(n.op, n.name);
  for (const [op, node] of seen) {
    log.error(Code.UnsupportedOnDevice, `${device}'s runtime cannot run ${op}, used by the ${model} (first at node '${node}')`, at ?? { node });
  }
  return seen.size === 0;
}

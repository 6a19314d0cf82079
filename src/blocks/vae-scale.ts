// How much a VAE decoder upsamples its latent: 8 for Stable Diffusion's (three
// upsamplers), 2 for a one-upsampler test decoder. Every size derived from a
// target's resolution (the latent the UNet denoises, the image that comes
// out) divides by it, so it is read off the decoder's graph, not assumed.
import fs from 'node:fs';
import { DiagnosticLog } from '../diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { importGraph } from '../ir/import.ts';
import { loadModel } from '../onnx/model.ts';
import { bindAndInfer, restoreIo, snapshotIo, targetDims } from '../ir/bind.ts';

/** SD's decoder, and what is assumed where no decoder can be read. */
export const SD_VAE_SCALE = 8;

/** Output height over input height of the decoder, inferred at a 64×64 latent; undefined when the graph does not say. */
export function decoderScale(g: Graph): number | undefined {
  const io = snapshotIo(g);
  try {
    if (!bindAndInfer(g, targetDims(64 * SD_VAE_SCALE), new DiagnosticLog())) return undefined;
    const input = (g.inputs.find((v) => v.name === 'latent_sample') ?? g.inputs[0])?.type?.shape;
    const output = g.outputs[0]?.type?.shape;
    const inH = input?.[2];
    const outH = output?.[2];
    if (typeof inH !== 'number' || typeof outH !== 'number' || inH <= 0) return undefined;
    const scale = outH / inH;
    return Number.isInteger(scale) && scale >= 1 ? scale : undefined;
  } finally {
    restoreIo(g, io);
  }
}

const cache = new Map<string, number>();

/** The decoder's scale from its file (graph only, no weights), for callers that price without loading models. */
export function decoderScaleOf(ref: string): number {
  if (ref === 'default') return SD_VAE_SCALE;
  let key = ref;
  try {
    const st = fs.statSync(ref);
    key = `${ref}@${st.mtimeMs}:${st.size}`;
  } catch {
    return SD_VAE_SCALE;
  }
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const log = new DiagnosticLog();
  const m = loadModel(ref, log, { weights: 'optional' });
  const g = m && importGraph(m, log);
  const scale = (g && decoderScale(g)) ?? SD_VAE_SCALE;
  cache.set(key, scale);
  return scale;
}

// What the cost model predicts for an artifact on this machine (the local-cpu
// profile), for `run` to print beside what it measured. The prediction reads
// the artifact's graphs, not its weights.
import path from 'node:path';
import { DiagnosticLog } from '../diagnostics.ts';
import { loadDevice } from '../devices/index.ts';
import { predictImage, type ImagePrediction } from '../cost/whatif/predict-image.ts';
import { importGraph } from '../ir/import.ts';
import { loadModel } from '../onnx/model.ts';
import type { Manifest } from '../artifact/manifest.ts';

export const LOCAL_PROFILE = 'local-cpu';

/** Undefined where the profile or a graph cannot be read; its warnings (another CPU: PD8013) go to `log`. */
export function predictedHere(
  dir: string,
  m: Manifest,
  resolution: number,
  log: DiagnosticLog,
): ImagePrediction | undefined {
  const quiet = new DiagnosticLog();
  const profile = loadDevice(LOCAL_PROFILE, quiet);
  if (!profile) return undefined;
  log.items.push(...quiet.items.filter((d) => d.severity === 'warning'));
  const graph = (c: 'unet' | 'vae_decoder' | 'text_encoder') => {
    const entry = m.models[c];
    const model = entry && loadModel(path.join(dir, entry.file), quiet, { weights: 'optional' });
    return model ? importGraph(model, quiet) : undefined;
  };
  const unet = graph('unet');
  if (!unet) return undefined;
  const guided = m.guidance.scale > 1;
  return predictImage(
    { unet, vae_decoder: graph('vae_decoder'), text_encoder: graph('text_encoder') },
    {
      device: profile,
      steps: m.schedule.steps,
      cfg: !guided ? 'none' : m.guidance.fold === 'batch' ? 'batch' : 'two-calls',
      resolution,
      vaeScale: m.vae_scale_factor,
      batch: 1,
      text_encoder_runs: guided && m.guidance.uncond !== 'baked' ? 2 : 1,
    },
    quiet,
  );
}

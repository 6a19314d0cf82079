// predictImage: one image's latency on a device from the pipeline's graphs
// themselves (text encoder runs + steps × UNet calls + decoder), for callers
// that hold graphs rather than a recipe: a search scoring candidate graphs, a
// test pricing real exports. Recipes are priced through steps/recipe-cost.ts
// (compile and whatif). See image-cost.ts for the pricing.
import type { DiagnosticLog } from '../../diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { ImageCost, type ImageCostOptions, type ImagePrediction } from './image-cost.ts';
import { ensureShapes, targetDims } from '../../ir/bind.ts';
import { buildCostTable } from '../table/build.ts';

export {
  ImageCost,
  type CfgMode,
  type ImageComponents,
  type ImageCostOptions,
  type ImagePrediction,
} from './image-cost.ts';

/**
 * Predicts one image's latency from the pipeline's graphs. The graphs may come
 * shape-inferred (compile's specialized graphs: their shapes are used as they
 * are, and `resolution` is not applied) or not (symbolic dims are bound to
 * `resolution` / 8 and the default batch and sequence, then inferred in place).
 * The UNet's batch is scaled from the graph's own to what `cfg` and `batch`
 * ask. Undefined, with the reasons in `log`, when some shape stays unknown.
 */
export function predictImage(
  models: { unet: Graph; vae_decoder?: Graph; text_encoder?: Graph },
  opts: ImageCostOptions,
  log: DiagnosticLog,
): ImagePrediction | undefined {
  const dims = targetDims(opts.resolution, opts.vaeScale);
  const table = (g: Graph, name: string) =>
    ensureShapes(g, [], dims, log, name)
      ? buildCostTable(g, { model: name, noWidth: true }, log, { file: name })
      : undefined;
  const unet = table(models.unet, 'unet');
  const text_encoder = models.text_encoder && table(models.text_encoder, 'text_encoder');
  const vae_decoder = models.vae_decoder && table(models.vae_decoder, 'vae_decoder');
  if (!unet || (models.text_encoder && !text_encoder) || (models.vae_decoder && !vae_decoder)) return undefined;
  return new ImageCost({ unet, text_encoder, vae_decoder }, opts).predict();
}

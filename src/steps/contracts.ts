// The three models of a recipe have to fit together, and a mismatch found here
// costs a coded error at the recipe's line instead of onnxruntime's "Tensor's
// size(4928) does not match data length(2464)" at `run` time: the text
// encoder's hidden states are as wide (and as long, where both are fixed) as
// what the UNet cross-attends to, and the UNet's latents have the VAE
// decoder's channels. Shapes come from each graph's interface as declared, or
// as inferred where the declaration leaves a dim open.
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { IoSnapshot } from '../ir/bind.ts';
import type { ModelName } from '../model-names.ts';

export interface ModelIo {
  graph: Graph;
  source: string;
  /** The interface as the file declares it, and after binding the default dims and inferring. */
  declared: IoSnapshot;
  inferred: IoSnapshot;
  at?: Location;
}

type Dim = number | undefined;

/**
 * Dim `axis` (negative from the end) of an input (by name) or output (by
 * index): the declared size, else the inferred one; `declaredOnly` for a dim
 * that must be fixed by the file itself (a symbolic one adapts).
 */
function dim(m: ModelIo, side: 'inputs' | 'outputs', which: string | number, axis: number, declaredOnly = false): Dim {
  const i = typeof which === 'number' ? which : m.graph[side].findIndex((v) => v.name === which);
  if (i < 0) return undefined;
  for (const snap of declaredOnly ? [m.declared] : [m.declared, m.inferred]) {
    const shape = snap[side][i]?.shape;
    const d = shape?.[axis < 0 ? shape.length + axis : axis];
    if (typeof d === 'number') return d;
  }
  return undefined;
}

export function checkContracts(models: Record<ModelName, ModelIo>, log: DiagnosticLog): boolean {
  const { text_encoder: te, unet, vae_decoder: vae } = models;
  let ok = true;
  // Every contract is with the UNet: the error sits at the other model's line and names the UNet's.
  const mismatch = (at: ModelIo, message: string) => {
    log.error(Code.ModelsMismatch, message, at.at, [
      `model.unet is ${unet.source}${unet.at ? ` (${unet.at.file}:${unet.at.line}:${unet.at.col})` : ''}`,
    ]);
    ok = false;
  };
  const hidden = dim(te, 'outputs', 0, -1);
  const cross = dim(unet, 'inputs', 'encoder_hidden_states', -1);
  if (hidden !== undefined && cross !== undefined && hidden !== cross) {
    mismatch(
      te,
      `model.text_encoder (${te.source}) gives hidden states ${hidden} wide, but model.unet (${unet.source}) cross-attends to ${cross}: the text encoder's hidden size must be the UNet's cross_attention_dim`,
    );
  }
  const tokens = dim(te, 'outputs', 0, 1, true);
  const attended = dim(unet, 'inputs', 'encoder_hidden_states', 1, true);
  if (tokens !== undefined && attended !== undefined && tokens !== attended) {
    mismatch(
      te,
      `model.text_encoder (${te.source}) gives ${tokens} tokens, but model.unet (${unet.source}) takes encoder_hidden_states of ${attended}`,
    );
  }
  const latent = dim(vae, 'inputs', 'latent_sample', 1);
  const takes = dim(unet, 'inputs', 'sample', 1);
  const gives = dim(unet, 'outputs', 0, 1);
  for (const [what, c] of [
    ['takes latents of', takes],
    ['predicts', gives],
  ] as const) {
    if (latent !== undefined && c !== undefined && c !== latent) {
      mismatch(
        vae,
        `model.vae_decoder (${vae.source}) decodes latents of ${latent} channels, but model.unet (${unet.source}) ${what} ${c}`,
      );
      break;
    }
  }
  return ok;
}

// An artifact's UNet as distillation calls it (the teacher making targets, a
// student checked against them): one output for (z_t, t) and a text
// embedding, conditional only or guided with a per-sample w, whatever
// interface the artifact's UNet has:
//
//   fold 'none'   (sample, timestep, encoder_hidden_states) → out_sample
//                 conditional: one call; guided: u and c calls, u + w·(c − u) on the host
//   fold 'batch'  (… , guidance_scale) → noise_pred: the guidance is in the graph
//                 guided: one call at w; conditional: one call at w = 1 (u + (c − u))
//
// A folded DDIM step is refused: distillation's sub-steps land where the
// plan says (t′, t″), not where the compiled step goes.
import path from 'node:path';
import { guide } from '../run/latents.ts';
import { componentFeeds as feeds, type PreparedRun } from '../run/run-artifact.ts';
import { floats, withSession, type Data } from '../runtime/ort.ts';

/** The UNet's output (its prediction type) for z at timestep t: conditional when w is undefined, else guided by w. */
export type UnetCall = (
  z: Float32Array,
  t: number,
  cond: Float32Array,
  uncond: Float32Array | undefined,
  w?: number,
) => Promise<Float32Array>;

/** Why an artifact's UNet cannot be called this way, or undefined. */
export function unetCallProblem(p: PreparedRun): string | undefined {
  const m = p.a.manifest;
  if (m.schedule.folded_step)
    return 'its UNet has the DDIM step folded in (schedule.fold_step); compile it without, so the plan places the steps';
  return undefined;
}

/** Embeddings of token id rows through the artifact's text encoder, and of "" (unless the UNet has it baked in). */
export async function embed(
  p: PreparedRun,
  rows: readonly number[][],
): Promise<{ cond: Float32Array[]; uncond?: Float32Array }> {
  const te = p.a.models.text_encoder;
  const out = (te.outputs.find((o) => o.name === 'last_hidden_state') ?? te.outputs[0]!).name;
  const needUncond = !(p.a.manifest.guidance.fold === 'batch' && p.a.manifest.guidance.uncond === 'baked');
  return withSession(path.join(p.a.dir, te.file), {}, async (session) => {
    const encode = async (ids: number[]) =>
      floats((await session.run(feeds(te, { [te.inputs[0]!.name]: ids }, p.dims, 'text encoder')))[out]!);
    const cond: Float32Array[] = [];
    for (const ids of rows) cond.push(await encode(ids));
    return { cond, ...(needUncond ? { uncond: await encode(p.tok.tokenizer.encode('')) } : {}) };
  });
}

/** Opens the artifact's UNet for `body`'s calls, and releases it. */
export function withUnet<T>(p: PreparedRun, body: (call: UnetCall) => Promise<T>): Promise<T> {
  const unet = p.a.models.unet;
  const folded = p.a.manifest.guidance.fold === 'batch';
  return withSession(path.join(p.a.dir, unet.file), {}, (session) => {
    const run = async (values: Record<string, Data>, output: string) =>
      floats((await session.run(feeds(unet, values, p.dims, 'unet')))[output]!);
    const call: UnetCall = async (z, t, cond, uncond, w) => {
      if (folded) {
        const values = {
          sample: z,
          timestep: [t],
          encoder_hidden_states: cond,
          guidance_scale: [w ?? 1],
          ...(uncond ? { uncond_encoder_hidden_states: uncond } : {}),
        };
        return run(values, 'noise_pred');
      }
      const c = await run({ sample: z, timestep: [t], encoder_hidden_states: cond }, 'out_sample');
      if (w === undefined) return c;
      return guide(await run({ sample: z, timestep: [t], encoder_hidden_states: uncond! }, 'out_sample'), c, w);
    };
    return body(call);
  });
}

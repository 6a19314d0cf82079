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
import { concreteShape } from '../run/artifact.ts';
import { guide } from '../run/latents.ts';
import { componentFeeds as feeds, type PreparedRun } from '../run/run-artifact.ts';
import { DiagnosticLog, formatDiagnostic } from '../diagnostics.ts';
import { importGraph } from '../ir/import.ts';
import { loadModel } from '../onnx/model.ts';
import { foldCfg } from '../passes/fold-cfg.ts';
import { runPasses } from '../passes/pass.ts';
import {
  floats,
  openSession,
  saveGraph,
  tensor,
  withSession,
  type Data,
  type Feeds,
  type Session,
} from '../runtime/ort.ts';
import { removeScratch, scratchDir } from '../scratch.ts';

/** One sample for the UNet: z at timestep t with its text embedding. */
export interface UnetItem {
  z: Float32Array;
  t: number;
  cond: Float32Array;
}

/**
 * The UNet's outputs (its prediction type) for the items: conditional when
 * `w` is undefined, else each guided by its own w. Batched when the call was
 * opened with a batch (items.length at most that), else one item at a time.
 */
export type UnetCall = (
  items: readonly UnetItem[],
  uncond: Float32Array | undefined,
  w?: readonly number[],
) => Promise<Float32Array[]>;

/** Why an artifact's UNet cannot be called this way (at `batch` samples a call), or undefined. */
export function unetCallProblem(p: PreparedRun, batch = 1): string | undefined {
  const m = p.a.manifest;
  if (m.schedule.folded_step)
    return 'its UNet has the DDIM step folded in (schedule.fold_step); compile it without, so the plan places the steps';
  if (batch > 1 && m.guidance.fold !== 'none')
    return `--batch ${batch} needs the UNet as exported (guidance.fold: none), whose calls take any batch; this one folds guidance for one image`;
  if (batch > 1 && typeof batchDim(p) !== 'string')
    return `--batch ${batch} needs a dynamic batch; this artifact's UNet has static shapes (compile the teacher without targets)`;
  return undefined;
}

const batchDim = (p: PreparedRun) => p.a.models.unet.inputs.find((i) => i.name === 'sample')!.shape[0];

/** Opens the artifact's UNet for `body`'s calls (`batch` items a call at most), and releases it. */
export async function withUnet<T>(p: PreparedRun, body: (call: UnetCall) => Promise<T>, batch = 1): Promise<T> {
  const unet = p.a.models.unet;
  const folded = p.a.manifest.guidance.fold === 'batch';
  if (batch > 1) return withBatchedUnet(p, body);
  return withSession(path.join(p.a.dir, unet.file), {}, (session) => {
    const run = async (values: Record<string, Data>, output: string) =>
      floats((await session.run(feeds(unet, values, p.dims, 'unet')))[output]!);
    const one = async ({ z, t, cond }: UnetItem, uncond: Float32Array | undefined, w: number | undefined) => {
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
    const call: UnetCall = async (items, uncond, w) => {
      const out: Float32Array[] = [];
      for (const [k, item] of items.entries()) out.push(await one(item, uncond, w?.[k]));
      return out;
    };
    return body(call);
  });
}

/**
 * B items a call: conditional through the exported UNet at batch B; guided
 * through it folded per sample (fold-cfg perSample: the UNet at 2B, each
 * sample's own w), written once to a scratch folder (weights copied).
 */
async function withBatchedUnet<T>(p: PreparedRun, body: (call: UnetCall) => Promise<T>): Promise<T> {
  const unet = p.a.models.unet;
  const file = path.join(p.a.dir, unet.file);
  let guided: { file: string; dir: string } | undefined;
  const sessions: Session[] = [];
  const stack = (xs: readonly Float32Array[]) => {
    const out = new Float32Array(xs.length * xs[0]!.length);
    xs.forEach((x, k) => out.set(x, k * x.length));
    return out;
  };
  const rest = (name: string) =>
    concreteShape(unet.inputs.find((i) => i.name === name)!.shape, p.dims, `unet input ${name}`).slice(1);
  const dtype = (name: string) => unet.inputs.find((i) => i.name === name)!.dtype;
  const run = async (
    session: Session,
    items: readonly UnetItem[],
    guide: { uncond: Float32Array; w: readonly number[] } | undefined,
  ) => {
    const B = items.length;
    const text = [B, ...rest('encoder_hidden_states')];
    const input: Feeds = {
      sample: tensor(dtype('sample'), stack(items.map((x) => x.z)), [B, ...rest('sample')]),
      timestep: tensor(
        dtype('timestep'),
        items.map((x) => x.t),
        [B],
      ),
      encoder_hidden_states: tensor(dtype('encoder_hidden_states'), stack(items.map((x) => x.cond)), text),
      ...(guide
        ? {
            uncond_encoder_hidden_states: tensor('float32', stack(items.map(() => guide.uncond)), text),
            guidance_scale: tensor('float32', Float32Array.from(guide.w), [B]),
          }
        : {}),
    };
    const out = floats((await session.run(input))[guide ? 'noise_pred' : 'out_sample']!);
    const n = out.length / B;
    return items.map((_, k) => out.slice(k * n, (k + 1) * n));
  };
  try {
    const plain = await openSession(file);
    sessions.push(plain);
    let folded: Session | undefined;
    const call: UnetCall = async (items, uncond, w) => {
      if (w === undefined) return run(plain, items, undefined);
      if (!folded) {
        guided = foldPerSample(file);
        folded = await openSession(guided.file);
        sessions.push(folded);
      }
      return run(folded, items, { uncond: uncond!, w });
    };
    return await body(call);
  } finally {
    for (const s of sessions) await s.release();
    if (guided) removeScratch(guided.dir);
  }
}

/** The exported UNet folded per sample, saved (with its weights) to a fresh scratch folder. */
function foldPerSample(file: string): { file: string; dir: string } {
  const log = new DiagnosticLog();
  const m = loadModel(file, log);
  const g = m && importGraph(m, log);
  if (!g || !runPasses(g, [foldCfg({ perSample: true })], log))
    throw new Error(log.items.map(formatDiagnostic).join('\n'));
  const dir = scratchDir('distill-unet');
  return { file: saveGraph(g, dir), dir };
}

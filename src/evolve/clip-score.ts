// The CLIP score of a sample, as SnapFusion reports it: 100 × cos(image
// embedding, text embedding), from CLIP towers the user exports
// (transformers' CLIPTextModelWithProjection and CLIPVisionModelWithProjection;
// the builder makes both from a config). The image is the recipe's VAE
// decoder's output as a saved 8-bit RGB image, prepared as
// CLIPImageProcessor does: bicubic resize of the shorter side to the tower's
// input size, center crop, /255, then CLIP's per-channel mean and std.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Graph, Value } from '../ir/graph.ts';
import { importGraph } from '../ir/import.ts';
import { DataType, dataTypeName } from '../onnx/dtype.ts';
import { loadModel } from '../onnx/model.ts';
import { toRgb, vaeInput } from '../run/latents.ts';
import { tokenizerOf } from '../run/tokenizer-files.ts';
import { floats, openSession, tensor, withSession, type Session } from '../runtime/ort.ts';
import { resizeBicubic } from './resize.ts';

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

interface Tower {
  file: string;
  graph: Graph;
  input: Value;
  output: Value;
  width: number;
}

const shapeText = (v: Value) => `${v.type ? dataTypeName(v.type.dtype) : '?'} [${v.type?.shape?.join(', ') ?? '?'}]`;

function readTower(file: string, role: 'text' | 'vision', log: DiagnosticLog): Tower | undefined {
  const m = loadModel(file, log);
  const g = m && importGraph(m, log);
  if (!g) return undefined;
  const what =
    role === 'text'
      ? 'CLIP text tower (CLIPTextModelWithProjection)'
      : 'CLIP vision tower (CLIPVisionModelWithProjection)';
  const input = g.inputs.find((v) => v.name === (role === 'text' ? 'input_ids' : 'pixel_values')) ?? g.inputs[0];
  const embeds = role === 'text' ? 'text_embeds' : 'image_embeds';
  const output = g.outputs.find((v) => v.name === embeds) ?? g.outputs.find((v) => v.type?.shape?.length === 2);
  const s = input?.type?.shape;
  const inputOk =
    role === 'text'
      ? input?.type?.dtype === DataType.INT64 && s?.length === 2
      : input?.type?.dtype === DataType.FLOAT &&
        s?.length === 4 &&
        s[1] === 3 &&
        typeof s[2] === 'number' &&
        s[2] === s[3];
  if (!input || !inputOk) {
    const want =
      role === 'text' ? 'int64 token ids [batch, tokens]' : 'float32 pixels [batch, 3, S, S] with a fixed size S';
    log.error(
      Code.EvolveClipShape,
      `not a ${what}: its input ${input ? `'${input.name}' is ${shapeText(input)}` : 'is missing'}; it should take ${want}`,
      { file, ...(input ? { node: input.name } : {}) },
    );
    return undefined;
  }
  const width = output?.type?.shape?.[1];
  if (!output || typeof width !== 'number' || output.type?.shape?.length !== 2) {
    log.error(
      Code.EvolveClipShape,
      `not a ${what}: it has no '${embeds}' output of shape [batch, width] (its outputs: ${g.outputs.map((v) => `'${v.name}' ${shapeText(v)}`).join(', ')})`,
      { file },
    );
    return undefined;
  }
  return { file, graph: g, input, output, width };
}

export interface ClipFiles {
  text: string;
  vision: string;
  vae: string;
}

export class ClipScorer {
  private constructor(
    private readonly vae: Session,
    private readonly vision: Session,
    private readonly tower: Tower,
    private readonly text: Float32Array[],
  ) {}

  /** Checks both towers agree, embeds the prompts and opens the VAE and vision sessions. */
  static async open(files: ClipFiles, prompts: string[], log: DiagnosticLog): Promise<ClipScorer | undefined> {
    const text = readTower(files.text, 'text', log);
    const vision = readTower(files.vision, 'vision', log);
    if (!text || !vision) return undefined;
    if (text.width !== vision.width) {
      log.error(
        Code.EvolveClipShape,
        `the CLIP towers do not match: the text tower's '${text.output.name}' is ${text.width} wide, the vision tower's '${vision.output.name}' ${vision.width}`,
        { file: files.vision, node: vision.output.name },
        [`text tower: ${files.text}`],
      );
      return undefined;
    }
    const seq = text.input.type!.shape![1];
    const tok = tokenizerOf(text.graph, files.text, typeof seq === 'number' ? seq : 77, log);
    if (!tok) return undefined;
    const embeds: Float32Array[] = [];
    await withSession(files.text, {}, async (session) => {
      for (const p of prompts) {
        const ids = tok.tokenizer.encode(p);
        const r = await session.run({ [text.input.name]: tensor('int64', ids, [1, ids.length]) });
        embeds.push(unit(floats(r[text.output.name])));
      }
    });
    const vae = await openSession(files.vae);
    return new ClipScorer(vae, await openSession(files.vision), vision, embeds);
  }

  /** 100 × cos(image, prompt) of the image these latents decode to. */
  async score(latents: Float32Array, latent: [number, number, number], prompt: number): Promise<number> {
    const [c, h, w] = latent;
    const decoded = Object.values(
      await this.vae.run({ [this.vae.inputNames[0]]: tensor('float32', vaeInput(latents), [1, c, h, w]) }),
    )[0];
    const image = toRgb(floats(decoded), decoded.dims);
    const size = this.tower.input.type!.shape![2] as number;
    const pixels = preprocess(image.pixels, image.width, image.height, size);
    const r = await this.vision.run({ [this.tower.input.name]: tensor('float32', pixels, [1, 3, size, size]) });
    const img = unit(floats(r[this.tower.output.name]));
    const txt = this.text[prompt];
    let dot = 0;
    for (let i = 0; i < img.length; i++) dot += img[i] * txt[i];
    return 100 * dot;
  }

  async release(): Promise<void> {
    await this.vae.release();
    await this.vision.release();
  }
}

function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  const s = n > 0 ? 1 / Math.sqrt(n) : 0;
  return v.map((x) => x * s);
}

/** CLIPImageProcessor: shorter side to `size` (bicubic, 8-bit), center crop, rescale, normalize; planar [3, size, size]. */
export function preprocess(rgb: Uint8Array, width: number, height: number, size: number): Float32Array {
  const scale = size / Math.min(width, height);
  const w = Math.max(size, Math.round(width * scale));
  const h = Math.max(size, Math.round(height * scale));
  const resized = resizeBicubic(rgb, width, height, w, h);
  const left = Math.floor((w - size) / 2);
  const top = Math.floor((h - size) / 2);
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = resized[3 * ((top + y) * w + left + x) + c] / 255;
        out[c * size * size + y * size + x] = (v - MEAN[c]) / STD[c];
      }
    }
  }
  return out;
}

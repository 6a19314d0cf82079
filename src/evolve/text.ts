// Prompt embeddings for scoring: each prompt and the empty prompt through
// the recipe's text encoder, once per run (the text encoder is not searched).
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { tokenizerOf } from '../run/tokenizer-files.ts';
import { floats, tensor, withSession } from '../runtime/ort.ts';
import type { Embedding } from './denoise.ts';

export interface Encoded {
  prompts: Embedding[];
  empty: Embedding;
}

/** The hidden size the UNet's cross-attention reads (encoder_hidden_states' last dim). */
export function contextWidth(unet: Graph): number | undefined {
  const d = unet.inputs.find((v) => v.name === 'encoder_hidden_states')?.type?.shape?.at(-1);
  return typeof d === 'number' ? d : undefined;
}

export async function encodePrompts(
  file: string,
  g: Graph,
  prompts: string[],
  unetWidth: number | undefined,
  log: DiagnosticLog,
  at?: Location,
): Promise<Encoded | undefined> {
  const ids = g.inputs.find((v) => v.name === 'input_ids');
  const out = g.outputs.find((v) => v.name === 'last_hidden_state') ?? g.outputs[0];
  const seqDim = ids?.type?.shape?.[1];
  const tokens = typeof seqDim === 'number' ? seqDim : 77;
  const hidden = out?.type?.shape?.at(-1);
  if (typeof hidden === 'number' && unetWidth !== undefined && hidden !== unetWidth) {
    log.error(
      Code.WrongModelRole,
      `the text encoder's hidden size is ${hidden}, but the UNet's cross-attention reads ${unetWidth}-wide embeddings`,
      at,
    );
    return undefined;
  }
  const tok = tokenizerOf(g, file, tokens, log);
  if (!tok) return undefined;
  return withSession(file, {}, async (session) => {
    const encode = async (text: string): Promise<Embedding> => {
      const t = tok.tokenizer.encode(text);
      const r = await session.run({ input_ids: tensor('int64', t, [1, t.length]) });
      const h = r[out.name];
      return { data: floats(h), tokens: h.dims[1], hidden: h.dims[2] };
    };
    const encoded: Embedding[] = [];
    for (const p of prompts) encoded.push(await encode(p));
    return { prompts: encoded, empty: await encode('') };
  });
}

// The generated demo vocabulary: what an artifact built from a text encoder
// without tokenizer files (the embedded default, whose weights are random)
// tokenizes with. It has CLIP's layout and is learned by CLIP's BPE procedure,
// only from a small built-in corpus instead of 400M captions:
//
//   ids 0–255     the 256 byte characters (bytesToUnicode order)
//   ids 256–511   the same with '</w>'
//   ids 512–…     one token per merge, in rank order
//   last two      <|startoftext|>, <|endoftext|>
//
// Merges are learned greedily: the most frequent adjacent pair over the
// corpus's words (ties: the pair whose 'a b' text sorts first), until no pair
// occurs twice or the text encoder's vocabulary is full. Same vocab_size, same
// files, byte for byte.
import { bytesToUnicode, clipWords, END_OF_TEXT, START_OF_TEXT } from './tokenizer.ts';

/** Prompt-like English: what the demo vocabulary knows words of. */
export const DEMO_CORPUS = `
a photograph of a red bicycle leaning against a brick wall in the morning light.
an oil painting of a quiet harbor at sunset, with small fishing boats and orange clouds.
a watercolor of a cat sleeping on a windowsill, soft colors, gentle shadows.
a portrait of an old man with a white beard, dramatic lighting, highly detailed.
a futuristic city skyline at night, neon lights, rain on the streets, cinematic.
a bowl of fresh fruit on a wooden table: apples, pears, grapes and a lemon.
a mountain landscape with a clear blue lake, pine trees and snow on the peaks.
a cozy cabin in the woods during winter, smoke rising from the chimney.
a close-up photo of a dragonfly on a green leaf, macro, shallow depth of field.
a castle on a hill above a misty valley, fantasy art, epic composition.
a golden retriever running through a field of yellow flowers on a sunny day.
a cup of coffee next to an open book, warm light from the window, still life.
an astronaut riding a horse on the moon, digital art, trending, sharp focus.
a vintage car parked on a city street, black and white photograph, film grain.
a sailing ship on a stormy sea, huge waves, lightning in the dark sky.
a garden full of roses and tulips, spring, bright colors, impressionist painting.
a small robot watering plants in a greenhouse, cute, 3d render, soft lighting.
a bridge over a river in autumn, red and orange leaves, reflections in the water.
a lighthouse on a rocky coast, seagulls flying, dramatic clouds, wide angle.
a plate of pasta with tomato sauce and basil, food photography, studio light.
a family of ducks swimming in a pond, early morning fog, peaceful scene.
a desert with tall sand dunes under a starry sky, the milky way, long exposure.
a child flying a kite on the beach, summer, blue sky, happy, vivid colors.
a train crossing a stone bridge in the mountains, steam, old style illustration.
a wooden boat on a calm lake surrounded by forest, reflections, serene, 4k.
a street market with colorful umbrellas, people walking, lively, travel photo.
a fox in the snow looking at the camera, wildlife photography, natural light.
a modern kitchen with white cabinets and a marble counter, interior design.
a dragon flying over a medieval town, fire, smoke, concept art, detailed scales.
a forest path covered with fallen leaves, sunbeams through the trees, magical.
a teapot and two cups on a tray, pastel colors, minimal, clean background.
a group of friends sitting around a campfire, night, stars, warm glow, smiling.
a skyscraper made of glass reflecting the clouds, architecture, blue hour.
a hot air balloon over green hills, morning, soft mist, aerial view, beautiful.
a black and white cat with green eyes, portrait, sharp, studio photograph.
a rainy window with drops of water, blurred city lights behind, moody.
a map of an imaginary island with mountains, rivers and villages, ink drawing.
a bicycle with a basket of flowers, parked by a blue door, sunny street.
`;

export interface DemoVocabulary {
  vocab: Record<string, number>;
  merges: [string, string][];
}

/** Learns merges from the corpus, at most `maxMerges` of them. */
export function learnMerges(corpus: string, maxMerges: number): [string, string][] {
  const counts = new Map<string, number>();
  for (const w of clipWords(corpus)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts.entries()].map(([w, n]) => {
    const parts = Array.from(w);
    parts[parts.length - 1] += '</w>';
    return { parts, n };
  });
  const merges: [string, string][] = [];
  while (merges.length < maxMerges) {
    const pairs = new Map<string, number>();
    for (const { parts, n } of words)
      for (let i = 0; i + 1 < parts.length; i++)
        pairs.set(`${parts[i]} ${parts[i + 1]}`, (pairs.get(`${parts[i]} ${parts[i + 1]}`) ?? 0) + n);
    let best: string | undefined;
    let bestCount = 1;
    for (const [p, c] of pairs)
      if (c > bestCount || (c === bestCount && best !== undefined && p < best)) [best, bestCount] = [p, c];
    if (best === undefined) break;
    const [a, b] = best.split(' ');
    merges.push([a, b]);
    for (const w of words) {
      const merged: string[] = [];
      for (let i = 0; i < w.parts.length; i++) {
        if (w.parts[i] === a && w.parts[i + 1] === b && i + 1 < w.parts.length) {
          merged.push(a + b);
          i++;
        } else merged.push(w.parts[i]);
      }
      w.parts = merged;
    }
  }
  return merges;
}

const BASE = 512;
const SPECIAL = 2;

/** The demo vocabulary for a text encoder with `vocabSize` token embeddings (at least 514). */
export function demoVocabulary(vocabSize: number): DemoVocabulary {
  if (!(vocabSize >= BASE + SPECIAL))
    throw new Error(
      `demo vocabulary: a CLIP vocabulary needs at least ${BASE + SPECIAL} tokens, the text encoder has ${vocabSize}`,
    );
  const merges = learnMerges(DEMO_CORPUS, vocabSize - BASE - SPECIAL);
  const chars = bytesToUnicode().map(([, c]) => c);
  const tokens = [
    ...chars,
    ...chars.map((c) => c + '</w>'),
    ...merges.map(([a, b]) => a + b),
    START_OF_TEXT,
    END_OF_TEXT,
  ];
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  return { vocab, merges };
}

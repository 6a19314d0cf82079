// CLIP's byte-level BPE tokenizer, as OpenAI's simple_tokenizer.py (and the
// vocab.json + merges.txt that Hugging Face ships for SD's text encoders):
//
//   "A  red bicycle!"  ─ clean: NFC, HTML entities, whitespace runs → ' ', lowercase
//                      ─ split: CLIP's regex (letters runs, single digits, punctuation runs, 's 't …)
//                      ─ bytes: UTF-8, each byte → a printable char (bytes_to_unicode)
//                      ─ BPE: last char gets '</w>'; merge the lowest-ranked pair until none applies
//                      → [SOT, a</w>, red</w>, bicycle</w>, !</w>, EOT, pad…]  (77 ids)
//
// ftfy's mojibake repair is left out (NFC normalization is kept). Ids come from
// vocab.json: SOT and EOT are '<|startoftext|>' and '<|endoftext|>' (49406 and
// 49407 in CLIP's own vocabulary); padding is EOT, as SD 1.x pads, unless
// another pad token is named (SD 2.x pads with '!').
//
// This file imports nothing: the generated pipeline.ts copies it verbatim, so an
// app tokenizes exactly as `pocketdiff run` does.

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';

/** CLIP's split: special tokens, English contractions, letter runs, single digits, other non-space runs. */
export const CLIP_PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/**
 * GPT-2's reversible byte → character map: printable Latin-1 bytes map to
 * themselves, the other 68 bytes to U+0100 onwards, so no token holds a space
 * or a control character. Returned in CLIP's vocabulary order.
 */
export function bytesToUnicode(): [number, string][] {
  const bs: number[] = [];
  for (const [lo, hi] of [
    [0x21, 0x7e],
    [0xa1, 0xac],
    [0xae, 0xff],
  ])
    for (let b = lo; b <= hi; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return bs.map((b, i) => [b, String.fromCharCode(cs[i])]);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function unescapeHtml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, body: string) => {
    if (body[0] !== '#') return ENTITIES[body.toLowerCase()] ?? whole;
    const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** simple_tokenizer's basic_clean + whitespace_clean + lower(), without ftfy. */
export function cleanText(text: string): string {
  return unescapeHtml(unescapeHtml(text.normalize('NFC')))
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

/** The words BPE runs on: CLIP's regex over the cleaned text, each word's UTF-8 bytes as characters. */
export function clipWords(text: string): string[] {
  const byteChar = new Map(bytesToUnicode());
  const utf8 = new TextEncoder();
  return (cleanText(text).match(CLIP_PATTERN) ?? []).map((w) =>
    Array.from(utf8.encode(w), (b) => byteChar.get(b)!).join(''),
  );
}

/** merges.txt lines ('#version' header and blank lines skipped) as pairs. */
export function parseMerges(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#version')) continue;
    const parts = line.split(' ');
    if (parts.length === 2) out.push([parts[0], parts[1]]);
  }
  return out;
}

export interface TokenizerOptions {
  /** Token length of the text encoder's input (77 for CLIP). */
  maxLength?: number;
  /** The padding token's text; EOT when absent. */
  padToken?: string;
}

export class ClipTokenizer {
  readonly sot: number;
  readonly eot: number;
  readonly pad: number;
  readonly maxLength: number;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();

  constructor(
    readonly vocab: Record<string, number>,
    merges: string | [string, string][],
    opts: TokenizerOptions = {},
  ) {
    (typeof merges === 'string' ? parseMerges(merges) : merges).forEach(([a, b], i) => this.ranks.set(`${a} ${b}`, i));
    const id = (token: string, fallback: number) =>
      Object.prototype.hasOwnProperty.call(vocab, token) ? vocab[token] : fallback;
    this.sot = id(START_OF_TEXT, 49406);
    this.eot = id(END_OF_TEXT, 49407);
    this.pad = opts.padToken === undefined ? this.eot : id(opts.padToken, this.eot);
    this.maxLength = opts.maxLength ?? 77;
  }

  /** BPE of one word (already in byte characters): its tokens, the last ending in '</w>'. */
  bpe(word: string): string[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    let parts = Array.from(word);
    parts[parts.length - 1] += '</w>';
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      // Merge every occurrence of the best pair, left to right, as simple_tokenizer does.
      const [a, b] = [parts[best], parts[best + 1]];
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (parts[i] === a && parts[i + 1] === b && i + 1 < parts.length) {
          merged.push(a + b);
          i++;
        } else merged.push(parts[i]);
      }
      parts = merged;
    }
    this.cache.set(word, parts);
    return parts;
  }

  /** Token ids of the text, without SOT/EOT; throws on a token the vocabulary lacks (a broken vocab.json). */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    for (const word of clipWords(text)) {
      if (word === START_OF_TEXT || word === END_OF_TEXT) {
        ids.push(this.vocab[word]);
        continue;
      }
      for (const t of this.bpe(word)) {
        const id = this.vocab[t];
        if (id === undefined)
          throw new Error(`tokenizer: '${t}' is not in the vocabulary (do vocab.json and merges.txt belong together?)`);
        ids.push(id);
      }
    }
    return ids;
  }

  /** The text encoder's input: SOT, at most maxLength − 2 tokens, EOT, then padding to maxLength. */
  encode(text: string): number[] {
    const ids = [this.sot, ...this.tokenize(text).slice(0, this.maxLength - 2), this.eot];
    while (ids.length < this.maxLength) ids.push(this.pad);
    return ids;
  }
}

// Tokenizer files in an artifact: vocab.json, merges.txt and
// tokenizer_config.json, as Hugging Face lays them out for CLIPTokenizer.
//
// compile: copies them from beside the text encoder (its folder, or the
//   diffusers layout's ../tokenizer/) when they are there; otherwise writes the
//   generated demo vocabulary sized to the text encoder's token embedding, and
//   marks tokenizer_config.json with `"pocketdiff_generated": true`.
// run: reads them from the artifact; an artifact without them gets the demo
//   vocabulary generated on the spot. Either way it says which it uses.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { importGraph } from '../ir/import.ts';
import { loadModel } from '../onnx/model.ts';
import { demoVocabulary } from './demo-vocab.ts';
import { ClipTokenizer, END_OF_TEXT, START_OF_TEXT } from './tokenizer.ts';

export const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer_config.json'] as const;

/** CLIP ViT-L/14's vocabulary size, assumed when the text encoder's cannot be read. */
const CLIP_VOCAB = 49408;

/** Rows of the token embedding: the Gather that reads `input_ids` (through Casts) from a weight. */
export function vocabSize(g: Graph): number | undefined {
  const ids = g.inputs.find((v) => v.name === 'input_ids') ?? g.inputs[0];
  const seen = new Set(ids ? [ids] : []);
  for (const v of seen) {
    for (const { node, index } of v.uses) {
      if (node.op === 'Gather' && index === 1 && node.inputs[0]?.weight) return node.inputs[0].weight.dims[0];
      if (node.op === 'Cast' && node.outputs[0]) seen.add(node.outputs[0]);
    }
  }
  return undefined;
}

/** Tokenizer files next to a text encoder model, as real exports ship them. */
const candidates = (modelFile: string) => [
  path.dirname(modelFile),
  path.join(path.dirname(modelFile), '..', 'tokenizer'),
];

function findNextTo(modelFile: string): string | undefined {
  return candidates(modelFile).find(
    (d) => fs.existsSync(path.join(d, 'vocab.json')) && fs.existsSync(path.join(d, 'merges.txt')),
  );
}

export interface TokenizerFiles {
  files: Record<string, string>;
  generated: boolean;
  /** Where they came from, for messages. */
  source: string;
  /** Every path whose contents (or absence) decided these files: an artifact's inputs. */
  looked: string[];
}

/** The tokenizer files an artifact of this text encoder ships. */
export function tokenizerFiles(textEncoder: Graph, modelFile: string): TokenizerFiles {
  const dir = findNextTo(modelFile);
  const looked = candidates(modelFile).flatMap((d) => ['vocab.json', 'merges.txt'].map((f) => path.join(d, f)));
  if (dir) {
    const files: Record<string, string> = {};
    for (const f of TOKENIZER_FILES)
      if (fs.existsSync(path.join(dir, f))) files[f] = fs.readFileSync(path.join(dir, f), 'utf8');
    return {
      files,
      generated: false,
      source: dir,
      looked: [...looked, ...TOKENIZER_FILES.map((f) => path.join(dir, f))],
    };
  }
  return { files: demoFiles(vocabSize(textEncoder) ?? CLIP_VOCAB), generated: true, source: 'generated', looked };
}

const cache = new Map<number, Record<string, string>>();

/** vocab.json, merges.txt and tokenizer_config.json of the demo vocabulary. */
export function demoFiles(size: number): Record<string, string> {
  const hit = cache.get(size);
  if (hit) return hit;
  const { vocab, merges } = demoVocabulary(size);
  const config = {
    pocketdiff_generated: true,
    comment: `pocketdiff's generated demo vocabulary: 512 byte tokens, ${merges.length} merges learned from a small built-in corpus, for a text encoder with ${size} token embeddings. Not CLIP's vocabulary.`,
    tokenizer_class: 'CLIPTokenizer',
    bos_token: START_OF_TEXT,
    eos_token: END_OF_TEXT,
    pad_token: END_OF_TEXT,
    unk_token: END_OF_TEXT,
    model_max_length: 77,
  };
  const files = {
    'vocab.json': JSON.stringify(vocab) + '\n',
    'merges.txt': ['#version: 0.2', ...merges.map(([a, b]) => `${a} ${b}`), ''].join('\n'),
    'tokenizer_config.json': JSON.stringify(config, null, 2) + '\n',
  };
  cache.set(size, files);
  return files;
}

export interface LoadedTokenizer {
  tokenizer: ClipTokenizer;
  generated: boolean;
  /** One line for the user: which vocabulary is in use. */
  description: string;
}

/** The tokenizer of an artifact folder (or of its text encoder, generated); undefined with errors in the log. */
export function loadTokenizer(
  dir: string,
  textEncoderFile: string,
  maxLength: number,
  log: DiagnosticLog,
): LoadedTokenizer | undefined {
  let files: Record<string, string> = {};
  let generatedHere = false;
  if (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt'))) {
    for (const f of TOKENIZER_FILES)
      if (fs.existsSync(path.join(dir, f))) files[f] = fs.readFileSync(path.join(dir, f), 'utf8');
  } else {
    const m = loadModel(textEncoderFile, log);
    const g = m && importGraph(m, log);
    if (!g) return undefined;
    files = demoFiles(vocabSize(g) ?? CLIP_VOCAB);
    generatedHere = true;
  }
  return fromFiles(files, maxLength, generatedHere, dir, log);
}

/** The tokenizer a text encoder model ships beside it (or the generated demo vocabulary), as compile would copy it. */
export function tokenizerOf(
  textEncoder: Graph,
  modelFile: string,
  maxLength: number,
  log: DiagnosticLog,
): LoadedTokenizer | undefined {
  const t = tokenizerFiles(textEncoder, modelFile);
  return fromFiles(t.files, maxLength, t.generated, t.source, log);
}

function fromFiles(
  files: Record<string, string>,
  maxLength: number,
  generatedHere: boolean,
  where: string,
  log: DiagnosticLog,
): LoadedTokenizer | undefined {
  let vocab: Record<string, number>;
  let config: { pocketdiff_generated?: boolean; pad_token?: string | { content?: string } } = {};
  try {
    vocab = JSON.parse(files['vocab.json']);
    if (files['tokenizer_config.json']) config = JSON.parse(files['tokenizer_config.json']);
  } catch (e) {
    log.error(Code.ArtifactInvalid, `tokenizer files are not valid JSON: ${(e as Error).message}`, { file: where });
    return undefined;
  }
  const pad = typeof config.pad_token === 'object' ? config.pad_token?.content : config.pad_token;
  const tokenizer = new ClipTokenizer(vocab, files['merges.txt'], { maxLength, padToken: pad });
  const generated = generatedHere || config.pocketdiff_generated === true;
  const size = Object.keys(vocab).length;
  const description = generated
    ? `using the generated demo vocabulary (${size.toLocaleString('en-US')} tokens${generatedHere ? ', made now: the artifact has no vocab.json' : ', vocab.json in the artifact'}; not CLIP's vocabulary)`
    : `using the artifact's vocabulary (vocab.json, ${size.toLocaleString('en-US')} tokens)`;
  return { tokenizer, generated, description };
}

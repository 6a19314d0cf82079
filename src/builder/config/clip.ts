// transformers CLIP tower configs: CLIPTextConfig (CLIPTextModel and
// CLIPTextModelWithProjection) and CLIPVisionConfig (CLIPVisionModelWithProjection),
// with the library's keys and defaults. PretrainedConfig's generic fields
// (generation settings, labels, dtype) change no graph and pass as inert.
import type { DiagnosticLog } from '../../diagnostics.ts';
import { is, refuse, resolveKeys, type Check, type KeyTable } from './keys.ts';
import type { ConfigFile } from './read.ts';

/** What both towers' encoders read (CLIPEncoder, CLIPEncoderLayer, CLIPAttention, CLIPMLP). */
const ENCODER_KEYS: KeyTable = {
  num_hidden_layers: { default: 12, check: is.posInt() },
  hidden_act: { default: 'quick_gelu', check: is.only('quick_gelu', 'gelu') },
  layer_norm_eps: { default: 1e-5, check: is.positive() },
  attention_dropout: { default: 0, check: is.number() },
  dropout: { default: 0, check: is.number() },
  initializer_range: { default: 0.02, check: is.number() },
  initializer_factor: { default: 1, check: is.number() },
};

export const CLIP_KEYS: KeyTable = {
  ...ENCODER_KEYS,
  vocab_size: { default: 49408, check: is.posInt() },
  hidden_size: { default: 512, check: is.posInt() },
  intermediate_size: { default: 2048, check: is.posInt() },
  // Used by CLIPTextModelWithProjection only.
  projection_dim: { default: 512, check: is.posInt() },
  num_attention_heads: { default: 8, check: is.posInt() },
  max_position_embeddings: { default: 77, check: is.posInt() },
  pad_token_id: { default: 1, check: is.int() },
  bos_token_id: { default: 49406, check: is.int() },
  eos_token_id: { default: 49407, check: is.int() },
};

/** PretrainedConfig's token ids: a vision config dumped from a CLIPConfig carries them as null. */
const tokenId: Check = (v) =>
  v === null || Number.isInteger(v) ? undefined : { unsupported: false, message: 'must be an integer or null' };

export const CLIP_VISION_KEYS: KeyTable = {
  ...ENCODER_KEYS,
  hidden_size: { default: 768, check: is.posInt() },
  intermediate_size: { default: 3072, check: is.posInt() },
  projection_dim: { default: 512, check: is.posInt() },
  num_attention_heads: { default: 12, check: is.posInt() },
  num_channels: { default: 3, check: is.posInt() },
  image_size: { default: 224, check: is.posInt() },
  patch_size: { default: 32, check: is.posInt() },
  pad_token_id: { default: null, check: tokenId },
  bos_token_id: { default: null, check: tokenId },
  eos_token_id: { default: null, check: tokenId },
};

/** PretrainedConfig fields that do not change the traced graph. */
const INERT = new Set([
  'architectures',
  'model_type',
  'torch_dtype',
  'transformers_version',
  'return_dict',
  'output_hidden_states',
  'output_attentions',
  'torchscript',
  'use_bfloat16',
  'tf_legacy_loss',
  'pruned_heads',
  'tie_word_embeddings',
  'chunk_size_feed_forward',
  'is_encoder_decoder',
  'is_decoder',
  'cross_attention_hidden_size',
  'add_cross_attention',
  'tie_encoder_decoder',
  'max_length',
  'min_length',
  'do_sample',
  'early_stopping',
  'num_beams',
  'num_beam_groups',
  'diversity_penalty',
  'temperature',
  'top_k',
  'top_p',
  'typical_p',
  'repetition_penalty',
  'length_penalty',
  'no_repeat_ngram_size',
  'encoder_no_repeat_ngram_size',
  'bad_words_ids',
  'num_return_sequences',
  'output_scores',
  'return_dict_in_generate',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'remove_invalid_values',
  'exponential_decay_length_penalty',
  'suppress_tokens',
  'begin_suppress_tokens',
  'finetuning_task',
  'id2label',
  'label2id',
  'tokenizer_class',
  'prefix',
  'sep_token_id',
  'decoder_start_token_id',
  'task_specific_params',
  'problem_type',
  'name_or_path',
]);

/** The encoder stack both towers share. */
export interface ClipEncoderSpec {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  act: 'quick_gelu' | 'gelu';
  eps: number;
}

export interface ClipPlan extends ClipEncoderSpec {
  vocab: number;
  positions: number;
  eosTokenId: number;
  /** projection_dim of CLIPTextModelWithProjection's text_projection; undefined for CLIPTextModel. */
  projection?: number;
}

export interface ClipVisionPlan extends ClipEncoderSpec {
  channels: number;
  image: number;
  patch: number;
  projection: number;
}

export type ClipTextClass = 'CLIPTextModel' | 'CLIPTextModelWithProjection';

export function resolveClip(
  cfg: ConfigFile,
  log: DiagnosticLog,
  model: ClipTextClass = 'CLIPTextModel',
): ClipPlan | undefined {
  const c = resolveKeys(cfg, model, CLIP_KEYS, INERT, log);
  const enc = c && encoderSpec(cfg, c, log);
  if (!c || !enc) return undefined;
  return {
    ...enc,
    vocab: c.vocab_size as number,
    positions: c.max_position_embeddings as number,
    eosTokenId: c.eos_token_id as number,
    projection: model === 'CLIPTextModelWithProjection' ? (c.projection_dim as number) : undefined,
  };
}

export function resolveClipVision(cfg: ConfigFile, log: DiagnosticLog): ClipVisionPlan | undefined {
  const c = resolveKeys(cfg, 'CLIPVisionModelWithProjection', CLIP_VISION_KEYS, INERT, log);
  if (!c) return undefined;
  const enc = encoderSpec(cfg, c, log);
  const image = c.image_size as number;
  const patch = c.patch_size as number;
  // transformers would drop the remainder (the stride-`patch` conv floors); the builder takes whole patches only.
  const whole = image % patch === 0;
  if (!whole)
    refuse(
      log,
      cfg,
      'image_size',
      `image_size ${image} is not a multiple of patch_size ${patch}: only whole patches are implemented`,
      true,
    );
  if (!enc || !whole) return undefined;
  return { ...enc, channels: c.num_channels as number, image, patch, projection: c.projection_dim as number };
}

function encoderSpec(cfg: ConfigFile, c: Record<string, unknown>, log: DiagnosticLog): ClipEncoderSpec | undefined {
  const hidden = c.hidden_size as number;
  const heads = c.num_attention_heads as number;
  if (hidden % heads !== 0) {
    refuse(log, cfg, 'num_attention_heads', `${heads} attention heads do not divide hidden_size ${hidden}`);
    return undefined;
  }
  return {
    hidden,
    intermediate: c.intermediate_size as number,
    layers: c.num_hidden_layers as number,
    heads,
    act: c.hidden_act as ClipEncoderSpec['act'],
    eps: c.layer_norm_eps as number,
  };
}

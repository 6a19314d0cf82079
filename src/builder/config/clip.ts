// transformers CLIPTextModel configs (CLIPTextConfig keys and defaults).
// PretrainedConfig's generic fields (generation settings, labels, dtype) change
// no graph and pass as inert.
import type { DiagnosticLog } from '../../diagnostics.ts';
import { is, refuse, resolveKeys, type KeyTable } from './keys.ts';
import type { ConfigFile } from './read.ts';

export const CLIP_KEYS: KeyTable = {
  vocab_size: { default: 49408, check: is.posInt() },
  hidden_size: { default: 512, check: is.posInt() },
  intermediate_size: { default: 2048, check: is.posInt() },
  // Used by CLIPTextModelWithProjection only.
  projection_dim: { default: 512, check: is.posInt() },
  num_hidden_layers: { default: 12, check: is.posInt() },
  num_attention_heads: { default: 8, check: is.posInt() },
  max_position_embeddings: { default: 77, check: is.posInt() },
  hidden_act: { default: 'quick_gelu', check: is.only('quick_gelu', 'gelu') },
  layer_norm_eps: { default: 1e-5, check: is.positive() },
  attention_dropout: { default: 0, check: is.number() },
  dropout: { default: 0, check: is.number() },
  initializer_range: { default: 0.02, check: is.number() },
  initializer_factor: { default: 1, check: is.number() },
  pad_token_id: { default: 1, check: is.int() },
  bos_token_id: { default: 49406, check: is.int() },
  eos_token_id: { default: 49407, check: is.int() },
};

/** PretrainedConfig fields that do not change the traced graph. */
const INERT = new Set([
  'architectures', 'model_type', 'torch_dtype', 'transformers_version', 'return_dict', 'output_hidden_states',
  'output_attentions', 'torchscript', 'use_bfloat16', 'tf_legacy_loss', 'pruned_heads', 'tie_word_embeddings',
  'chunk_size_feed_forward', 'is_encoder_decoder', 'is_decoder', 'cross_attention_hidden_size', 'add_cross_attention',
  'tie_encoder_decoder', 'max_length', 'min_length', 'do_sample', 'early_stopping', 'num_beams', 'num_beam_groups',
  'diversity_penalty', 'temperature', 'top_k', 'top_p', 'typical_p', 'repetition_penalty', 'length_penalty',
  'no_repeat_ngram_size', 'encoder_no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences',
  'output_scores', 'return_dict_in_generate', 'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values',
  'exponential_decay_length_penalty', 'suppress_tokens', 'begin_suppress_tokens', 'finetuning_task', 'id2label',
  'label2id', 'tokenizer_class', 'prefix', 'sep_token_id', 'decoder_start_token_id', 'task_specific_params',
  'problem_type', 'name_or_path',
]);

export interface ClipPlan {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  positions: number;
  act: 'quick_gelu' | 'gelu';
  eps: number;
  eosTokenId: number;
}

export function resolveClip(cfg: ConfigFile, log: DiagnosticLog): ClipPlan | undefined {
  const c = resolveKeys(cfg, 'CLIPTextModel', CLIP_KEYS, INERT, log);
  if (!c) return undefined;
  const hidden = c.hidden_size as number;
  const heads = c.num_attention_heads as number;
  if (hidden % heads !== 0) {
    refuse(log, cfg, 'num_attention_heads', `${heads} attention heads do not divide hidden_size ${hidden}`);
    return undefined;
  }
  return {
    vocab: c.vocab_size as number,
    hidden,
    intermediate: c.intermediate_size as number,
    layers: c.num_hidden_layers as number,
    heads,
    positions: c.max_position_embeddings as number,
    act: c.hidden_act as ClipPlan['act'],
    eps: c.layer_norm_eps as number,
    eosTokenId: c.eos_token_id as number,
  };
}

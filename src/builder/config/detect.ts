// Which model a config describes: diffusers writes `_class_name`, transformers
// writes `architectures` / `model_type`; a bare config is recognised by keys
// only its class has.
import { Code } from '../../codes.ts';
import type { DiagnosticLog } from '../../diagnostics.ts';
import type { ConfigFile } from './read.ts';

export type ModelKind = 'unet' | 'vae' | 'clip' | 'clip_projection' | 'clip_vision';

export const MODEL_CLASSES: Record<ModelKind, string> = {
  unet: 'UNet2DConditionModel',
  vae: 'AutoencoderKL',
  clip: 'CLIPTextModel',
  clip_projection: 'CLIPTextModelWithProjection',
  clip_vision: 'CLIPVisionModelWithProjection',
};

/**
 * transformers' model_type, read when architectures is absent. A vision config
 * builds CLIPVisionModelWithProjection, the only vision class implemented.
 */
const MODEL_TYPES = new Map<unknown, ModelKind>([
  ['clip_text_model', 'clip'],
  ['clip_vision_model', 'clip_vision'],
]);

export function detectModel(cfg: ConfigFile, log: DiagnosticLog): ModelKind | undefined {
  const v = cfg.values;
  const known = Object.entries(MODEL_CLASSES)
    .map(([k, c]) => `${c} (${k})`)
    .join(', ');
  if (v._class_name !== undefined) {
    const kind = kindOf(v._class_name);
    if (!kind)
      log.error(
        Code.ConfigUnknownModel,
        `model class ${JSON.stringify(v._class_name)} is not one the builder implements; it builds ${known}`,
        cfg.keyAt('_class_name'),
      );
    return kind;
  }
  if (v.architectures !== undefined) {
    const archs = Array.isArray(v.architectures) ? v.architectures : [v.architectures];
    const kind = archs.map(kindOf).find((k) => k !== undefined);
    if (!kind)
      log.error(
        Code.ConfigUnknownModel,
        `architectures ${JSON.stringify(v.architectures)} name no model the builder implements; it builds ${known}`,
        cfg.keyAt('architectures'),
      );
    return kind;
  }
  if (v.model_type !== undefined) {
    const kind = MODEL_TYPES.get(v.model_type);
    if (kind) return kind;
    log.error(
      Code.ConfigUnknownModel,
      `model_type ${JSON.stringify(v.model_type)} is not one the builder implements; it builds ${known}`,
      cfg.keyAt('model_type'),
    );
    return undefined;
  }
  if ('cross_attention_dim' in v || ('down_block_types' in v && 'up_block_types' in v && !('latent_channels' in v)))
    return 'unet';
  if ('latent_channels' in v) return 'vae';
  if ('vocab_size' in v && 'hidden_size' in v) return 'clip';
  if ('image_size' in v && 'patch_size' in v && 'hidden_size' in v) return 'clip_vision';
  log.error(
    Code.ConfigUnknownModel,
    `cannot tell which model this config describes: it has no _class_name, architectures or model_type, and none of the keys that identify ${known}`,
    { file: cfg.file },
  );
  return undefined;
}

function kindOf(name: unknown): ModelKind | undefined {
  return (Object.keys(MODEL_CLASSES) as ModelKind[]).find((k) => MODEL_CLASSES[k] === name);
}

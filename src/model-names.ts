// The three models of a Stable Diffusion pipeline, by the one name each has
// in recipes (model.text_encoder), manifests, cost tables, reports and
// artifact files (text_encoder.onnx), in the order an image runs them.
export const MODEL_NAMES = ['text_encoder', 'unet', 'vae_decoder'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

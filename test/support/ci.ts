// Tiny recipes with a device target, for the CI-build tests (up to date,
// diff, the workflow, the package): the tiny fixtures, a tiny text encoder
// built from its config, galaxy-s23 at 64 px.
import fs from 'node:fs';
import path from 'node:path';
import { tinyTextEncoder } from './builder-fixtures.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface TinyRecipe {
  unet?: string;
  vae?: string;
  remove?: string[];
  budgetMs?: number;
}

/** Writes `<dir>/<name>.yaml`; the text encoder is built once per folder. */
export function tinyRecipe(dir: string, name: string, o: TinyRecipe = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const te = path.join(dir, 'text-encoder-tiny', 'model.onnx');
  const textEncoder = fs.existsSync(te) ? te : tinyTextEncoder(dir);
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      'model:',
      `  unet: ${o.unet ?? path.join(ROOT, 'test/fixtures/unet-tiny/model.onnx')}`,
      `  vae_decoder: ${o.vae ?? path.join(ROOT, 'test/fixtures/vae-decoder-tiny/model.onnx')}`,
      `  text_encoder: ${textEncoder}`,
      'unet:',
      `  remove: [${(o.remove ?? ['down_blocks.1.attentions.0']).join(', ')}]`,
      'schedule: {steps: 4, spacing: trailing}',
      'targets:',
      `  - {device: galaxy-s23, resolution: 64, budget_ms: ${o.budgetMs ?? 100}}`,
      '',
    ].join('\n'),
  );
  return file;
}

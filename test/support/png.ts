// Screenshots as a person sees them: which colour is where (src/run/png.ts
// reads the PNGs headless Chromium writes).
import { decodePng as decode } from '../../src/run/png.ts';

export type Image = ReturnType<typeof decode>;

export const decodePng = (file: Buffer): Image => decode(file);

export function pixel(img: Image, x: number, y: number): [number, number, number] {
  const i = (y * img.width + x) * 3;
  return [img.pixels[i]!, img.pixels[i + 1]!, img.pixels[i + 2]!];
}

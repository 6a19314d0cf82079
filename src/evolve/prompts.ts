// The prompts evolve scores on: one caption a line from --prompts, or a
// built-in set written in the style of COCO captions (plain scenes, one
// sentence each), which is what SnapFusion's CLIP scores are measured on.
import fs from 'node:fs';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';

export const BUILT_IN_PROMPTS: readonly string[] = [
  'A man riding a bicycle down a city street.',
  'Two dogs playing with a frisbee on the grass.',
  'A bowl of fruit sitting on a wooden kitchen table.',
  'A red double decker bus parked by the curb.',
  'A cat sleeping on the arm of a couch.',
  'A plate with a sandwich and a pickle next to a cup of coffee.',
  'A group of people standing on a beach holding surfboards.',
  'A train traveling over a bridge near the mountains.',
  'A small boat tied to a dock on a calm lake.',
  'A giraffe standing next to a tree in a field.',
  'A living room with a fireplace and a flat screen television.',
  'A woman holding an umbrella while walking in the rain.',
  'A pizza with vegetables on a metal tray.',
  'An airplane flying in a clear blue sky.',
  'A clock tower in the middle of a town square.',
  'A child flying a kite in a park on a sunny day.',
];

export interface Prompt {
  text: string;
  /** file:line of the caption, or 'built-in'. */
  from: string;
}

/** `--prompts FILE` (one caption a line, blank lines and `#` comments skipped), or the built-in set. */
export function loadPrompts(file: string | undefined, log: DiagnosticLog): Prompt[] | undefined {
  if (file === undefined) return BUILT_IN_PROMPTS.map((text, i) => ({ text, from: `built-in:${i + 1}` }));
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    log.error(Code.FileNotFound, `cannot read the prompts file: ${(e as Error).message}`, { file });
    return undefined;
  }
  const prompts = text.split(/\r?\n/).flatMap((line, i) => {
    const t = line.trim();
    return t && !t.startsWith('#') ? [{ text: t, from: `${file}:${i + 1}` }] : [];
  });
  if (!prompts.length) {
    log.error(
      Code.EvolveNoPrompts,
      'the prompts file has no captions (one a line; blank lines and # comments are skipped)',
      { file, line: 1, col: 1 },
    );
    return undefined;
  }
  return prompts;
}

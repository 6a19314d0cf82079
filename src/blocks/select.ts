// Block selectors: diffusers module paths with `*` globs
// (`down_blocks.0.attentions.*`), resolved against a model's block map. An
// unknown path gets a did-you-mean from the real block names.
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Block } from './find.ts';
import { closest } from '../text/did-you-mean.ts';

export function globToRegExp(glob: string): RegExp {
  // `*` matches within one path segment; `**` across segments.
  const re = glob
    .split(/(\*\*|\*)/)
    .map((part) => (part === '**' ? '.*' : part === '*' ? '[^.]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`);
}

/** Indices of the names a selector matches; PD5001 with a did-you-mean when none. */
export function selectNames(
  selector: string,
  names: readonly string[],
  log: DiagnosticLog,
  at?: Location,
): number[] | undefined {
  const re = globToRegExp(selector);
  const hits = names.flatMap((n, i) => (re.test(n) ? [i] : []));
  if (hits.length) return hits;
  const guess = closest(selector, names);
  log.error(
    Code.UnknownBlock,
    `no block matches '${selector}'${guess ? `; did you mean '${guess}'?` : ''}`,
    at,
    guess ? undefined : [`blocks in this model: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''}`],
  );
  return undefined;
}

export function selectBlocks(
  selector: string,
  blocks: readonly Block[],
  log: DiagnosticLog,
  at?: Location,
): Block[] | undefined {
  return selectNames(
    selector,
    blocks.map((b) => b.name),
    log,
    at,
  )?.map((i) => blocks[i]!);
}

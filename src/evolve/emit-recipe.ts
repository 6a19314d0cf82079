// EVOLVED.yaml: a recipe that `extends:` the input and lists the UNet's
// removals and duplications as evolve left them, each of evolve's own with a
// comment giving its ΔQuality, ms and value (lists replace the parent's, so
// the parent's entries are repeated first). A target for the device carries
// the budget, so `pocketdiff compile` checks it. Text only from the inputs:
// the same search gives the same bytes.
import path from 'node:path';
import type { LoadedRecipe } from '../recipe/load.ts';
import { PROJECT_ROOT } from '../root.ts';
import type { Arch, SlotMap } from './slots.ts';
import type { Objective } from './latency.ts';
import { fmtQuality } from './report.ts';
import type { Round, Scored, SearchResult } from './search.ts';

export interface EvolvedRecipeInput {
  loaded: LoadedRecipe;
  /** Where the evolved recipe goes (for the relative `extends:`). */
  out: string;
  slots: SlotMap;
  result: SearchResult;
  device: string;
  budget: number;
  objective: Objective;
  resolution: number;
  /** One line on how quality was measured. */
  measured: string;
}

const plain = (s: string) => (/^[A-Za-z0-9_.*/+-]+$/.test(s) && !/^[-*]/.test(s) ? s : JSON.stringify(s));
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toPrecision(2));
const rel = (from: string, to: string) =>
  path
    .relative(path.dirname(path.resolve(from)), path.resolve(to))
    .split(path.sep)
    .join('/');

function note(s: Scored, round: number): string {
  const value = s.value === null ? 'free' : `${s.value.toExponential(2)} per ms`;
  const dms = s.kind === 'remove' ? `saves ${ms(-s.delta_ms)} ms` : `costs ${ms(s.delta_ms)} ms`;
  return `round ${round}: Δquality ${fmtQuality(s.delta_quality)}, ${dms}, ${value}`;
}

/** The round whose applied action last set this slot's count. */
function lastChange(rounds: Round[], block: string): { round: number; s: Scored } | undefined {
  for (let i = rounds.length - 1; i >= 0; i--) {
    const s = rounds[i].applied.find((a) => a.block === block);
    if (s) return { round: rounds[i].round, s };
  }
  return undefined;
}

export function evolvedRecipe(o: EvolvedRecipeInput): string {
  const r = o.loaded.recipe;
  const { slots } = o.slots;
  const arch: Arch = o.result.arch;
  const parentName = path.basename(o.loaded.file);
  const lines: string[] = [];
  const schema = rel(o.out, path.join(PROJECT_ROOT, 'schemas', 'recipe.schema.json'));
  const removed = slots.flatMap((s, i) => (arch[i] === 0 ? [i] : []));
  const added = slots.flatMap((s, i) => (arch[i] > s.start ? [i] : []));
  const res = o.result;
  lines.push(
    `# yaml-language-server: $schema=${schema}`,
    '#',
    `# Evolved by \`pocketdiff evolve\` from ${parentName} for ${o.device}: ${o.objective === 'image' ? 'one image' : 'one UNet step'} within ${ms(o.budget)} ms.`,
    `# Predicted ${ms(res.start.ms)} → ${ms(res.end.ms)} ms${res.end.interval_80 ? ` (80%: ${ms(res.end.interval_80[0])}–${ms(res.end.interval_80[1])})` : ''}; quality ${fmtQuality(res.start.quality)} → ${fmtQuality(res.end.quality)}.`,
    `# ${o.measured}`,
    `# ${res.rounds.length} round${res.rounds.length === 1 ? '' : 's'}; ${removed.length} block${removed.length === 1 ? '' : 's'} removed, ${added.length} copied (the log beside this file has every candidate's score).`,
    `extends: ${plain(rel(o.out, o.loaded.file))}`,
    `description: ${JSON.stringify(`${r.description ?? o.loaded.name}; evolved for ${o.device} within ${ms(o.budget)} ms ${o.objective === 'image' ? 'per image' : 'per UNet step'}`)}`,
  );

  const removeLines: string[] = [];
  for (const x of r.unet.remove) {
    const entry =
      typeof x === 'string' ? plain(x) : `{block: ${plain(x.block)}${x.keep_shortcut ? ', keep_shortcut: true' : ''}}`;
    removeLines.push(`    - ${entry}   # from ${parentName}`);
  }
  for (const i of removed) {
    const s = slots[i];
    const entry = s.keepShortcut ? `{block: ${plain(s.block)}, keep_shortcut: true}` : plain(s.block);
    const why = lastChange(res.rounds, s.block);
    removeLines.push(`    - ${entry}${why ? `   # ${note(why.s, why.round)}` : ''}`);
  }
  // Copies: the recipe's own (each slot's start − 1) and evolve's, as one list.
  const dupChanged = slots.some((s, i) => s.start > 1 && arch[i] !== s.start) || added.length > 0;
  const dupLines: string[] = [];
  if (dupChanged) {
    slots.forEach((s, i) => {
      const copies = Math.max(0, arch[i] - 1);
      const why = lastChange(res.rounds, s.block);
      for (let k = 0; k < copies; k++) {
        const own = k < s.start - 1;
        dupLines.push(
          `    - ${plain(s.block)}   # ${own ? `from ${parentName}` : why ? note(why.s, why.round) : 'added'}`,
        );
      }
      if (s.start > 1 && arch[i] < s.start && arch[i] > 0 && why)
        dupLines.push(
          `    # ${s.block}: ${s.start - arch[i]} of ${parentName}'s copies dropped (${note(why.s, why.round)})`,
        );
    });
  }
  if (removed.length || dupChanged) {
    lines.push('', 'unet:');
    if (removed.length) lines.push('  remove:', ...removeLines);
    if (dupChanged)
      lines.push(dupLines.some((l) => l.startsWith('    -')) ? '  duplicate:' : '  duplicate: []', ...dupLines);
  }

  if (o.objective === 'image') {
    const targets = r.targets.filter((t) => t.device !== o.device).map((t) => ({ ...t }) as Record<string, unknown>);
    targets.push({ device: o.device, resolution: o.resolution, budget_ms: o.budget });
    lines.push(
      '',
      'targets:',
      ...targets.map(
        (t) =>
          `  - {${Object.entries(t)
            .map(([k, v]) => `${k}: ${typeof v === 'string' ? plain(v) : v}`)
            .join(', ')}}`,
      ),
    );
  }
  return lines.join('\n') + '\n';
}

// What-if throughput: the SD-v1.5 UNet's blocks priced once per device
// (WhatIf), then random block sets (each block kept, removed or duplicated)
// evaluated as fast as a search would. Target: ≥ 100,000 what-ifs per second.
// Also times one widths-included variant per evaluation (the memoized path)
// and the end-to-end `whatif` CLI on a SnapFusion-style recipe.
//
//   node --import tsx bench/cost.ts
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { planCost } from '../src/cost/roofline/plan.ts';
import { familyConfig, sourceTable } from '../src/cost/table/sources.ts';
import { WhatIf } from '../src/cost/whatif/whatif.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { loadDevice } from '../src/devices/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGET = 100_000;
const SECONDS = 1;

export interface CostBench {
  device: string;
  blocks: number;
  /** Block-set what-ifs (counts only) per second. */
  whatifs_per_s: number;
  /** What-ifs with a random block narrowed each time (memoized per block and ratio). */
  width_whatifs_per_s: number;
  target: number;
  pass: boolean;
  /** End to end `pocketdiff whatif` wall times (warm cost-table cache), per device. */
  cli_ms?: Record<string, number>;
}

export async function benchCost(): Promise<CostBench> {
  const log = new DiagnosticLog();
  const profile = loadDevice('iphone-14-pro', log);
  const table = profile && (await sourceTable({ kind: 'config', file: familyConfig('unet') }, [], {}, log));
  if (!profile || !table) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  const w = new WhatIf(planCost(table, profile, { batch: 2 }));
  const n = w.names.length;
  // Random variants made up front, so the loop times the evaluation alone.
  const variants = Array.from({ length: 4096 }, (_, k) =>
    Float64Array.from({ length: n }, (_, i) => ((k * 2654435761 + i * 40503) >>> 7) % 3),
  );
  let sink = 0;
  const rate = (f: (i: number) => number) => {
    for (let i = 0; i < 10_000; i++) sink += f(i); // warm-up
    let count = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < SECONDS * 1000) {
      for (let i = 0; i < 10_000; i++) sink += f(count + i);
      count += 10_000;
      t = performance.now();
    }
    return count / ((t - t0) / 1000);
  };
  const perSecond = rate((i) => w.ms(variants[i & 4095]));
  const v = w.variant();
  const ratios = [0.5, 0.625, 0.75, 0.875, 1.25];
  const widthPerSecond = rate((i) => {
    const b = i % n;
    v.widths.fill(1);
    v.widths[b] = ratios[i % ratios.length];
    return w.variantMs(v);
  });
  if (!Number.isFinite(sink)) throw new Error('unreachable');
  const result: CostBench = {
    device: profile.name,
    blocks: n,
    whatifs_per_s: Math.round(perSecond),
    width_whatifs_per_s: Math.round(widthPerSecond),
    target: TARGET,
    pass: perSecond >= TARGET,
    cli_ms: cliTimes(),
  };
  const line = (s: string) => process.stdout.write(s + '\n');
  line(
    `what-if API (${n} blocks of the SD-v1.5 UNet on ${profile.name}): ${result.whatifs_per_s.toLocaleString('en-US')} block-set what-ifs/s (target ≥ ${TARGET.toLocaleString('en-US')}): ${result.pass ? 'PASS' : 'FAIL'}`,
  );
  line(`  with one block narrowed per what-if: ${result.width_whatifs_per_s.toLocaleString('en-US')}/s`);
  if (result.cli_ms)
    for (const [d, ms] of Object.entries(result.cli_ms))
      line(`  pocketdiff whatif <snapfusion recipe> --device ${d} --json: ${ms.toFixed(0)} ms end to end (warm cache)`);
  fs.mkdirSync(path.join(ROOT, 'out'), { recursive: true });
  fs.writeFileSync(
    path.join(ROOT, 'out', 'bench-cost.json'),
    JSON.stringify(
      { date: new Date().toISOString(), cpus: os.cpus().length, loadavg: os.loadavg(), ...result },
      null,
      2,
    ) + '\n',
  );
  return result;
}

/** Wall time of the whatif CLI on the lead's SnapFusion recipe, or a stand-in written to a temp dir. */
function cliTimes(): Record<string, number> | undefined {
  let recipe = path.join(ROOT, 'recipes', 'snapfusion-iphone14pro.yaml');
  if (!fs.existsSync(recipe)) {
    recipe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pocketdiff-bench-')), 'snapfusion.yaml');
    fs.writeFileSync(recipe, SNAPFUSION_STANDIN);
  }
  const out: Record<string, number> = {};
  for (const device of ['iphone-14-pro', 'galaxy-s23']) {
    const args = [path.join(ROOT, 'bin', 'pocketdiff.js'), 'whatif', recipe, '--device', device, '--json'];
    spawnSync(process.execPath, args, { encoding: 'utf8' }); // fills the cost-table cache
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
      times.push(performance.now() - t0);
      if (r.status !== 0) return undefined;
    }
    out[device] = Math.min(...times);
  }
  return out;
}

/** SnapFusion's architecture edits on SD-v1.5, as a recipe (used when recipes/ has none). */
export const SNAPFUSION_STANDIN = `name: snapfusion-standin
model: { unet: default, vae_decoder: default, text_encoder: default }
unet:
  remove:
    - down_blocks.0.attentions.*
    - up_blocks.3.attentions.0
    - mid_block.attentions.0
  duplicate:
    - up_blocks.1.attentions.2
schedule: { steps: 8 }
targets:
  - { device: iphone-14-pro, budget_ms: 2000 }
  - { device: galaxy-s23, budget_ms: 2000 }
`;

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const r = await benchCost();
  process.exitCode = r.pass ? 0 : 1;
}

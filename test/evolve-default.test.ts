// pocketdiff evolve on the embedded default (the SD-v1.5-architecture UNet
// the builder makes, with weights) at 256×256 pixels on the Galaxy S23: a
// budget that no two removals reach is met, and the evolved recipe compiles
// within it. One sample and one step keep it to a couple of minutes.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { whatIf } from '../src/steps/whatif.ts';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { EvolveLog } from '../src/evolve/report.ts';
import { evolve } from '../src/evolve/run.ts';
import { tempDir } from './support/ort.ts';

const DEVICE = 'galaxy-s23';

test('embedded default at 256 px: a budget needing ≥ 3 removals is met; the evolved recipe compiles within it', async () => {
  const dir = tempDir('evolve-default');
  const file = path.join(dir, 'default.yaml');
  fs.writeFileSync(
    file,
    `schedule: {scheduler: ddim, steps: 1}\nguidance: {scale: 1}\ntargets:\n  - {device: ${DEVICE}, resolution: 256}\n`,
  );
  const log = new DiagnosticLog();
  const w = await whatIf(file, { device: DEVICE }, log);
  assert.ok(w, log.items.map(formatDiagnostic).join('\n'));
  // 2.5 times the costliest UNet block under the recipe: no two removals reach it.
  const top = w!.prediction.by_block.filter((b) => b.name.startsWith('unet/'))[0].ms;
  const budget = Number((w!.report.total_ms - 2.5 * top).toFixed(1));
  const result = await evolve(
    file,
    {
      device: DEVICE,
      budget,
      objective: 'image',
      samples: 1,
      seed: 0,
      metric: 'latent',
      group: 8,
      cache: path.join(dir, 'cache'),
      out: path.join(dir, 'default-evolved.yaml'),
    },
    log,
  );
  assert.ok(result, log.items.map(formatDiagnostic).join('\n'));
  const l: EvolveLog = JSON.parse(fs.readFileSync(result!.log, 'utf8'));
  const savings = l.rounds[0].candidates.map((c) => -c.delta_ms).sort((a, b) => b - a);
  assert.ok(l.start.ms - savings[0] - savings[1] > budget, 'two removals reach the budget');
  assert.ok(l.removed.length >= 3, `${l.removed.length} removed`);
  assert.ok(l.met && result!.predicted_ms <= budget);
  // Scores were measured: the first round's candidates differ, and none is better than the teacher itself.
  const dq = l.rounds[0].candidates.map((c) => c.delta_quality);
  assert.ok(new Set(dq).size > dq.length / 2 && dq.every((d) => d <= 0));
  const artifacts = await compile(result!.recipe, { out: path.join(dir, 'artifacts'), graphOnly: true }, log);
  assert.ok(artifacts, log.items.map(formatDiagnostic).join('\n'));
  assert.ok(
    artifacts![0].within_budget && artifacts![0].predicted_ms! <= budget,
    `compiled: ${artifacts![0].predicted_ms} ms of ${budget}`,
  );
});

test.run();

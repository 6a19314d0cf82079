// Device profiles as data: every shipped profile validates against the zod
// schema, names its sources, keeps its file name, and is exactly what
// `pocketdiff calibrate` computes from the project's own files (published rows
// copied into models/devices/measurements.json, graphs in models/calibration/).
// Unknown names get PD7009 with a did-you-mean; malformed files get coded
// diagnostics, not exceptions.
import fs from 'node:fs';
import path from 'node:path';
import { thisMachine } from '../src/devices/machine.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { calibrateProfile } from '../src/commands/calibrate.ts';
import { rowSource } from '../src/cost/calibrate/rows.ts';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { deviceNames, listDevices, loadDevice, loadProfileFile, profileFile } from '../src/devices/index.ts';
import { loadMeasurements, selectRows } from '../src/devices/measurements.ts';
import { paramsOf } from '../src/devices/schema.ts';
import { SCHEMA_FILES } from '../src/schemas.ts';
import { renderSchema } from '../src/schema/json-schema.ts';
import { tempDir } from './support/temp.ts';

const REQUIRED = [
  'galaxy-s23',
  'galaxy-s24',
  'galaxy-s24-2026-02',
  'galaxy-s25',
  'iphone-11-pro',
  'iphone-14-pro',
  'iphone-14-pro-max',
  'local-cpu',
  'snapdragon-8-elite',
];

test('the required profiles ship and validate', () => {
  const log = new DiagnosticLog();
  const names = listDevices(log).map((d) => d.name);
  assert.equal(log.items, []);
  for (const n of REQUIRED) assert.ok(names.includes(n), `missing profile ${n}`);
  assert.equal(deviceNames(), [...names].sort());
});

test('every number names its source; free parameters carry bounds and a prior', () => {
  for (const p of listDevices()) {
    const ids = new Set(p.sources.map((s) => s.id));
    for (const [where, param] of paramsOf(p)) {
      const ref = /^([a-z0-9-]+)/.exec(param.source)?.[1] ?? '';
      assert.ok(
        ids.has(ref) || ref === 'fitted' || ref === 'assumption',
        `${p.name} ${where.join('.')}: '${param.source}'`,
      );
      if (param.fit)
        assert.ok(
          param.fit.min <= param.value && param.value <= param.fit.max,
          `${p.name} ${where.join('.')} outside its bounds`,
        );
    }
    assert.ok(p.ops.source.length > 0);
  }
});

test('phone profiles are calibrated on copied published rows, each with its source and its graph in the project', () => {
  const log = new DiagnosticLog();
  const rows = loadMeasurements(log)!;
  assert.equal(log.items, []);
  const ids = new Set(rows.map((r) => r.id));
  for (const p of listDevices()) {
    if (p.name === 'local-cpu') continue;
    const sel = p.calibration?.select;
    assert.ok(sel, `${p.name} selects no published rows`);
    const mine = selectRows(rows, sel!);
    assert.ok(mine.length >= 1, `${p.name} selects no rows`);
    // One device, one toolchain snapshot: rows of different releases are never fitted together.
    assert.equal([...new Set(mine.map((r) => `${r.device}@${r.snapshot}`))], [`${sel!.device}@${sel!.snapshot}`]);
    for (const e of sel!.exclude) assert.ok(ids.has(e.id) && e.why.length > 10, `${p.name} excludes ${e.id}`);
    for (const r of p.calibration?.fitted?.residuals ?? [])
      assert.ok(
        mine.some((m) => m.id === r.row),
        `${p.name} was fitted to ${r.row}, which it does not select`,
      );
  }
  for (const r of rows) {
    assert.ok(r.source.length > 10, r.id);
    const s = rowSource(r);
    assert.ok(s, `${r.id}: graph ${r.graph}`);
    assert.ok(fs.existsSync(s!.src.file), `${r.id}: ${s!.src.file} is not in the project`);
  }
  // The product never reads the shared data folder.
  for (const f of fs.readdirSync('src', { recursive: true }) as string[]) {
    if (f.endsWith('.ts'))
      assert.not.ok(
        /shared\/(data|calibration-models)/.test(fs.readFileSync(path.join('src', f), 'utf8')),
        `src/${f} reads shared/`,
      );
  }
});

// Calibration is deterministic and needs nothing outside the project: refitting
// reproduces every fitted value, cross-validated error and interval shipped.
for (const name of ['galaxy-s23', 'iphone-11-pro', 'iphone-14-pro']) {
  test(`calibrate --device ${name} computes exactly the shipped profile`, async () => {
    const log = new DiagnosticLog();
    const shipped = loadDevice(name, log)!;
    const again = await calibrateProfile(shipped, log, { date: shipped.calibration?.fitted?.date });
    assert.ok(again, log.items.map((d) => d.message).join('\n'));
    assert.equal(log.errors(), []);
    assert.equal(paramsOf(again!.profile), paramsOf(shipped));
    assert.equal(again!.profile.calibration, shipped.calibration);
  });
}

test('unknown device: PD7009 with a did-you-mean', () => {
  const log = new DiagnosticLog();
  assert.is(loadDevice('iphone-14-pr', log, { file: 'r.yaml', line: 3, col: 5 }), undefined);
  assert.equal(log.codes(), ['PD7009']);
  assert.match(log.items[0].message, /did you mean 'iphone-14-pro'\?/);
  assert.equal(log.items[0].location, { file: 'r.yaml', line: 3, col: 5 });
  const far = new DiagnosticLog();
  loadDevice('nokia-3310', far);
  assert.equal(far.codes(), ['PD7009']);
  assert.match(far.items[0].notes![0], /known devices: .*galaxy-s23/);
});

test('malformed profiles: PD8001 unreadable, PD8002 invalid, never an exception', () => {
  const dir = tempDir('pocketdiff-devices-');
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{ not json');
  const log = new DiagnosticLog();
  assert.is(loadProfileFile(bad, log), undefined);
  assert.equal(log.codes(), ['PD8001']);
  const good = JSON.parse(fs.readFileSync('models/devices/galaxy-s23.json', 'utf8'));
  const wrong = path.join(dir, 'galaxy-s23.json');
  fs.writeFileSync(wrong, JSON.stringify({ ...good, fusions: { ...good.fusions, shape_ops: 'sometimes' } }));
  const log2 = new DiagnosticLog();
  assert.is(loadProfileFile(wrong, log2), undefined);
  assert.equal(log2.codes(), ['PD8002']);
  assert.match(log2.items[0].message, /'fusions.shape_ops'/);
  fs.writeFileSync(
    wrong,
    JSON.stringify({ ...good, ceilings: { ...good.ceilings, memory_gb_s: { value: 67.2, source: 'nowhere' } } }),
  );
  const log3 = new DiagnosticLog();
  assert.is(loadProfileFile(wrong, log3), undefined);
  assert.equal(log3.codes(), ['PD8002']);
  assert.match(log3.items[0].message, /'ceilings.memory_gb_s'.*'nowhere' names no entry of 'sources'/);
  fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify(good));
  const log4 = new DiagnosticLog();
  assert.is(loadProfileFile(path.join(dir, 'other.json'), log4), undefined);
  assert.match(log4.items[0].message, /a profile's file is <name>.json/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('schemas/device-profile.schema.json is generated from the zod schema and current', () => {
  const s = SCHEMA_FILES.find((f) => f.file === 'device-profile.schema.json')!;
  assert.ok(s, 'device-profile schema is not in SCHEMA_FILES');
  const have = fs.existsSync('schemas/device-profile.schema.json')
    ? fs.readFileSync('schemas/device-profile.schema.json', 'utf8')
    : '';
  assert.ok(have === renderSchema(s), 'schemas/device-profile.schema.json is stale: run `npm run schemas`');
});

test('a profile measured on another CPU warns once where it is used (PD8013), naming both machines and how to refit; on its own CPU it says nothing', () => {
  const file = profileFile('local-cpu');
  const text = fs.readFileSync(file, 'utf8');
  const profile = JSON.parse(text);
  try {
    fs.writeFileSync(
      file,
      JSON.stringify({ ...profile, machine: { cpu: 'Imaginary CPU 9000', family: 1, model: 2, cores: 64 } }, null, 2) +
        '\n',
    );
    const log = new DiagnosticLog();
    assert.ok(loadDevice('local-cpu', log));
    assert.ok(loadDevice('local-cpu', log));
    assert.equal(log.codes(), ['PD8013'], 'once per run');
    assert.match(
      log.items[0].message,
      /^local-cpu was calibrated on Imaginary CPU 9000 \(family 1, model 2\), 64 cores; this machine is .+, so its predictions here may be off by tens of percent$/,
    );
    assert.match(log.items[0].notes![0], /pocketdiff calibrate --device local-cpu/);
    fs.writeFileSync(file, JSON.stringify({ ...profile, machine: thisMachine() }, null, 2) + '\n');
    const here = new DiagnosticLog();
    assert.ok(loadDevice('local-cpu', here));
    assert.equal(here.codes(), []);
  } finally {
    fs.writeFileSync(file, text);
  }
});

test.run();

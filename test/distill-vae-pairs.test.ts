// `distill vae-pairs` on a tiny teacher artifact: each pair's latent is what
// `pocketdiff run` computes for its prompt, seed and guidance; shards are
// webdataset tars that Python's tarfile and numpy read as index.json says;
// the same arguments give the same bytes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { decodeNpy, npyFloat32 } from '../src/distill/npy.ts';
import { readShard } from '../src/distill/shard.ts';
import type { VaePairsIndex } from '../src/distill/vae-pairs.ts';
import { decodePng } from '../src/run/png.ts';
import { runArtifact } from '../src/run/run-artifact.ts';
import { cli } from './support/cli.ts';
import { tinyRecipe } from './support/ci.ts';
import { tempDir } from './support/temp.ts';

const work = tempDir('vae-pairs');
const prompts = path.join(work, 'prompts.txt');
fs.writeFileSync(prompts, 'a red bicycle\n\n  a lighthouse at dusk  \n');
let teacher = '';

test.before(async () => {
  const log = new DiagnosticLog();
  const [a] = (await compile(tinyRecipe(work, 'teacher'), { out: path.join(work, 'out') }, log)) ?? [];
  assert.ok(a, log.items.map(formatDiagnostic).join('\n'));
  teacher = a.dir;
});

async function pairs(out: string, ...flags: string[]): Promise<VaePairsIndex> {
  const r = await cli(['distill', 'vae-pairs', teacher, '--prompts', prompts, '--out', out, '--json', ...flags]);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("each pair's latent is `run`'s for its prompt, seed and guidance; shards and index agree", async () => {
  const out = path.join(work, 'fixed');
  const index = await pairs(out, '--count', '3', '--per-shard', '2', '--guidance', '5');
  assert.equal(
    index.shards.map((s) => [s.file, s.count]),
    [
      ['pairs-000000.tar', 2],
      ['pairs-000001.tar', 1],
    ],
  );
  assert.equal(index.guidance, { scale: 5 });
  const seeds = new Set<number>();
  for (const s of index.shards) {
    const file = path.join(out, s.file);
    assert.is(fs.statSync(file).size, s.bytes);
    assert.is(execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0], s.sha256);
    for (const sample of await readShard(file)) {
      assert.equal(Object.keys(sample.fields), ['latent.npy', 'json']);
      const meta = JSON.parse(Buffer.from(sample.fields.json!).toString());
      assert.is(meta.prompt, ['a red bicycle', 'a lighthouse at dusk'][meta.index % 2]);
      assert.is(meta.guidance, 5);
      seeds.add(meta.seed);
      const log = new DiagnosticLog();
      const ran = await runArtifact(teacher, { prompt: meta.prompt, seed: meta.seed, guidanceScale: 5 }, log);
      assert.ok(ran, log.items.map(formatDiagnostic).join('\n'));
      const latent = decodeNpy(sample.fields['latent.npy']!);
      assert.is(latent.shape.length, 3);
      assert.is(latent.shape[0], 4);
      assert.is(latent.shape[1]! * latent.shape[2]! * 4, ran!.latents.length);
      assert.equal(npyFloat32(latent), ran!.latents, `pair ${meta.index}`);
    }
  }
  assert.is(seeds.size, 3, 'every pair has its own noise');
  // Python's own readers: keys, dtypes, shapes and counts as index.json says.
  const py = `
import io, json, sys, tarfile, numpy as np
index = json.load(open(sys.argv[1] + "/index.json"))
n = 0
for s in index["shards"]:
    t = tarfile.open(sys.argv[1] + "/" + s["file"])
    names = t.getnames()
    keys = sorted({m.split(".")[0] for m in names})
    assert len(keys) == s["count"], (keys, s)
    for k in keys:
        a = np.load(io.BytesIO(t.extractfile(k + ".latent.npy").read()))
        assert a.dtype == np.float32 and a.ndim == 3 and a.shape[0] == 4, (a.dtype, a.shape)
        assert json.loads(t.extractfile(k + ".json").read())["index"] == int(k)
    n += len(keys)
assert n == index["count"]
print(n)`;
  assert.is(execFileSync('/usr/bin/python3', ['-c', py, out], { encoding: 'utf8' }).trim(), '3');
  // The same arguments, the same bytes.
  const again = await pairs(path.join(work, 'fixed-again'), '--count', '3', '--per-shard', '2', '--guidance', '5');
  assert.equal(
    again.shards.map((s) => s.sha256),
    index.shards.map((s) => s.sha256),
  );
});

test("with a guidance range each pair draws its w (recorded), and --images stores the teacher decoder's image", async () => {
  const out = path.join(work, 'range');
  const index = await pairs(out, '--count', '2', '--guidance-range', '2,14', '--images', '--seed', '9');
  assert.equal(index.guidance, { range: [2, 14], distribution: 'uniform' });
  const samples = await readShard(path.join(out, index.shards[0]!.file));
  const ws = samples.map((s) => JSON.parse(Buffer.from(s.fields.json!).toString()).guidance as number);
  assert.ok(
    ws.every((w) => w >= 2 && w <= 14),
    `${ws}`,
  );
  assert.is.not(ws[0], ws[1]);
  for (const s of samples) {
    const meta = JSON.parse(Buffer.from(s.fields.json!).toString());
    const ran = (await runArtifact(
      teacher,
      { prompt: meta.prompt, seed: meta.seed, guidanceScale: meta.guidance },
      new DiagnosticLog(),
    ))!;
    assert.equal(npyFloat32(decodeNpy(s.fields['latent.npy']!)), ran.latents);
    assert.equal(decodePng(s.fields.png!).pixels, ran.pixels);
  }
});

test('errors: another step count than the artifact samples, no prompts, an unreadable prompts file', async () => {
  const r = await cli([
    'distill',
    'vae-pairs',
    teacher,
    '--prompts',
    prompts,
    '--out',
    path.join(work, 'x'),
    '--count',
    '1',
    '--steps',
    '50',
  ]);
  assert.is(r.code, 2);
  assert.equal(r.log.codes(), ['PD11002']);
  assert.match(r.stderr, /samples 4 steps \(its schedule is compiled in\)/);
  const empty = path.join(work, 'empty.txt');
  fs.writeFileSync(empty, '\n \n');
  assert.equal(
    (
      await cli(['distill', 'vae-pairs', teacher, '--prompts', empty, '--out', path.join(work, 'y'), '--count', '1'])
    ).log.codes(),
    ['PD10002'],
  );
  const missing = await cli([
    'distill',
    'vae-pairs',
    teacher,
    '--prompts',
    path.join(work, 'nope.txt'),
    '--out',
    path.join(work, 'z'),
    '--count',
    '1',
  ]);
  assert.equal(missing.log.codes(), ['PD1001']);
  assert.not.ok(
    fs.existsSync(path.join(work, 'x')) || fs.existsSync(path.join(work, 'y')) || fs.existsSync(path.join(work, 'z')),
    'nothing written',
  );
});

test.run();

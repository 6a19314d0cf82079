// `distill targets` on a tiny teacher: a target is what two teacher DDIM
// sub-steps give from the same z_t, computed here independently (the
// unfolded export called for u and c, guidance on the host); Python's tarfile
// and numpy read every shard as index.json says and, from the stored teacher
// outputs, reproduce z_t and the targets with their own arithmetic; the same
// inputs give the same bytes, and a run killed mid-shard leaves only a
// .partial that a rerun replaces with the same bytes.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { encodeNpy, float32Npy, decodeNpy, npyFloat32 } from '../src/distill/npy.ts';
import type { DistillPlan } from '../src/distill/plan-schema.ts';
import { readShard, writeShard } from '../src/distill/shard.ts';
import type { TargetsIndex } from '../src/distill/targets.ts';
import { prepareRun } from '../src/run/run-artifact.ts';
import { cli } from './support/cli.ts';
import { ROOT, tinyRecipe } from './support/ci.ts';
import { distillSetup, GENERIC_SIZE, PROMPTS } from './support/distill.ts';
import { tempDir } from './support/temp.ts';

const work = tempDir('targets');
let teacher = '';
let planFile = '';
let shape: number[] = [];

test.before(async () => {
  const setup = await distillSetup(work, [3, 2]);
  [teacher, planFile, shape] = [setup.teacher, setup.plan, setup.shape];
});

/** `distill targets` arguments: the setup's plan, teacher and data unless `o` names others. */
function targetArgs(
  out: string,
  o: { plan?: string; teacher?: string; data?: string } = {},
  ...flags: string[]
): string[] {
  const data = o.data ?? path.join(work, 'data', 'latents-{0..1}.tar');
  return [
    'distill',
    'targets',
    o.plan ?? planFile,
    '--teacher',
    o.teacher ?? teacher,
    '--data',
    data,
    '--out',
    out,
    ...flags,
  ];
}

async function targets(out: string, ...flags: string[]): Promise<TargetsIndex> {
  const r = await cli(targetArgs(out, {}, '--json', ...flags));
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** The oracle: the exporter's own UNet (unfolded) and the artifact's text encoder, in onnxruntime, DDIM on the host in float64. */
async function oracle(
  x: Float32Array,
  eps: Float32Array,
  tokens: bigint[],
  meta: { step: number; w: number },
  plan: DistillPlan,
  guided: boolean,
): Promise<Float64Array> {
  const row = plan.stages[0]!.steps[meta.step]!;
  const [te, unet] = await Promise.all([
    ort.InferenceSession.create(path.join(teacher, 'text_encoder.onnx')),
    ort.InferenceSession.create(path.join(ROOT, 'test/fixtures/unet-tiny/model.onnx')),
  ]);
  const seq = tokens.length;
  const emb = async (t: bigint[]) =>
    (await te.run({ [te.inputNames[0]!]: new ort.Tensor('int64', BigInt64Array.from(t), [1, seq]) }))[
      te.outputNames[0]!
    ]!;
  const empty = prepareRun(teacher, undefined, new DiagnosticLog())!.tok.tokenizer.encode('').map(BigInt);
  const [c, u] = [await emb(tokens), await emb(empty)];
  const call = async (z: Float64Array, t: number) => {
    const feed = (e: ort.Tensor) => ({
      sample: new ort.Tensor('float32', Float32Array.from(z), [1, ...shape]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(BigInt(t)), [1]),
      encoder_hidden_states: e,
    });
    const cond = (await unet.run(feed(c))).out_sample!.data as Float32Array;
    if (!guided) return Float64Array.from(cond);
    const unc = (await unet.run(feed(u))).out_sample!.data as Float32Array;
    return Float64Array.from(cond, (cv, k) => unc[k]! + meta.w * (cv - unc[k]!));
  };
  const step = (z: Float64Array, e: Float64Array, from: number, to: number) =>
    Float64Array.from(
      z,
      (zk, k) => row.alpha[to]! * ((zk - row.sigma[from]! * e[k]!) / row.alpha[from]!) + row.sigma[to]! * e[k]!,
    );
  const z = Float64Array.from(x, (v, k) => row.alpha[0] * v + row.sigma[0] * eps[k]!);
  const z1 = step(z, await call(z, row.t), 0, 1);
  const z2 = step(z1, await call(z1, row.t1), 1, 2);
  await Promise.all([te.release(), unet.release()]);
  return Float64Array.from(z2, (v, k) => row.target.z_t2 * v + row.target.z_t * z[k]!);
}

test('each target is two teacher sub-steps from the same z_t: cfg with u and c calls guided on the host, vanilla with conditional calls only (≤ 1e-5 relative)', async () => {
  const out = path.join(work, 't1');
  const index = await targets(out);
  assert.equal(index.modes, ['vanilla', 'cfg']);
  assert.equal(
    index.shards.map((s) => [s.inputs.map((i) => i.input).join(), s.file, s.count]),
    [
      ['latents-0.tar', 'targets-000000.tar', 3],
      ['latents-1.tar', 'targets-000001.tar', 2],
    ],
  );
  const plan: DistillPlan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const steps = new Set<number>();
  for (const s of index.shards) {
    for (const smp of await readShard(path.join(out, s.file))) {
      assert.equal(Object.keys(smp.fields), ['x.npy', 'eps.npy', 'xt_vani.npy', 'xt_cfg.npy', 'ids.npy', 'json']);
      const meta = JSON.parse(Buffer.from(smp.fields.json!).toString());
      steps.add(meta.step);
      assert.ok(meta.w >= 2 && meta.w <= 14);
      const f = (k: string) => npyFloat32(decodeNpy(smp.fields[k]!));
      const tokens = Array.from(new BigInt64Array(decodeNpy(smp.fields['ids.npy']!).data.slice().buffer));
      for (const [field, guided] of [
        ['xt_cfg.npy', true],
        ['xt_vani.npy', false],
      ] as const) {
        const want = await oracle(f('x.npy'), f('eps.npy'), tokens, meta, plan, guided);
        const have = f(field);
        const num = Math.sqrt(have.reduce((acc, v, k) => acc + (v - want[k]!) ** 2, 0));
        const den = Math.sqrt(want.reduce((acc, v) => acc + v * v, 0));
        assert.ok(num / den <= 1e-5, `${smp.key} ${field}: relative error ${num / den}`);
      }
    }
  }
  assert.ok(steps.size > 1, 'samples draw different student steps');
});

test('Python reads every shard as index.json says; numpy rebuilds z_t and the targets from the stored teacher outputs', async () => {
  const out = path.join(work, 't2');
  await targets(out, '--teacher-outputs');
  const py = `
import io, json, sys, tarfile, hashlib, numpy as np
out, plan_file = sys.argv[1], sys.argv[2]
index = json.load(open(out + "/index.json")); plan = json.load(open(plan_file))
rows = plan["stages"][0]["steps"]
n = 0
for s in index["shards"]:
    data = open(out + "/" + s["file"], "rb").read()
    assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["bytes"]
    t = tarfile.open(fileobj=io.BytesIO(data))
    keys = sorted({m.split(".")[0] for m in t.getnames()})
    assert len(keys) == s["count"]
    for k in keys:
        get = lambda f: np.load(io.BytesIO(t.extractfile(k + "." + f).read()))
        x, eps, meta = get("x.npy"), get("eps.npy"), json.loads(t.extractfile(k + ".json").read())
        assert x.dtype == eps.dtype == np.float32 and x.shape == eps.shape and get("ids.npy").dtype == np.int64
        r = rows[meta["step"]]
        (a, a1, a2), (sg, s1, s2) = r["alpha"], r["sigma"]
        z = a * x.astype(np.float64) + sg * eps.astype(np.float64)
        for tag in ("vani", "cfg"):
            o1, o2 = get("teacher_" + tag + ".npy").astype(np.float64)
            step = lambda z, e, a, s, an, sn: an * (z - s * e) / a + sn * e   # epsilon prediction
            z1 = step(z, o1, a, sg, a1, s1)
            z2 = step(z1, o2, a1, s1, a2, s2)
            xt = (z2 - (s2 / sg) * z) / (a2 - s2 * a / sg)
            have = get("xt_" + tag + ".npy").astype(np.float64)
            err = np.abs(have - xt).max() / np.abs(xt).max()
            assert err < 1e-6, (k, tag, err)
        n += 1
assert n == index["count"], (n, index["count"])
print(n)`;
  assert.is(execFileSync('/usr/bin/python3', ['-c', py, out, planFile], { encoding: 'utf8' }).trim(), '5');
});

test('the same inputs give the same bytes; a run killed mid-shard leaves a .partial that a rerun replaces with the same bytes', async () => {
  const a = await targets(path.join(work, 'a'), '--modes', 'cfg');
  const b = await targets(path.join(work, 'b'), '--modes', 'cfg');
  assert.equal(b.shards, a.shards);
  assert.equal(Object.keys((await readShard(path.join(work, 'a', a.shards[0]!.file)))[0]!.fields), [
    'x.npy',
    'eps.npy',
    'xt_cfg.npy',
    'ids.npy',
    'json',
  ]);
  // Killed while writing: only partial files (and shards finished before) remain.
  const out = path.join(work, 'killed');
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/pocketdiff.js'), ...targetArgs(out, {}, '--modes', 'cfg')],
    { stdio: 'ignore' },
  );
  const started = Date.now();
  while (
    !(fs.existsSync(out) && fs.readdirSync(out).some((f) => f.endsWith('.partial'))) &&
    Date.now() - started < 60_000
  )
    await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const left = fs.readdirSync(out);
  assert.ok(
    left.some((f) => f.endsWith('.partial')),
    `left: ${left}`,
  );
  assert.not.ok(left.includes('index.json'));
  for (const f of left) assert.ok(f.endsWith('.partial') || /^targets-\d+\.tar$/.test(f), f);
  const again = await targets(out, '--modes', 'cfg');
  assert.equal(again.shards, a.shards);
  assert.is(
    fs.readFileSync(path.join(out, 'index.json'), 'utf8'),
    fs.readFileSync(path.join(work, 'a', 'index.json'), 'utf8'),
  );
  assert.equal(fs.readdirSync(out).sort(), ['index.json', 'targets-000000.tar', 'targets-000001.tar']);
});

test('check: the teacher at 2N steps as its own student agrees exactly; the undistilled N-step student does not; held-out loss per step', async () => {
  const at8 = async (name: string) => {
    const file = tinyRecipe(work, name, { remove: [] });
    fs.writeFileSync(
      file,
      fs
        .readFileSync(file, 'utf8')
        .replace('schedule: {steps: 4, spacing: trailing}', 'schedule: {steps: 8, spacing: trailing}'),
    );
    const log = new DiagnosticLog();
    const [a] = (await compile(file, { out: path.join(work, `out-${name}`) }, log)) ?? [];
    assert.ok(a, log.items.map(formatDiagnostic).join('\n'));
    return a.dir;
  };
  const [teacher8, same8] = [await at8('teacher8'), await at8('same8')];
  const prompts = path.join(work, 'check-prompts.txt');
  fs.writeFileSync(prompts, PROMPTS.slice(0, 2).join('\n'));
  const agreement = async (student: string, ...flags: string[]) => {
    const r = await cli([
      'distill',
      'check',
      student,
      '--plan',
      planFile,
      '--teacher',
      teacher8,
      '--prompts',
      prompts,
      '--seeds',
      '2',
      '--json',
      ...flags,
    ]);
    assert.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const same = (await agreement(same8)).agreement;
  assert.equal(
    [same.samples, same.teacher_steps, same.student_steps, same.latent_mse, same.image_psnr, same.decoder_psnr],
    [4, 8, 8, 0, null, null],
  );
  const images = path.join(work, 'check-images');
  const undistilled = (await agreement(teacher, '--images', images)).agreement;
  assert.is(undistilled.student_steps, 4);
  assert.ok(undistilled.latent_mse > 0 && Number.isFinite(undistilled.image_psnr), JSON.stringify(undistilled));
  assert.is(undistilled.decoder_psnr, null, 'the same decoder decodes the teacher latents identically');
  assert.equal(fs.readdirSync(path.join(images, 'student')).length, 4);
  // Held-out loss on the targets made above (the plan's stage 1, 8 → 4).
  const r = await cli([
    'distill',
    'check',
    teacher,
    '--plan',
    planFile,
    '--heldout',
    path.join(work, 't1', 'targets-{000000..000001}.tar'),
    '--json',
  ]);
  assert.is(r.code, 0, r.stderr);
  const h = JSON.parse(r.stdout).heldout;
  assert.is(h.samples, 5);
  assert.is(
    h.steps.reduce((acc: number, x: { count: number }) => acc + x.count, 0),
    5,
  );
  assert.ok(h.vanilla > 0 && h.cfg > 0 && Number.isFinite(h.vanilla) && Number.isFinite(h.cfg), JSON.stringify(h));
  const text = await cli([
    'distill',
    'check',
    teacher,
    '--plan',
    planFile,
    '--heldout',
    path.join(work, 't1', 'targets-000000.tar'),
  ]);
  assert.match(text.stdout, /held-out loss on 3 samples/);
});

test('--per-shard cuts output shards across the inputs in order; each sample keeps its key and latent', async () => {
  const index = await targets(path.join(work, 'cut'), '--per-shard', '2', '--modes', 'vanilla');
  assert.equal(
    index.shards.map((s) => [s.count, s.inputs.map((i) => `${i.input}[${i.from},${i.to})`).join(' ')]),
    [
      [2, 'latents-0.tar[0,2)'],
      [2, 'latents-0.tar[2,3) latents-1.tar[0,1)'],
      [1, 'latents-1.tar[1,2)'],
    ],
  );
  const inputs = [
    ...(await readShard(path.join(work, 'data', 'latents-0.tar'))),
    ...(await readShard(path.join(work, 'data', 'latents-1.tar'))),
  ];
  const outputs = (await Promise.all(index.shards.map((s) => readShard(path.join(work, 'cut', s.file))))).flat();
  assert.equal(
    outputs.map((x) => x.key),
    inputs.map((x) => x.key),
  );
  outputs.forEach((x, k) =>
    assert.equal(npyFloat32(decodeNpy(x.fields['x.npy']!)), npyFloat32(decodeNpy(inputs[k]!.fields['latent.npy']!))),
  );
});

test('--batch 3 through the exported UNet (guided calls folded per sample) gives the one-at-a-time targets to rounding; a folded or static teacher is refused', async () => {
  const g = await distillSetup(path.join(work, 'generic'), [4], { generic: true });
  const run = async (out: string, ...flags: string[]) => {
    const r = await cli(
      targetArgs(
        out,
        { plan: g.plan, teacher: g.teacher, data: g.data },
        '--size',
        String(GENERIC_SIZE),
        '--json',
        ...flags,
      ),
    );
    assert.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as TargetsIndex;
  };
  const one = await run(path.join(work, 'generic', 'one'));
  const three = await run(path.join(work, 'generic', 'three'), '--batch', '3');
  assert.equal([one.batch, three.batch, three.count], [1, 3, 4]);
  const [a, b] = [
    await readShard(path.join(work, 'generic', 'one', one.shards[0]!.file)),
    await readShard(path.join(work, 'generic', 'three', three.shards[0]!.file)),
  ];
  for (const [k, x] of a.entries()) {
    assert.equal(b[k]!.fields.json, x.fields.json, 'the same draws');
    for (const f of ['xt_vani.npy', 'xt_cfg.npy']) {
      const [p, q] = [npyFloat32(decodeNpy(x.fields[f]!)), npyFloat32(decodeNpy(b[k]!.fields[f]!))];
      const err = Math.sqrt(p.reduce((acc, v, j) => acc + (v - q[j]!) ** 2, 0) / p.reduce((acc, v) => acc + v * v, 0));
      assert.ok(err <= 1e-5, `${x.key} ${f}: batched differs by ${err}`);
    }
  }
  const refused = await cli(
    targetArgs(path.join(work, 'e5'), { data: path.join(work, 'data', 'latents-0.tar') }, '--batch', '2'),
  );
  assert.equal(refused.log.codes(), ['PD11005']);
  assert.match(refused.stderr, /--batch 2 needs the UNet as exported \(guidance\.fold: none\)/);
});

test('errors: a folded-step teacher, a plan that does not validate, a sample without ids, a missing shard', async () => {
  const bad = await cli(targetArgs(path.join(work, 'e1'), { data: path.join(work, 'data', 'nope-{0..1}.tar') }));
  assert.equal(bad.log.codes(), ['PD1001', 'PD1001']);
  const broken = path.join(work, 'broken.json');
  fs.writeFileSync(broken, JSON.stringify({ ...JSON.parse(fs.readFileSync(planFile, 'utf8')), stages: [] }));
  const invalid = await cli(
    targetArgs(path.join(work, 'e2'), { plan: broken, data: path.join(work, 'data', 'latents-0.tar') }),
  );
  assert.ok(invalid.log.codes().includes('PD11006'), invalid.stderr);
  await writeShard(path.join(work, 'noids.tar'), [
    {
      key: 'k0',
      fields: { 'latent.npy': encodeNpy(float32Npy(new Float32Array(shape.reduce((x, y) => x * y, 1)), shape)) },
    },
  ]);
  const noIds = await cli(targetArgs(path.join(work, 'e3'), { data: path.join(work, 'noids.tar') }));
  assert.equal(noIds.log.codes(), ['PD11007']);
  assert.match(noIds.stderr, /sample 'k0' has no ids\.npy/);
  for (const d of ['e1', 'e2', 'e3']) assert.not.ok(fs.existsSync(path.join(work, d, 'index.json')));
  const folded = tinyRecipe(work, 'folded', { remove: [] });
  fs.writeFileSync(
    folded,
    fs
      .readFileSync(folded, 'utf8')
      .replace('schedule: {steps: 4, spacing: trailing}', 'schedule: {steps: 4, spacing: trailing, fold_step: true}'),
  );
  const log = new DiagnosticLog();
  const [f] = (await compile(folded, { out: path.join(work, 'out-folded') }, log)) ?? [];
  assert.ok(f, log.items.map(formatDiagnostic).join('\n'));
  const refused = await cli(
    targetArgs(path.join(work, 'e4'), { teacher: f.dir, data: path.join(work, 'data', 'latents-0.tar') }),
  );
  assert.equal(refused.log.codes(), ['PD11005']);
  assert.match(refused.stderr, /DDIM step folded in/);
});

test.run();

// `distill targets`: the teacher's targets for a plan's stage, made offline
// once and reused by every training run of that stage (the teacher is
// frozen within it). Input: webdataset shards the user makes,
//
//   {key}.latent.npy   float32 [C, h, w], the VAE latent × 0.18215
//   {key}.ids.npy      int64 or int32 [tokens], the prompt's token ids
//
// output: targets-NNNNNN.tar, one per input shard or --per-shard samples each
// across the inputs in order,
//
//   {key}.x.npy  {key}.eps.npy  {key}.xt_vani.npy  {key}.xt_cfg.npy  {key}.ids.npy  {key}.json
//
// (xt_* per --modes; json: step, t, t′, t″, w, seed, shard, index), and index.json.
// Every draw of a sample comes from (plan seed, shard, index), so a shard's
// bytes do not depend on who makes it: this process, or with --queue any
// `pocketdiff worker` (one job per shard). Each shard is written as .partial
// and renamed; a shard already there is kept, so a rerun finishes what a
// killed one left.
import fs from 'node:fs';
import path from 'node:path';
import { hashFile } from '../artifact/hash.ts';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { encodeTexts, prepareRun, sampleShape, type PreparedRun } from '../run/run-artifact.ts';
import { TOKENIZER_FILES } from '../run/tokenizer-files.ts';
import { writeTogether } from '../scratch.ts';
import { decodeNpy, encodeNpy, float32Npy, npyFloat32, npyInts, type NpyArray } from './npy.ts';
import type { DistillPlan, PlanStage } from './plan-schema.ts';
import { readPlan } from './plan-file.ts';
import { readShard, writeShard, type Sample } from './shard.ts';
import { TOOL_VERSION } from '../version.ts';
import { runTargetJobs } from './queue.ts';
import { draws, noised, teacherTargets, type Target } from './target.ts';
import { unetCallProblem, withUnet } from './unet-call.ts';

export type TargetMode = 'vanilla' | 'cfg';

export interface TargetsOptions {
  plan: string;
  teacher: string;
  /** Input shards, patterns expanded (`latents-{0000..0099}.tar`). */
  data: string[];
  out: string;
  modes: TargetMode[];
  /** 1-based stage of the plan (default 1). */
  stage?: number;
  /** Also store the teacher's two outputs per mode (teacher_vani.npy, teacher_cfg.npy): for checking the arithmetic. */
  teacherOutputs?: boolean;
  /** Each output shard as it is made, or found already there. */
  onShard?: (file: string, kept: boolean) => void;
  /** redis://…: the shards are jobs for `pocketdiff worker`s, which read and write the same paths. */
  queue?: string;
  /** Samples per output shard, across input shards in order (default: one output shard per input shard). */
  perShard?: number;
  /**
   * Samples per teacher call (default 1). Above 1 the teacher must be the
   * exported UNet with a dynamic batch (guidance.fold: none, no targets); the
   * low bits of a batched call can differ from one sample's, so index.json
   * records it and shards compare only at one batch.
   */
  batch?: number;
  /** Image size in pixels for a teacher with dynamic dims (default 512); a target's artifact has its own. */
  size?: number;
}

export interface TargetsIndex {
  format: 'pocketdiff-distill-targets/1';
  plan_sha256: string;
  stage: number;
  seed: number;
  modes: TargetMode[];
  /** Samples per teacher call. */
  batch: number;
  teacher: { artifact: string; manifest_sha256: string; prediction_type: string; guidance_fold: string };
  tokenizer: { generated: boolean; files: Record<string, string> };
  count: number;
  fields: Record<string, string>;
  shards: { inputs: Slice[]; file: string; count: number; bytes: number; sha256: string }[];
}

/** Samples [from, to) of an input shard, in its order (to null: to its end). */
export interface Slice {
  input: string;
  from: number;
  to: number | null;
}

/** Expands webdataset brace ranges: `a-{00..02}.tar` → a-00.tar, a-01.tar, a-02.tar (widths kept). */
export function expandBraces(pattern: string): string[] {
  const m = /\{(\d+)\.\.(\d+)\}/.exec(pattern);
  if (!m) return [pattern];
  const [lo, hi] = [Number(m[1]), Number(m[2])];
  const out: string[] = [];
  for (let k = lo; k <= hi; k++) {
    out.push(
      ...expandBraces(
        pattern.slice(0, m.index) + String(k).padStart(m[1]!.length, '0') + pattern.slice(m.index + m[0].length),
      ),
    );
  }
  return out;
}

export async function writeTargets(o: TargetsOptions, log: DiagnosticLog): Promise<TargetsIndex | undefined> {
  const plan = readPlan(o.plan, log);
  if (!plan) return undefined;
  const stageNo = o.stage ?? 1;
  const stage = plan.stages[stageNo - 1];
  if (!stage) {
    log.error(
      Code.Usage,
      `--stage ${stageNo}: the plan has ${plan.stages.length} stage${plan.stages.length > 1 ? 's' : ''}`,
    );
    return undefined;
  }
  const p = prepareRun(o.teacher, o.size, log);
  if (!p) return undefined;
  const manifestFile = path.join(p.a.dir, 'manifest.json');
  const problem = unetCallProblem(p, o.batch) ?? predictionMismatch(p, plan);
  if (problem) {
    log.error(Code.DistillTeacher, `the teacher artifact cannot make this plan's targets: ${problem}`, {
      file: manifestFile,
    });
    return undefined;
  }
  const inputs = o.data.flatMap(expandBraces);
  const missing = inputs.filter((f) => !fs.existsSync(f));
  for (const f of missing) log.error(Code.FileNotFound, 'data shard not found', { file: f });
  if (missing.length || !inputs.length) {
    if (!inputs.length) log.error(Code.Usage, '--data names no shards');
    return undefined;
  }
  const index: TargetsIndex = {
    format: 'pocketdiff-distill-targets/1',
    plan_sha256: hashFile(o.plan).sha256,
    stage: stageNo,
    seed: plan.seed,
    modes: o.modes,
    batch: o.batch ?? 1,
    teacher: {
      artifact: p.a.dir,
      manifest_sha256: hashFile(manifestFile).sha256,
      prediction_type: p.a.manifest.schedule.prediction_type,
      guidance_fold: p.a.manifest.guidance.fold,
    },
    tokenizer: { generated: p.tok.generated, files: tokenizerHashes(p) },
    count: 0,
    fields: {
      'x.npy': 'float32 [C, h, w]: the clean latent (the input latent.npy)',
      'eps.npy': "float32 [C, h, w]: ε; z_t = α·x + σ·ε with the step's α, σ",
      ...(o.modes.includes('vanilla')
        ? { 'xt_vani.npy': "float32: x̂ from the conditional teacher's two sub-steps" }
        : {}),
      ...(o.modes.includes('cfg') ? { 'xt_cfg.npy': "float32: x̂ from the teacher guided by the sample's w" } : {}),
      'ids.npy': "the input's token ids",
      json: "step (student step index), t, t1, t2 (null: final), w, seed (the plan's), shard, index",
    },
    shards: [],
  };
  const slices = await sliceInputs(inputs, o.perShard);
  const shards = slices.map((sl, s) => ({
    s,
    slices: sl,
    file: path.join(o.out, `targets-${String(s).padStart(6, '0')}.tar`),
  }));
  const kept = new Set(shards.filter((x) => fs.existsSync(x.file)).map((x) => x.s));
  const made = new Map<number, Written>();
  const todo = shards.filter((x) => !kept.has(x.s));
  if (o.queue) {
    const jobs = todo.map((x) => ({
      version: TOOL_VERSION,
      plan: path.resolve(o.plan),
      plan_sha256: index.plan_sha256,
      teacher: path.resolve(p.a.dir),
      teacher_sha256: index.teacher.manifest_sha256,
      stage: stageNo,
      modes: o.modes,
      teacher_outputs: !!o.teacherOutputs,
      batch: o.batch ?? 1,
      size: o.size ?? null,
      shard: x.s,
      slices: x.slices.map((sl) => ({ ...sl, input: path.resolve(sl.input) })),
      file: path.resolve(x.file),
    }));
    const results = await runTargetJobs(o.queue, jobs, log, (k) => o.onShard?.(todo[k]!.file, false));
    if (!results) return undefined;
    // Workers write where the job says: a file not here means they see another file system.
    const absent = todo.filter((x) => !fs.existsSync(x.file));
    for (const x of absent)
      log.error(
        Code.EvolveJobFailed,
        `a worker made shard ${x.s}, but ${x.file} is not there: workers must write to the same paths as this machine reads (a shared file system)`,
        { file: x.file },
      );
    if (absent.length) return undefined;
    results.forEach((r, k) => made.set(todo[k]!.s, r));
  } else {
    for (const x of todo) {
      const written = await targetShard(p, plan, stage, x.s, x.slices, x.file, o, log);
      if (!written) return undefined;
      made.set(x.s, written);
      o.onShard?.(x.file, false);
    }
  }
  for (const x of shards) {
    let written = made.get(x.s);
    if (!written) {
      const h = hashFile(x.file);
      written = { count: (await readShard(x.file)).length, bytes: h.bytes, sha256: h.sha256 };
      o.onShard?.(x.file, true);
    }
    // Fields in one order, however the shard was made: index.json is compared byte for byte.
    index.shards.push({
      inputs: x.slices.map((sl) => ({ ...sl, input: path.basename(sl.input) })),
      file: path.basename(x.file),
      count: written.count,
      bytes: written.bytes,
      sha256: written.sha256,
    });
    index.count += written.count;
  }
  const failed = writeTogether([[path.join(o.out, 'index.json'), JSON.stringify(index, null, 2) + '\n']]);
  if (failed) {
    log.error(Code.WriteFailed, `cannot write index.json: ${failed}`, { file: o.out });
    return undefined;
  }
  return index;
}

function predictionMismatch(p: PreparedRun, plan: DistillPlan): string | undefined {
  const have = p.a.manifest.schedule.prediction_type;
  return have === plan.teacher.prediction_type
    ? undefined
    : `it predicts ${have}, the plan's teacher ${plan.teacher.prediction_type}`;
}

function tokenizerHashes(p: PreparedRun): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of TOKENIZER_FILES) {
    const file = path.join(p.a.dir, f);
    if (fs.existsSync(file)) out[f] = hashFile(file).sha256;
  }
  return out;
}

export type Written = { count: number; bytes: number; sha256: string };

/** One shard's samples: read, embedded, targeted, written (here, or on a worker). */
export async function targetShard(
  p: PreparedRun,
  plan: DistillPlan,
  stage: PlanStage,
  s: number,
  slices: readonly Slice[],
  file: string,
  o: Pick<TargetsOptions, 'modes' | 'teacherOutputs' | 'batch'>,
  log: DiagnosticLog,
): Promise<Written | undefined> {
  const shape = sampleShape(p);
  const size = shape.reduce((a, b) => a * b, 1);
  const samples: (Sample & { input: string })[] = [];
  for (const sl of slices) {
    try {
      const all = await readShard(sl.input);
      samples.push(...all.slice(sl.from, sl.to ?? undefined).map((x) => ({ ...x, input: sl.input })));
    } catch (e) {
      log.error(Code.DistillData, `cannot read the shard as a tar file: ${(e as Error).message}`, { file: sl.input });
      return undefined;
    }
  }
  const rows: { key: string; x: Float32Array; ids: NpyArray; tokens: number[] }[] = [];
  for (const smp of samples) {
    const at = { file: smp.input, node: smp.key };
    const latent = smp.fields['latent.npy'];
    const ids = smp.fields['ids.npy'];
    if (!latent || !ids) {
      log.error(
        Code.DistillData,
        `sample '${smp.key}' has no ${!latent ? 'latent.npy' : 'ids.npy'} (each sample needs {key}.latent.npy and {key}.ids.npy)`,
        at,
      );
      return undefined;
    }
    let x: NpyArray;
    let tok: NpyArray;
    try {
      [x, tok] = [decodeNpy(latent), decodeNpy(ids)];
    } catch (e) {
      log.error(Code.DistillData, `sample '${smp.key}': ${(e as Error).message}`, at);
      return undefined;
    }
    if (x.dtype !== 'float32' || x.shape.join() !== shape.join()) {
      log.error(
        Code.DistillData,
        `sample '${smp.key}': latent.npy is ${x.dtype} [${x.shape.join(', ')}]; the teacher's UNet takes float32 [${shape.join(', ')}]`,
        at,
      );
      return undefined;
    }
    if (tok.dtype !== 'int64' && tok.dtype !== 'int32') {
      log.error(Code.DistillData, `sample '${smp.key}': ids.npy is ${tok.dtype}; token ids are int64 or int32`, at);
      return undefined;
    }
    rows.push({ key: smp.key, x: npyFloat32(x), ids: tok, tokens: npyInts(tok) });
  }
  const { cond, uncond } = await encodeTexts(
    p,
    rows.map((r) => r.tokens),
  );
  const kind = plan.teacher.prediction_type;
  const out: Sample[] = [];
  const batch = o.batch ?? 1;
  await withUnet(
    p,
    async (call) => {
      for (let first = 0; first < rows.length; first += batch) {
        const group = rows.slice(first, first + batch).map((r, j) => {
          const d = draws(plan.seed, s, first + j, stage, plan.guidance.range, size);
          return { r, k: first + j, d, z: noised(r.x, d.eps, d.step) };
        });
        const targets = new Map<TargetMode, Target[]>();
        for (const mode of o.modes) {
          const w = mode === 'cfg' ? group.map((x) => x.d.w) : undefined;
          targets.set(
            mode,
            await teacherTargets(
              call,
              group.map((x) => x.z),
              group.map((x) => x.d.step),
              kind,
              group.map((x) => cond[x.k]!),
              uncond,
              w,
            ),
          );
        }
        for (const [j, { r, k, d }] of group.entries()) {
          const fields: Record<string, Uint8Array> = {
            'x.npy': encodeNpy(float32Npy(r.x, shape)),
            'eps.npy': encodeNpy(float32Npy(d.eps, shape)),
          };
          for (const mode of o.modes) {
            const t = targets.get(mode)![j]!;
            const tag = mode === 'cfg' ? 'cfg' : 'vani';
            fields[`xt_${tag}.npy`] = encodeNpy(float32Npy(t.x, shape));
            if (o.teacherOutputs) {
              const both = new Float32Array(2 * size);
              both.set(t.outputs[0]);
              both.set(t.outputs[1], size);
              fields[`teacher_${tag}.npy`] = encodeNpy(float32Npy(both, [2, ...shape]));
            }
          }
          fields['ids.npy'] = encodeNpy(r.ids);
          const st = d.step;
          fields.json = Buffer.from(
            JSON.stringify({ step: st.i, t: st.t, t1: st.t1, t2: st.t2, w: d.w, seed: plan.seed, shard: s, index: k }),
          );
          out.push({ key: r.key, fields });
        }
      }
    },
    batch,
  );
  try {
    return { count: out.length, ...(await writeShard(file, out)) };
  } catch (e) {
    log.error(Code.WriteFailed, `cannot write ${file}: ${(e as Error).message}`, { file });
    return undefined;
  }
}

/**
 * Which input samples each output shard takes: one output per input, or
 * `perShard` samples each across the inputs in order (their samples counted
 * first).
 */
async function sliceInputs(inputs: string[], perShard: number | undefined): Promise<Slice[][]> {
  if (perShard === undefined) return inputs.map((input) => [{ input, from: 0, to: null }]);
  const out: Slice[][] = [];
  let current: Slice[] = [];
  let room = perShard;
  for (const input of inputs) {
    const count = (await readShard(input)).length;
    for (let from = 0; from < count;) {
      const to = Math.min(count, from + room);
      current.push({ input, from, to });
      room -= to - from;
      from = to;
      if (room === 0) {
        out.push(current);
        [current, room] = [[], perShard];
      }
    }
  }
  if (current.length) out.push(current);
  return out;
}

// `distill check`: does a trained student agree with its teacher?
//
//   held-out loss   on target shards (`distill targets` of held-out data): per
//                   student step, the plan's weight × mean (x_θ(z_t) − x̂)², the
//                   student conditional against xt_vani and guided by the
//                   sample's w against xt_cfg
//   agreement       the student's N-step sample against the teacher's 2N-step
//                   sample from the same noise, prompt and guidance: latent
//                   MSE, image PSNR, and the student decoder's PSNR on the
//                   teacher's latents (for a distilled decoder)
//
// Not FID or CLIP: --images writes both sides' PNGs for the user's own tool.
import fs from 'node:fs';
import path from 'node:path';
import { hashFile } from '../artifact/hash.ts';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { encodePng } from '../run/png.ts';
import {
  decodeLatents,
  encodeTexts,
  prepareRun,
  sampleLatents,
  type PreparedRun,
  type SampleRequest,
} from '../run/run-artifact.ts';
import { decodeNpy, npyFloat32, npyInts } from './npy.ts';
import type { DistillPlan, PlanStep } from './plan-schema.ts';
import { xAndEps } from './target.ts';
import { readPlan } from './plan-file.ts';
import { readShard } from './shard.ts';
import { unetCallProblem, withUnet } from './unet-call.ts';

export interface CheckOptions {
  plan: string;
  /** Target shards (patterns expanded) for the held-out loss. */
  heldout?: string[];
  stage?: number;
  teacher?: string;
  prompts?: string[];
  seeds?: number;
  /** Where to write teacher/ and student/ PNGs. */
  images?: string;
}

export interface StepLoss {
  i: number;
  t: number;
  count: number;
  vanilla: number | null;
  cfg: number | null;
}

export interface CheckReport {
  heldout?: { samples: number; steps: StepLoss[]; vanilla: number | null; cfg: number | null };
  agreement?: {
    samples: number;
    teacher_steps: number;
    student_steps: number;
    latent_mse: number;
    /** dB; null when the images are identical (infinite PSNR). */
    image_psnr: number | null;
    decoder_psnr: number | null;
    images?: string;
  };
}

export async function checkStudent(
  student: string,
  o: CheckOptions,
  log: DiagnosticLog,
): Promise<CheckReport | undefined> {
  const plan = readPlan(o.plan, log);
  if (!plan) return undefined;
  const s = prepareRun(student, undefined, log);
  if (!s) return undefined;
  const report: CheckReport = {};
  if (o.heldout?.length) {
    const heldout = await heldoutLoss(s, plan, o.plan, o.heldout, o.stage ?? plan.stages.length, log);
    if (!heldout) return undefined;
    report.heldout = heldout;
  }
  if (o.teacher) {
    const t = prepareRun(o.teacher, undefined, log);
    if (!t) return undefined;
    const agreement = await agree(t, s, o, log);
    if (!agreement) return undefined;
    report.agreement = agreement;
  }
  if (!report.heldout && !report.agreement) {
    log.error(Code.Usage, 'nothing to check: give --heldout target shards, or --teacher with --prompts');
    return undefined;
  }
  return report;
}

async function heldoutLoss(
  s: PreparedRun,
  plan: DistillPlan,
  planFile: string,
  shards: string[],
  stageNo: number,
  log: DiagnosticLog,
): Promise<CheckReport['heldout']> {
  const stage = plan.stages[stageNo - 1];
  const problem = unetCallProblem(s);
  if (!stage || problem) {
    log.error(
      Code.DistillTeacher,
      stage ? `the student cannot be checked on targets: ${problem}` : `the plan has no stage ${stageNo}`,
      { file: path.join(s.a.dir, 'manifest.json') },
    );
    return undefined;
  }
  const kind = s.a.manifest.schedule.prediction_type;
  // Targets made from another plan would be scored against the wrong steps.
  const index = path.join(path.dirname(shards[0]!), 'index.json');
  if (fs.existsSync(index)) {
    const made = JSON.parse(fs.readFileSync(index, 'utf8')).plan_sha256;
    if (made !== hashFile(planFile).sha256) {
      log.error(
        Code.DistillData,
        `these targets were made from another plan (index.json's plan_sha256 ${String(made).slice(0, 12)}…)`,
        { file: index },
      );
      return undefined;
    }
  }
  const sums = stage.steps.map((r) => ({ i: r.i, t: r.t, count: 0, vanilla: 0, cfg: 0, nv: 0, nc: 0 }));
  let samples = 0;
  for (const file of shards) {
    if (!fs.existsSync(file)) {
      log.error(Code.FileNotFound, 'held-out shard not found', { file });
      return undefined;
    }
    // Every sample read and checked before any model runs.
    const rows: {
      key: string;
      step: PlanStep;
      w: number;
      x: Float32Array;
      eps: Float32Array;
      ids: number[];
      vani?: Uint8Array;
      cfg?: Uint8Array;
    }[] = [];
    for (const r of await readShard(file)) {
      const f = r.fields;
      const meta = f.json && JSON.parse(Buffer.from(f.json).toString());
      const step = meta && stage.steps[meta.step];
      if (!meta || !f['x.npy'] || !f['eps.npy'] || !f['ids.npy']) {
        log.error(
          Code.DistillData,
          `sample '${r.key}' is not a target sample (x.npy, eps.npy, ids.npy, json from \`distill targets\`)`,
          { file, node: r.key },
        );
        return undefined;
      }
      if (!step) {
        log.error(
          Code.DistillData,
          `sample '${r.key}' is for student step ${meta.step}; stage ${stageNo} has ${stage.steps.length}`,
          { file, node: r.key },
        );
        return undefined;
      }
      const [x, eps] = [npyFloat32(decodeNpy(f['x.npy'])), npyFloat32(decodeNpy(f['eps.npy']))];
      rows.push({
        key: r.key,
        step,
        w: meta.w,
        x,
        eps,
        ids: npyInts(decodeNpy(f['ids.npy'])),
        vani: f['xt_vani.npy'],
        cfg: f['xt_cfg.npy'],
      });
    }
    const { cond, uncond } = await encodeTexts(
      s,
      rows.map((r) => r.ids),
    );
    await withUnet(s, async (call) => {
      for (const [k, r] of rows.entries()) {
        const { step } = r;
        const [a, sg] = [step.alpha[0], step.sigma[0]];
        const z = Float32Array.from(r.x, (v, j) => a * v + sg * r.eps[j]!);
        const loss = async (w: number | undefined, target: Uint8Array) => {
          const [out] = await call([{ z, t: step.t, cond: cond[k]! }], uncond, w === undefined ? undefined : [w]);
          const want = npyFloat32(decodeNpy(target));
          let acc = 0;
          for (let j = 0; j < z.length; j++) acc += (xAndEps(z[j]!, out![j]!, a, sg, kind)[0] - want[j]!) ** 2;
          return (step.snr_weight * acc) / z.length;
        };
        const sum = sums[step.i]!;
        sum.count++;
        if (r.vani) ((sum.vanilla += await loss(undefined, r.vani)), sum.nv++);
        if (r.cfg) ((sum.cfg += await loss(r.w, r.cfg)), sum.nc++);
        samples++;
      }
    });
  }
  const mean = (x: number, n: number) => (n ? x / n : null);
  const total = (f: 'vanilla' | 'cfg', n: 'nv' | 'nc') =>
    mean(
      sums.reduce((acc, x) => acc + x[f], 0),
      sums.reduce((acc, x) => acc + x[n], 0),
    );
  return {
    samples,
    steps: sums.map((x) => ({
      i: x.i,
      t: x.t,
      count: x.count,
      vanilla: mean(x.vanilla, x.nv),
      cfg: mean(x.cfg, x.nc),
    })),
    vanilla: total('vanilla', 'nv'),
    cfg: total('cfg', 'nc'),
  };
}

async function agree(
  t: PreparedRun,
  s: PreparedRun,
  o: CheckOptions,
  log: DiagnosticLog,
): Promise<CheckReport['agreement']> {
  if (!o.prompts?.length) {
    log.error(Code.Usage, '--teacher needs --prompts FILE (one prompt per line) for the end-to-end agreement');
    return undefined;
  }
  if (t.dims.height !== s.dims.height || t.px !== s.px) {
    log.error(
      Code.DistillTeacher,
      `the teacher samples ${t.px}×${t.px} images and the student ${s.px}×${s.px}: compare artifacts of one size`,
      { file: path.join(s.a.dir, 'manifest.json') },
    );
    return undefined;
  }
  const seeds = o.seeds ?? 1;
  const requests: SampleRequest[] = o.prompts.flatMap((prompt) =>
    Array.from({ length: seeds }, (_, seed) => ({ prompt, seed, guidanceScale: s.a.manifest.guidance.scale })),
  );
  const teacher = (await sampleLatents(t, requests, { images: true })).samples;
  const student = (await sampleLatents(s, requests, { images: true })).samples;
  // The student's decoder on the teacher's latents: the decoder's own agreement.
  const decoded = (
    await decodeLatents(
      s,
      teacher.map((x) => x.latents),
    )
  ).map((img) => img.pixels);
  let mse = 0;
  let imageMse = 0;
  let decoderMse = 0;
  for (const [k, tt] of teacher.entries()) {
    mse += meanSquare(tt.latents, student[k]!.latents);
    imageMse += meanSquare(tt.image!.pixels, student[k]!.image!.pixels);
    decoderMse += meanSquare(tt.image!.pixels, decoded[k]!);
  }
  const n = teacher.length;
  const psnr = (m: number) => (m === 0 ? null : 10 * Math.log10((255 * 255) / m));
  if (o.images) {
    for (const [side, list] of [
      ['teacher', teacher],
      ['student', student],
    ] as const) {
      fs.mkdirSync(path.join(o.images, side), { recursive: true });
      list.forEach((x, k) =>
        fs.writeFileSync(
          path.join(o.images!, side, `${String(k).padStart(6, '0')}.png`),
          encodePng(x.image!.width, x.image!.height, x.image!.pixels),
        ),
      );
    }
  }
  return {
    samples: n,
    teacher_steps: t.a.manifest.schedule.steps,
    student_steps: s.a.manifest.schedule.steps,
    latent_mse: mse / n,
    image_psnr: psnr(imageMse / n),
    decoder_psnr: psnr(decoderMse / n),
    ...(o.images ? { images: o.images } : {}),
  };
}

function meanSquare(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let acc = 0;
  for (let k = 0; k < a.length; k++) acc += (a[k]! - b[k]!) ** 2;
  return acc / a.length;
}

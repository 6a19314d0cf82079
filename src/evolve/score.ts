// ΔQuality for evolve: an architecture's quality, measured by running it.
// Every architecture is a gate vector on one gated UNet session; each sample
// (a prompt and a seed) is sampled with the recipe's schedule and guidance
// from the same seeded noise, so candidates differ only by their blocks.
//
//   latent  −mean ‖x − x_teacher‖ / ‖x_teacher‖ over samples: how far the
//           final latents move from the recipe's unmodified source UNet's
//   clip    mean 100·cos(CLIP image, CLIP text) of the decoded images
//
// Higher is better for both. Each sample's value is cached on disk as soon as
// it is known (cache.ts), keyed by everything it depends on.
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import type { ScoreCache } from './cache.ts';
import { hashJson } from './context.ts';
import type { ClipScorer } from './clip-score.ts';
import type { Embedding, Sampling, UnetRunner } from './denoise.ts';
import { gateVector, type Arch, type SlotMap } from './slots.ts';

export const METRICS = ['latent', 'clip'] as const;
export type Metric = (typeof METRICS)[number];

export interface Sample {
  prompt: number;
  seed: number;
}

export interface ScorerSetup {
  slots: SlotMap;
  /** The gated UNet's session, opened on first use (a run whose scores all come from workers never opens it). */
  unet: () => Promise<UnetRunner>;
  /** The teacher's final latents per sample (latent metric), computed on first use. */
  teacher: () => Promise<Float32Array[]>;
  metric: Metric;
  clip?: ClipScorer;
  sampling: Sampling;
  samples: Sample[];
  prompts: { text: string; cond: Embedding }[];
  empty: Embedding;
  cache: ScoreCache;
  /** Hash of everything the scores depend on besides the gate vector and the sample. */
  context: string;
  /** Called as remote results arrive: finished jobs of this batch, across all workers. */
  onRemote?: (done: number, total: number) => void;
}

/** A sample whose metric is NaN or infinite: a failed score, with its reason. */
class NotFinite extends Error {}

/** One sample of one architecture to score elsewhere (queue.ts), keyed as the cache keys it. */
export interface ScoreRequest {
  key: string;
  gates: number[];
  sample: number;
  prompt: string;
  seed: number;
}

/** Scores computed away from this process; each result is handed over as it arrives. */
export interface RemoteScoring {
  run(requests: ScoreRequest[], onResult: (key: string, value: number) => void, log: DiagnosticLog): Promise<boolean>;
}

export class Scorer {
  private teacherLatents?: Float32Array[];
  private readonly memo = new Map<string, number>();
  /** Set when scores are computed by workers (--queue). */
  remote?: RemoteScoring;

  constructor(private readonly s: ScorerSetup) {}

  get context(): string {
    return this.s.context;
  }

  /** The prompt text and seed of sample i. */
  sampleOf(i: number): { prompt: string; seed: number } {
    const smp = this.s.samples[i];
    return { prompt: this.s.prompts[smp.prompt].text, seed: smp.seed };
  }

  /**
   * With a remote backend: every sample of these architectures not yet cached
   * is scored there at once (a round's candidates in parallel), and cached as
   * each arrives. In-process scoring stays lazy, in quality().
   */
  async prefetch(archs: Arch[], log: DiagnosticLog): Promise<boolean> {
    if (!this.remote) return true;
    const requests: ScoreRequest[] = [];
    const seen = new Set<string>();
    for (const arch of archs) {
      const gates = gateVector(this.s.slots, arch);
      for (const [i, smp] of this.s.samples.entries()) {
        const key = this.key(gates, smp);
        if (seen.has(key) || this.s.cache.has(key)) continue;
        seen.add(key);
        requests.push({
          key,
          gates: Array.from(gates),
          sample: i,
          prompt: this.s.prompts[smp.prompt].text,
          seed: smp.seed,
        });
      }
    }
    if (!requests.length) return true;
    let done = 0;
    return this.remote.run(
      requests,
      (key, value) => {
        if (!seen.delete(key)) return;
        this.s.cache.put(key, value);
        this.s.onRemote?.(++done, requests.length);
      },
      log,
    );
  }

  /**
   * One sample of one gate vector, measured here (in-process scoring, or a
   * worker's job); a value that is not finite throws NotFinite, so neither
   * path can cache it.
   */
  async measureSample(gates: Float32Array, sample: number): Promise<number> {
    const v = await this.measure(gates, sample);
    if (!Number.isFinite(v)) {
      const smp = this.s.samples[sample];
      throw new NotFinite(
        `the ${this.s.metric} metric is ${v} for prompt '${this.s.prompts[smp.prompt].text}', seed ${smp.seed}`,
      );
    }
    return v;
  }

  /** Mean over samples; undefined (with PD10006, or a queue's code) if a sample cannot be scored. */
  async quality(arch: Arch, log: DiagnosticLog): Promise<number | undefined> {
    const gates = gateVector(this.s.slots, arch);
    const id = arch.join(',');
    const hit = this.memo.get(id);
    if (hit !== undefined) return hit;
    // With workers, this architecture's missing samples are scored there, never here.
    if (!(await this.prefetch([arch], log))) return undefined;
    let sum = 0;
    for (const [i, smp] of this.s.samples.entries()) {
      const key = this.key(gates, smp);
      let v = this.s.cache.get(key);
      if (v === undefined) {
        try {
          v = await this.measureSample(gates, i);
        } catch (e) {
          const message = e instanceof NotFinite ? e.message : `scoring failed in onnxruntime: ${(e as Error).message}`;
          log.error(Code.EvolveScoreFailed, message, undefined, [`architecture: ${this.describe(arch)}`]);
          return undefined;
        }
        this.s.cache.put(key, v);
      }
      sum += this.s.metric === 'latent' ? -v : v;
    }
    const q = sum / this.s.samples.length;
    this.memo.set(id, q);
    return q;
  }

  private key(gates: Float32Array, smp: Sample): string {
    return hashJson([this.s.context, Array.from(gates), this.s.prompts[smp.prompt].text, smp.seed]);
  }

  private async measure(gates: Float32Array, sample: number): Promise<number> {
    const smp = this.s.samples[sample];
    const x = await (
      await this.s.unet()
    ).sample(this.s.sampling, smp.seed, this.s.prompts[smp.prompt].cond, this.s.empty, gates);
    if (this.s.metric === 'clip') return this.s.clip!.score(x, this.s.sampling.latent, smp.prompt);
    this.teacherLatents ??= await this.s.teacher();
    return relativeDistance(x, this.teacherLatents[sample]);
  }

  private describe(arch: Arch): string {
    const changed = this.s.slots.slots.flatMap((sl, i) => (arch[i] !== sl.start ? [`${sl.block}×${arch[i]}`] : []));
    return changed.length ? changed.join(', ') : "the recipe's own";
  }
}

/** ‖a − b‖ / ‖b‖ in float64. */
export function relativeDistance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return n > 0 ? Math.sqrt(d / n) : Math.sqrt(d);
}

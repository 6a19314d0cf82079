// The recipe's sampling loop on the host, for scoring: seeded noise, the
// recipe's schedule, classifier-free guidance as the recipe sets it, with the
// exporter's UNet interface (gated or not). Guidance runs as one batch-2 call
// ([uncond; cond]) per step; fold-cfg's batch-2 graph computes the same.
//
//   x ← randn(seed) × init_noise_sigma
//   each step i:  e = UNet([x_in; x_in], t_i, [uncond; cond] [, gates])
//                 x ← step(i, e_u + s·(e_c − e_u), x)
import type { Graph } from '../ir/graph.ts';
import { DataType, dataTypeName } from '../onnx/dtype.ts';
import { guide, initialLatents } from '../run/latents.ts';
import { GATES_INPUT } from '../passes/gate-blocks.ts';
import { floats, openSession, tensor, type Feeds, type Session } from '../runtime/ort.ts';
import { scaleModelInput, schedulerStep, type Schedule } from '../schedule/index.ts';

/** A text encoder's last_hidden_state for one prompt. */
export interface Embedding {
  data: Float32Array;
  tokens: number;
  hidden: number;
}

export interface Sampling {
  schedule: Schedule;
  /** Guidance scale; ≤ 1 runs the conditional branch alone. */
  scale: number;
  /** Latent [channels, height, width] of one image. */
  latent: [number, number, number];
}

/** A UNet session and what its inputs want. */
export class UnetRunner {
  private constructor(
    private readonly session: Session,
    private readonly timestepType: string,
    readonly gated: boolean,
  ) {}

  /** `g`: the graph in the file, or one with the same interface (the timestep's type). */
  static async open(file: string, g: Graph, threads?: number): Promise<UnetRunner> {
    const session = await openSession(file, { ...(threads ? { intraOpNumThreads: threads } : {}) });
    const t = g.inputs.find((v) => v.name === 'timestep');
    return new UnetRunner(
      session,
      dataTypeName(t?.type?.dtype ?? DataType.FLOAT),
      session.inputNames.includes(GATES_INPUT),
    );
  }

  /** The final latents of one sample (before the VAE scaling). */
  async sample(
    s: Sampling,
    seed: number,
    cond: Embedding,
    uncond: Embedding,
    gates?: Float32Array,
  ): Promise<Float32Array> {
    const [c, h, w] = s.latent;
    const n = c * h * w;
    const guided = s.scale > 1;
    const batch = guided ? 2 : 1;
    const ehs = tensor('float32', guided ? concat(uncond.data, cond.data) : cond.data, [
      batch,
      cond.tokens,
      cond.hidden,
    ]);
    let x = initialLatents(seed, n, s.schedule.init_noise_sigma);
    for (let i = 0; i < s.schedule.timesteps.length; i++) {
      const xin = scaleModelInput(s.schedule, i, x);
      const feeds: Feeds = {
        sample: tensor('float32', guided ? concat(xin, xin) : xin, [batch, c, h, w]),
        timestep: tensor(this.timestepType, [s.schedule.timesteps[i]], [1]),
        encoder_hidden_states: ehs,
      };
      if (this.gated) feeds[GATES_INPUT] = tensor('float32', gates!, [gates!.length]);
      const out = floats(Object.values(await this.session.run(feeds))[0]);
      const e = guided ? guide(out.subarray(0, n), out.subarray(n), s.scale) : out;
      x = schedulerStep(s.schedule, i, e, x);
    }
    return x;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

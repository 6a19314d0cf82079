// Deterministic pseudo-random weights, generated chunk by chunk while the model
// is written, so no more than one chunk is ever in memory. Each tensor draws
// from its own xoshiro128** stream seeded by (seed, parameter name): the values
// of `conv_in.weight` do not depend on which other tensors exist or on order.
//
// Scale follows torch's default initialisation, which keeps activations finite
// through any depth here: Linear/Conv weights and biases U(±1/√fan_in) (kaiming
// uniform, a=√5), norm scales 1 ± 0.05, norm shifts ±0.05, embeddings ±0.035
// (std 0.02, like CLIP's initialiser).
import type { TensorData } from '../onnx/model.ts';
import { DataType } from '../onnx/dtype.ts';
import { toHalf } from '../onnx/half.ts';

/** Values are `center + U(-bound, bound)`. */
export interface Init {
  center: number;
  bound: number;
}

export const init = {
  /** Linear / Conv weight or bias with `fanIn` inputs per output. */
  fanIn: (fanIn: number): Init => ({ center: 0, bound: 1 / Math.sqrt(fanIn) }),
  normScale: { center: 1, bound: 0.05 } as Init,
  normShift: { center: 0, bound: 0.05 } as Init,
  embedding: { center: 0, bound: 0.02 * Math.sqrt(3) } as Init,
};

/** Makes the data of one parameter, named by its state_dict name. */
export type WeightSource = (name: string, dims: number[], init: Init) => TensorData;

const CHUNK = 1 << 20;

export function numel(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function randomWeights(seed: number, dtype: number): WeightSource {
  const half = dtype === DataType.FLOAT16;
  if (!half && dtype !== DataType.FLOAT) throw new Error(`builder: weights of dtype ${dtype} are not supported`);
  const bytes = half ? 2 : 4;
  return (name, dims, { center, bound }) => {
    const count = numel(dims);
    return {
      kind: 'stream',
      length: count * bytes,
      write(sink) {
        const rng = new Xoshiro128(seedOf(seed, name));
        const size = Math.min(CHUNK, count);
        const f = new Float32Array(size);
        const h = half ? new Uint16Array(size) : undefined;
        const scale = (2 * bound) / 16777216;
        for (let done = 0; done < count;) {
          const n = Math.min(size, count - done);
          for (let i = 0; i < n; i++) f[i] = center - bound + (rng.next() >>> 8) * scale;
          if (h) {
            for (let i = 0; i < n; i++) h[i] = toHalf(f[i]);
            sink(new Uint8Array(h.buffer, 0, n * 2));
          } else {
            sink(new Uint8Array(f.buffer, 0, n * 4));
          }
          done += n;
        }
      },
    };
  };
}

/** 32-bit FNV-1a of the name, mixed with the seed through splitmix32. */
function seedOf(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h ^ Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.floor(seed / 2 ** 32)) >>> 0;
}

/** xoshiro128** (Blackman & Vigna), state filled by splitmix32. */
class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    let x = seed >>> 0;
    const split = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = split();
    this.s1 = split();
    this.s2 = split();
    this.s3 = split();
  }
  /** The next 32 random bits, as an unsigned integer. */
  next(): number {
    const s1 = this.s1;
    const m = Math.imul(s1, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return r;
  }
}

// One precision vocabulary for recipes (`quantize:`), `whatif --quantize`,
// `predict --precision`, device profiles and their measurement rows.
//
//   fp32    float32 weights, activations and arithmetic
//   fp16    float16 weights, activations and arithmetic
//   int8    8-bit weights, dequantized: arithmetic at the runtime's float precision
//   int4    4-bit weights (blocks of 32), dequantized likewise
//   w8a16   8-bit weights, 16-bit integer activations (QDQ): Qualcomm's SD deployment
//   w8a8    8-bit weights and activations (QDQ)
//
// A scheme says what a model is stored and run at; a device profile says what
// its runtime does with it (effectivePrecision in cost/plan.ts): a scheme whose
// arithmetic the runtime has no kernels for falls back to the runtime's own.
// Imports nothing of the project: recipes, passes and the cost model all read it.
import { z } from 'zod';

/** What a runtime's arithmetic units compute in. */
export const PRECISIONS = ['float32', 'float16', 'int16', 'int8'] as const;
export const precision = z.enum(PRECISIONS);
export type Precision = z.infer<typeof precision>;

/** Storage of weights on the device: bits per weight as the runtime keeps them ('stored': as the graph stores them). */
export const weightFormat = z.enum(['float32', 'float16', 'int8', 'int6-palettized', 'int4', 'stored']);
export type WeightFormat = z.infer<typeof weightFormat>;

/** What a recipe's `quantize:` can emit; a model as exported is fp32. */
export const QUANTIZE_SCHEMES = ['fp16', 'int8', 'int4', 'w8a16', 'w8a8'] as const;
export type QuantizeScheme = (typeof QUANTIZE_SCHEMES)[number];
export const SCHEMES = ['fp32', ...QUANTIZE_SCHEMES] as const;
export const scheme = z.enum(SCHEMES);
export type Scheme = z.infer<typeof scheme>;

/** What a model deployed at some precision computes in, keeps its activations in, and reads its weights at. */
export interface EffectivePrecision {
  compute: Precision;
  activations: Precision;
  weights: WeightFormat;
}

export const SCHEME_INFO: Record<
  Scheme,
  { summary: string; weights: Exclude<WeightFormat, 'stored'>; activations: Precision | 'float' }
> = {
  fp32: { summary: 'float32 weights and arithmetic', weights: 'float32', activations: 'float32' },
  fp16: { summary: 'float16 weights and arithmetic', weights: 'float16', activations: 'float16' },
  int8: {
    summary: "8-bit weights, dequantized to the runtime's float arithmetic",
    weights: 'int8',
    activations: 'float',
  },
  int4: {
    summary: "4-bit weights, dequantized to the runtime's float arithmetic",
    weights: 'int4',
    activations: 'float',
  },
  w8a16: { summary: '8-bit weights, 16-bit integer activations and arithmetic', weights: 'int8', activations: 'int16' },
  w8a8: { summary: '8-bit weights, 8-bit integer activations and arithmetic', weights: 'int8', activations: 'int8' },
};

/**
 * A scheme as a runtime whose float arithmetic is `float` runs it: weight-only
 * schemes compute at that float precision.
 */
export function schemePrecision(s: Scheme, float: 'float32' | 'float16'): EffectivePrecision {
  const info = SCHEME_INFO[s];
  const act = info.activations === 'float' ? float : info.activations;
  return { compute: act, activations: act, weights: info.weights };
}

const WEIGHT_BITS: Record<Exclude<WeightFormat, 'stored'>, number> = {
  float32: 32,
  float16: 16,
  int8: 8,
  'int6-palettized': 6,
  int4: 4,
};
const PRECISION_BITS: Record<Precision, number> = { float32: 32, float16: 16, int16: 16, int8: 8 };

export function weightBits(w: Exclude<WeightFormat, 'stored'>): number {
  return WEIGHT_BITS[w];
}

export function precisionBits(p: Precision): number {
  return PRECISION_BITS[p];
}

/**
 * The scheme an effective precision is (fp16 for a float graph on an NPU, int8
 * where a runtime keeps 8-bit weights under float arithmetic), or its parts
 * where no scheme is exactly it ('as stored' weights: the graph's own).
 */
export function schemeName(p: EffectivePrecision): string {
  for (const s of SCHEMES) {
    for (const float of ['float32', 'float16'] as const) {
      const q = schemePrecision(s, float);
      if (q.compute === p.compute && q.activations === p.activations && q.weights === p.weights) return s;
    }
  }
  return p.weights === 'stored' ? `${p.compute} (weights as stored)` : `${p.compute} with ${p.weights} weights`;
}

// Device profiles: one per (device, runtime), as data in models/devices/*.json.
// This zod schema is the one source of truth for their shape; `npm run schemas`
// writes schemas/device-profile.schema.json from it.
//
// Every number is a `Param`: its value and where it came from. A param with
// `fit` is free: `pocketdiff calibrate` fits it to the profile's measurement
// rows within its bounds and rewrites its value. Params sharing a fit `group`
// move together by one common factor on their priors, so a group is one free
// parameter however many numbers it touches. A param without `fit` is a prior:
// a published figure, or an assumption that says so.
import { z } from 'zod';

export const DEVICE_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export const param = z.strictObject({
  value: z.number().nonnegative(),
  source: z
    .string()
    .min(1)
    .describe("A source id from `sources`, 'fitted: …' (written by calibrate) or 'assumption: …' with its reason"),
  fit: z
    .strictObject({
      group: z.string().regex(DEVICE_NAME).describe('Params of one group share one fitted factor on their priors'),
      prior: z.number().positive().describe('The value before fitting; calibrate starts from it'),
      min: z.number().nonnegative(),
      max: z.number().positive(),
    })
    .optional()
    .describe('Present on free parameters: calibrate fits the value within [min, max]'),
});
export type Param = z.infer<typeof param>;

import { precision, weightFormat } from '../precision.ts';
import type { SchemaFile } from '../schema/json-schema.ts';
export { PRECISIONS, precision, weightFormat, type Precision, type WeightFormat } from '../precision.ts';

export const OP_CLASSES = [
  'conv',
  'depthwise',
  'linear',
  'attention',
  'norm',
  'softmax',
  'elementwise',
  'reduce',
  'movement',
  'view',
  'shape',
] as const;
export const opClass = z.enum(OP_CLASSES);
export type OpClass = z.infer<typeof opClass>;

const source = z.strictObject({
  id: z.string().regex(DEVICE_NAME),
  citation: z
    .string()
    .min(1)
    .describe('What and where: paper table, repository file @ commit, spec page with its date'),
  url: z.string().optional(),
  trust: z.string().optional().describe('How far to trust it (official, third-party, derived)'),
});

const residual = z.strictObject({
  row: z.string(),
  measured_ms: z.number(),
  predicted_ms: z.number(),
  error: z.number().describe('predicted / measured - 1'),
});

const errors = z.strictObject({
  median_abs_error: z.number(),
  within_10: z.number().describe('Share of rows within ±10%'),
  within_25: z.number().describe('Share of rows within ±25%'),
});

const crossValidation = z
  .strictObject({
    method: z.literal('leave-one-architecture-out'),
    rows: z.number().int(),
    architectures: z.number().int(),
    ...errors.shape,
    coverage_80: z
      .number()
      .describe('Share of the cross-validated rows inside their 80% interval, each interval made without its row'),
    flops: errors.describe('The FLOPs-proportional baseline (ms per MAC per scheme, fitted on the same other rows)'),
    residuals: z.array(
      z.strictObject({
        row: z.string(),
        architecture: z.string(),
        measured_ms: z.number(),
        predicted_ms: z.number(),
        error: z.number().describe("predicted / measured - 1, from a fit without the row's architecture"),
        interval_80: z.tuple([z.number(), z.number()]),
      }),
    ),
  })
  .describe(
    'Each architecture predicted by a fit on the others: what the profile gets right on graphs it has not seen',
  );

/** Terms a prediction's time splits into: a graph's mix of them says how like the calibration rows it is. */
export const MIX_TERMS = [
  'conv',
  'depthwise',
  'linear',
  'attention',
  'vector',
  'memory',
  'movement',
  'overhead',
] as const;

const interval = z
  .strictObject({
    coverage: z.literal(0.8),
    lo: z
      .number()
      .describe('log(measured / predicted) at the lower end, for a graph as typical as the calibration rows'),
    hi: z.number().describe('log(measured / predicted) at the upper end'),
    distance: z
      .number()
      .positive()
      .describe('Typical mix distance of a calibration row from the nearest row of another architecture'),
    trend: z
      .strictObject({ a: z.number().positive(), b: z.number().nonnegative() })
      .describe(
        'Held-out |log error| ≈ a + b·d at mix distance d: a graph farther than typical from every calibration row gets its interval scaled by (a + b·d) / (a + b·distance)',
      ),
    transfer: z
      .number()
      .nonnegative()
      .default(0)
      .describe('Log half-width added for params inherited from another runtime or device (calibration.inherit)'),
    reference: z
      .array(z.strictObject({ architecture: z.string(), mix: z.array(z.number()).length(MIX_TERMS.length) }))
      .describe(`Each calibration architecture's share of predicted time by term (${MIX_TERMS.join(', ')})`),
    basis: z.string().describe('What the interval was made from'),
  })
  .describe(
    'The 80% prediction interval: quantiles of cross-validated errors, each scaled by how far its graph is from the others (locally weighted split-conformal)',
  );

/** The composite ops a profile can say its runtime fuses (cost/table/patterns.ts matches them in graphs). */
export const PATTERN_NAMES = ['silu', 'gelu', 'layernorm', 'matmul-scale', 'groupnorm'] as const;
export type PatternName = (typeof PATTERN_NAMES)[number];

export const deviceProfileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z.string().regex(DEVICE_NAME, 'device names are kebab-case (iphone-14-pro)'),
    display_name: z.string().min(1),
    device: z.string().describe('The hardware (a profile is one device under one runtime)'),
    soc: z.string().optional(),
    machine: z
      .strictObject({
        cpu: z.string(),
        family: z.number().int().optional(),
        model: z.number().int().optional(),
        cores: z.number().int(),
      })
      .optional()
      .describe('The machine a measured profile (local-cpu) was calibrated on: another CPU warns where it is used'),
    runtime: z.strictObject({
      name: z.string().min(1),
      description: z.string().min(1),
      /** Settings the numbers hold for (session options, compute units, toolchain). */
      settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    }),
    sources: z.array(source).min(1),
    precision: z.strictObject({
      compute: precision.describe('What the MAC units run at: the ceiling used for conv, linear and attention'),
      weights: weightFormat.describe("How the runtime stores weights ('stored': as the graph stores them)"),
      activations: precision.describe('Element type of activations in memory'),
      native: z
        .array(precision)
        .min(1)
        .describe('Compute precisions the runtime runs natively; others are converted to `compute`'),
      foreign: z
        .enum(['converted', 'casts'])
        .describe(
          "How a graph stored in a float precision the runtime has no kernels for runs: 'converted' at load, or with Cast ops around every op that lacks kernels for it",
        ),
      note: z.string().optional(),
    }),
    ceilings: z.strictObject({
      compute_tops: z
        .partialRecord(precision, param)
        .describe('Peak tera-ops per second (2 ops per MAC), per precision'),
      memory_gb_s: param.describe('Peak DRAM bandwidth, GB/s'),
      cache: z
        .strictObject({
          mb: param.describe('Size of the last cache level, MB'),
          gb_s: param.describe('Bandwidth of an op whose whole traffic fits in that cache, GB/s'),
        })
        .optional()
        .describe(
          "A cache an op's traffic fits in (a CPU's last-level cache, an NPU's on-chip memory): an op that reads and writes no more than `mb` streams at `gb_s` rather than at DRAM bandwidth",
        ),
    }),
    efficiency: z
      .strictObject({
        conv: param,
        depthwise: param
          .optional()
          .describe(
            'Depthwise convs (one input channel per group): no channel reduction for a matrix unit; priced at `conv` when absent',
          ),
        linear: param.describe('MatMul/Gemm against weights'),
        attention: param.describe('MatMul of two activations (QKᵀ, softmax·V)'),
        vector: param.describe('Elementwise and reduce arithmetic, as a fraction of the compute ceiling'),
        norm: param
          .optional()
          .describe('Normalization arithmetic (InstanceNorm, LayerNorm, GroupNorm); priced at `vector` when absent'),
        softmax: param.describe('Softmax arithmetic: rows of 4,096 scores are where some runtimes stall'),
        memory: param.describe('Fraction of the bandwidth ceiling that streaming ops reach'),
        movement: param
          .optional()
          .describe(
            'Fraction of the bandwidth ceiling that data movement on its own reaches (Transpose, Concat, Slice, Resize, Pad: layout changes a fusing runtime cannot fold into a neighbour), a limit beside streaming; absent: none',
          ),
      })
      .describe('Fractions of the ceilings reached, per op class'),
    overhead_us: z.strictObject({
      op: param.describe('Fixed cost of each executed (fused) op'),
      shape: param.describe('Fixed cost of each shape-arithmetic op, where the runtime executes them'),
      graph: param
        .optional()
        .describe('Fixed cost of one call of a model: launching the graph, converting its inputs and outputs'),
      output: param
        .optional()
        .describe(
          'Cost of each output element a matrix kernel (conv, MatMul) writes, beyond its MACs: packing and the epilogue, which dominate matrices with a short reduction (K = 32)',
        ),
      input: param
        .optional()
        .describe(
          "Time per element of a MatMul's left operand, added to the group's streaming: the kernel broadcasts each in turn, which sets the time of matrices with few columns (attention's probabilities × V at a head size of 2 to 8 takes the same time, where its MACs say 4×)",
        ),
      row: param
        .optional()
        .describe(
          'Cost of each row a kernel walks, beyond its arithmetic and traffic (src/cost/walks.ts): the rows a reduction (norm, softmax, reduce) reduces over, so 4,096 rows of 64 cost more than 1,024 rows of 320, and the contiguous runs a Transpose copies one at a time',
        ),
    }),
    fusions: z.strictObject({
      elementwise: z.boolean().describe('Chains of elementwise ops run as one op (no intermediate tensors)'),
      into: z
        .array(opClass)
        .describe('Op classes that absorb the elementwise ops after them (bias add, norm affine, activation)'),
      attention: z.boolean().describe('Attention runs fused: the score matrix never reaches memory'),
      attention_max_scores: z
        .number()
        .positive()
        .optional()
        .describe(
          'With fused attention: the largest per-head score matrix (elements) kept on chip; larger ones are materialized',
        ),
      patterns: z
        .array(z.enum(PATTERN_NAMES))
        .describe(
          'Composite ops of exported graphs the runtime recognizes and runs as one op (SiLU, GELU, decomposed LayerNorm, MatMul with a folded scale)',
        ),
      reshapes: z
        .enum(['free', 'copy'])
        .optional()
        .describe(
          "free: a Reshape of data is an alias (plain row-major layouts); copy: it re-tiles the data, as on runtimes that keep activations in tiles (Hexagon's crouton layout). Default free",
        ),
      shape_ops: z
        .enum(['folded', 'executed'])
        .describe('folded: shapes are static and shape arithmetic is compiled away'),
      fills: z
        .enum(['free', 'constant'])
        .describe(
          "Where shape arithmetic is folded, what becomes of ConstantOfShape tensors (the exporter's baddbmm zeros): removed, or kept as constants the consumer reads",
        ),
      conv_reorders: z
        .boolean()
        .optional()
        .describe(
          "Convs run in a blocked channel layout (onnxruntime's NCHWc on x86): a reorder op converts a conv's input from, and its output to, the plain layout wherever a neighbour is not a conv",
        ),
      expand_rereads: z
        .boolean()
        .optional()
        .describe(
          "Expand fills its output by copying the part already written, doubling each time (onnxruntime's CPU kernel): it reads back about as much as it writes",
        ),
    }),
    ops: z.strictObject({
      unsupported: z.array(z.string()).describe('ONNX op types the runtime cannot run'),
      source: z.string().min(1).describe('Where the list comes from'),
    }),
    calibration: z
      .strictObject({
        select: z
          .strictObject({
            device: z.string(),
            runtimes: z
              .array(z.string())
              .min(1)
              .describe('Runtimes whose rows are this profile (as the rows name them)'),
            snapshot: z
              .string()
              .nullable()
              .describe(
                "The toolchain release of the rows (their 'snapshot'); rows of different snapshots are never fitted together",
              ),
            exclude: z
              .array(z.strictObject({ id: z.string(), why: z.string().min(1) }))
              .default([])
              .describe('Rows left out, each with its reason'),
          })
          .optional()
          .describe('The published rows (models/devices/measurements.json) the free params are fitted to'),
        rows: z
          .array(z.string())
          .optional()
          .describe('local-cpu: the microbenchmarks and calibration models measured on this machine'),
        weights: z
          .array(
            z.strictObject({
              graph: z.string().describe("A row graph, '*' globbing one segment ('builder:*')"),
              weight: z.number().positive(),
            }),
          )
          .default([])
          .describe('Rows that count more than once in the fit'),
        robust: z
          .number()
          .positive()
          .optional()
          .describe(
            'Scale (log units) above which a residual counts less than squared (soft-L1); absent: least squares',
          ),
        prior_weight: z
          .number()
          .positive()
          .optional()
          .describe('Pull of each free group towards its prior, per unit of log (default 0.05)'),
        inherit: z
          .strictObject({
            profile: z.string().describe('The profile whose fitted values are copied'),
            params: z.array(z.string()).min(1).describe("Param paths ('efficiency.conv') taken from it as priors"),
            why: z.string().min(1),
          })
          .optional()
          .describe(
            "Params whose values another profile's rows fitted (the same hardware family under another runtime): calibrate copies them before fitting",
          ),
        note: z.string().optional(),
        fitted: z
          .strictObject({
            date: z.string(),
            tool: z.string(),
            residuals: z.array(residual),
          })
          .optional(),
        cross_validation: crossValidation.optional(),
        interval: interval.optional(),
      })
      .optional(),
  })
  .superRefine((p, ctx) => {
    const ids = new Set(p.sources.map((s) => s.id));
    const check = (path: (string | number)[], v: Param) => {
      const ref = /^([a-z0-9-]+)(?::|$)/.exec(v.source)?.[1];
      const known = ref !== undefined && (ids.has(ref) || ref === 'fitted' || ref === 'assumption');
      if (!known)
        ctx.addIssue({
          code: 'custom',
          path,
          message: `source '${v.source}' names no entry of 'sources' (nor 'fitted:' / 'assumption:')`,
        });
      if (v.fit && (v.fit.min > v.fit.max || v.value < v.fit.min || v.value > v.fit.max)) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `value ${v.value} lies outside its fit bounds [${v.fit.min}, ${v.fit.max}]`,
        });
      }
    };
    for (const [path, v] of paramsOf(p)) check(path, v);
    if (!p.ceilings.compute_tops[p.precision.compute]) {
      ctx.addIssue({
        code: 'custom',
        path: ['ceilings', 'compute_tops'],
        message: `no ceiling for the compute precision '${p.precision.compute}'`,
      });
    }
  });

export type DeviceProfileInput = z.input<typeof deviceProfileSchema>;
export type DeviceProfile = z.output<typeof deviceProfileSchema>;

/** Every Param of a profile with its path (`efficiency.conv`). */
export function paramsOf(p: Pick<DeviceProfile, 'ceilings' | 'efficiency' | 'overhead_us'>): [string[], Param][] {
  const out: [string[], Param][] = [];
  for (const [k, v] of Object.entries(p.ceilings.compute_tops)) if (v) out.push([['ceilings', 'compute_tops', k], v]);
  out.push([['ceilings', 'memory_gb_s'], p.ceilings.memory_gb_s]);
  if (p.ceilings.cache)
    for (const k of ['mb', 'gb_s'] as const) out.push([['ceilings', 'cache', k], p.ceilings.cache[k]]);
  for (const [k, v] of Object.entries(p.efficiency)) if (v) out.push([['efficiency', k], v]);
  for (const [k, v] of Object.entries(p.overhead_us)) if (v) out.push([['overhead_us', k], v]);
  return out;
}

export const DEVICE_PROFILE_SCHEMA: SchemaFile = {
  file: 'device-profile.schema.json',
  schema: deviceProfileSchema,
  title: 'pocketdiff device profile',
  io: 'input',
};

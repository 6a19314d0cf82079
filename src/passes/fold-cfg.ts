// fold-cfg: classifier-free guidance folded into one batched UNet call. The
// app calls the UNet once per step instead of twice (uncond, cond), and the
// guidance arithmetic runs in the graph:
//
//   sample   [B,4,H,W] ─┐                       sample [1,4,H,W] ─ Concat(x, x) ─┐
//   timestep [steps]   ─┼─ UNet ─ out_sample  ->  timestep [1]    ─ Concat(t, t) ─┼─ UNet (batch 2) ─ Split ─ u ─┬─ u + s·(c − u) ─ noise_pred
//   e_h_s    [B,seq,C] ─┘                       uncond, e_h_s     ─ Concat(u, c) ─┘                  └─── c ─┘
//                                               guidance_scale [1] ─────────────────────────────────────── s
//
// The uncond embedding is an input (`uncond_encoder_hidden_states`) or, baked,
// a constant. With a scheduler step folded too, `step_index` replaces
// `timestep`: the timestep and the DDIM coefficients are gathered from
// constant tables and `prev_sample` (the next latent) is a second output:
//
//   step_index ─ Gather(timesteps) ─ t
//   prev_sample = Gather(sample_coef)·sample + Gather(model_coef)·noise_pred     (see cfg/ddim.ts)
//
// Per sample (perSample), the batch stays: B samples with their own timesteps,
// embeddings and guidance_scale [B] (reshaped to [B, 1, 1, 1]), the UNet at 2B
// and an equal Split: what distillation targets need at throughput.
//
// The UNet body is not touched: its batch inputs are rewired to the concats.
// Every new node is glue under scope 'cfg', made by this pass.
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import type { Dim, Graph, Node, TensorType, Value } from '../ir/graph.ts';
import { DataType, dataTypeName } from '../onnx/dtype.ts';
import { onnx, type AttributeProto } from '../onnx/proto.ts';
import { checkDdim, ddimTables, type DdimStep } from './cfg/ddim.ts';
import type { Pass } from './pass.ts';

export type { DdimStep } from './cfg/ddim.ts';

export interface FoldCfgOptions {
  /** The unconditional embedding [1, seq, C], baked in as a constant instead of an input. */
  bakedUncond?: { data: Float32Array; dims: number[] };
  /** Fold one scheduler step too: `step_index` in, `prev_sample` out. */
  schedulerStep?: DdimStep;
  /**
   * Keep the batch: B samples per call, each with its own timestep, embeddings
   * and guidance scale (`guidance_scale [B]`), the UNet running at 2B. For
   * making distillation targets at throughput; not with a baked uncond or a
   * folded step, which are one image's.
   */
  perSample?: boolean;
  at?: Location;
}

/** The names of the folded graph's interface. */
export const CFG_NAMES = {
  sample: 'sample',
  timestep: 'timestep',
  cond: 'encoder_hidden_states',
  uncond: 'uncond_encoder_hidden_states',
  scale: 'guidance_scale',
  stepIndex: 'step_index',
  unetOutput: 'out_sample',
  noisePred: 'noise_pred',
  prevSample: 'prev_sample',
} as const;

const TIMESTEP_DTYPES: number[] = [DataType.INT64, DataType.INT32, DataType.FLOAT];
const SCOPE = 'cfg';
const BATCH = 2;

interface Unet {
  sample: Value;
  timestep: Value;
  cond: Value;
  out: Value;
  sampleShape: Dim[];
  condShape: Dim[];
  timestepShape: Dim[];
}

export function foldCfg(opts: FoldCfgOptions = {}): Pass {
  return {
    name: 'fold-cfg',
    run(g, log) {
      const unet = checkUnet(g, opts, log);
      if (!unet) return undefined;
      const body = new Set(g.nodes());
      // Per sample, the body's batch becomes 2B, which no symbol names: its shapes are re-inferred.
      const rebind = opts.perSample ? 'stale' : batchDims(unet, opts);
      const added = fold(g, unet, opts);
      retypeBody(body, rebind);
      return {
        stats: {
          batch: opts.perSample ? 'per-sample' : BATCH,
          uncond: opts.bakedUncond ? 'baked' : 'input',
          scheduler: opts.schedulerStep ? `${opts.schedulerStep.kind}/${opts.schedulerStep.prediction_type}` : 'none',
          ...(opts.schedulerStep ? { steps: opts.schedulerStep.timesteps.length } : {}),
          nodes_added: added,
        },
      };
    },
  };
}

/** Finds the UNet interface and checks every option against it; undefined (with errors) when it cannot be folded. */
function checkUnet(g: Graph, opts: FoldCfgOptions, log: DiagnosticLog): Unet | undefined {
  const at = opts.at;
  const before = log.errors().length;
  const input = (name: string) => g.inputs.find((v) => v.name === name);
  const list = (vs: readonly Value[]) => vs.map((v) => `'${v.name}'`).join(', ') || 'none';

  const clash = [CFG_NAMES.uncond, CFG_NAMES.scale, CFG_NAMES.stepIndex].filter((n) => input(n));
  const outClash = [CFG_NAMES.noisePred, CFG_NAMES.prevSample].filter((n) => g.outputs.some((v) => v.name === n));
  if (clash.length || outClash.length) {
    log.error(
      Code.CfgAlreadyFolded,
      `the graph already has ${[...clash.map((n) => `input '${n}'`), ...outClash.map((n) => `output '${n}'`)].join(', ')}: is guidance folded already?`,
      at,
    );
    return undefined;
  }
  const wanted = [CFG_NAMES.sample, CFG_NAMES.timestep, CFG_NAMES.cond];
  const missing = wanted.filter((n) => !input(n));
  if (missing.length) {
    log.error(
      Code.CfgNotUnet,
      `not a UNet: missing input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} (inputs are ${list(g.inputs)})`,
      at,
    );
  }
  const extra = g.inputs.filter((v) => !(wanted as string[]).includes(v.name));
  if (extra.length) {
    log.error(
      Code.CfgNotUnet,
      `unexpected input${extra.length > 1 ? 's' : ''} ${list(extra)}: only sample, timestep and encoder_hidden_states can be batched for guidance`,
      at,
    );
  }
  const out = g.outputs.find((v) => v.name === CFG_NAMES.unetOutput);
  if (!out)
    log.error(
      Code.CfgNotUnet,
      `not a UNet: missing output '${CFG_NAMES.unetOutput}' (outputs are ${list(g.outputs)})`,
      at,
    );
  if (log.errors().length > before) return undefined;

  const sample = input(CFG_NAMES.sample)!;
  const timestep = input(CFG_NAMES.timestep)!;
  const cond = input(CFG_NAMES.cond)!;
  const sampleShape = floatShape(sample, 4, log, at);
  const condShape = floatShape(cond, 3, log, at);
  const tt = timestep.type;
  if (!tt || !TIMESTEP_DTYPES.includes(tt.dtype) || tt.shape?.length !== 1) {
    const got = tt ? `${dataTypeName(tt.dtype)} of rank ${tt.shape?.length ?? 'unknown'}` : 'untyped';
    log.error(Code.CfgTimestepType, `input 'timestep' must be 1-D int64, int32 or float32 ([steps]); it is ${got}`, at);
  }
  if (sampleShape && condShape) {
    for (const [name, d] of [
      [CFG_NAMES.sample, sampleShape[0]],
      [CFG_NAMES.cond, condShape[0]],
    ] as const) {
      if (typeof d === 'number' && (d !== BATCH || opts.perSample)) {
        log.error(
          Code.CfgInputType,
          `input '${name}' has a fixed batch of ${d}; fold-cfg runs the UNet at batch ${BATCH}, so it needs the dynamic batch axis (export with one, and fold before binding batch_size)`,
          at,
        );
      }
    }
  }
  if (opts.perSample && (opts.bakedUncond || opts.schedulerStep)) {
    log.error(
      Code.CfgInputType,
      `per-sample guidance keeps each sample's own ${opts.bakedUncond ? 'unconditional embedding' : 'timestep'}; it does not go with ${opts.bakedUncond ? 'a baked uncond' : 'a folded scheduler step'}`,
      at,
    );
  }
  if (opts.bakedUncond && condShape) checkUncond(opts.bakedUncond, condShape, log, at);
  if (opts.schedulerStep && tt) {
    const why = checkDdim(opts.schedulerStep, tt.dtype !== DataType.FLOAT);
    if (why) log.error(Code.CfgBadSchedule, `cannot fold the scheduler step: ${why}`, at);
  }
  if (log.errors().length > before) return undefined;
  return {
    sample,
    timestep,
    cond,
    out: out!,
    sampleShape: sampleShape!,
    condShape: condShape!,
    timestepShape: tt!.shape!,
  };
}

function floatShape(v: Value, rank: number, log: DiagnosticLog, at: Location | undefined): Dim[] | undefined {
  const t = v.type;
  if (t?.dtype === DataType.FLOAT && t.shape?.length === rank) return t.shape;
  const got = t ? `${dataTypeName(t.dtype)} of rank ${t.shape?.length ?? 'unknown'}` : 'untyped';
  log.error(Code.CfgInputType, `input '${v.name}' must be float32 of rank ${rank}; it is ${got}`, at);
  return undefined;
}

function checkUncond(
  u: { data: Float32Array; dims: number[] },
  condShape: Dim[],
  log: DiagnosticLog,
  at: Location | undefined,
): void {
  const [, seq, c] = condShape;
  const n = u.dims.reduce((a, b) => a * b, 1);
  const wrong =
    u.dims.length !== 3 || u.dims[0] !== 1
      ? `dims [${u.dims.join(', ')}] are not [1, seq, C]`
      : n !== u.data.length
        ? `dims [${u.dims.join(', ')}] hold ${n} values but data has ${u.data.length}`
        : typeof seq === 'number' && seq !== u.dims[1]
          ? `its ${u.dims[1]} tokens differ from the model's ${seq}`
          : typeof c === 'number' && c !== u.dims[2]
            ? `its width ${u.dims[2]} differs from the model's cross-attention width ${c}`
            : undefined;
  if (wrong) log.error(Code.CfgBadUncond, `baked uncond embedding: ${wrong}`, at);
}

/** Symbolic dims the fold fixes (batch → 2, a baked uncond's seq), or 'stale' when the body's types held a concrete batch that changes. */
function batchDims(u: Unet, opts: FoldCfgOptions): Map<string, number> | 'stale' {
  const fixed = new Map<string, number>();
  const pairs: [Dim, number][] = [
    [u.sampleShape[0], BATCH],
    [u.condShape[0], BATCH],
    [u.timestepShape[0], BATCH],
  ];
  if (opts.bakedUncond) pairs.push([u.condShape[1], opts.bakedUncond.dims[1]]);
  for (const [d, size] of pairs) {
    if (typeof d === 'string') fixed.set(d, size);
    else if (d !== size) return 'stale';
  }
  return fixed;
}

/**
 * Keeps the body's value types true: symbols bound by the fold are
 * substituted; a shape without symbols is dropped (dtype kept) when the
 * inputs were symbolic, because it was inferred at some bound batch, and so
 * is every shape when the inputs had a concrete batch the fold changes. The
 * next shape inference fills them in at batch 2.
 */
function retypeBody(body: Set<Node>, rebind: Map<string, number> | 'stale'): void {
  for (const n of body) {
    for (const v of n.outputs) {
      if (!v?.type?.shape) continue;
      const shape = v.type.shape;
      const bound = rebind !== 'stale' && rebind.size > 0 && shape.every((d) => typeof d === 'number');
      v.type =
        rebind === 'stale' || bound
          ? { dtype: v.type.dtype }
          : { dtype: v.type.dtype, shape: shape.map((d) => (typeof d === 'string' ? (rebind.get(d) ?? d) : d)) };
    }
  }
}

/** Rewires the UNet into the folded form; returns how many nodes it added. */
function fold(g: Graph, u: Unet, opts: FoldCfgOptions): number {
  const [, ch, h, w] = u.sampleShape;
  const [, seq0, width] = u.condShape;
  const seq = opts.bakedUncond ? opts.bakedUncond.dims[1] : seq0;
  const f32 = (shape: Dim[]): TensorType => ({ dtype: DataType.FLOAT, shape });
  const latent = (batch: Dim) => f32([batch, ch, h, w]);
  const unetNode = u.out.producer;
  let added = 0;
  const node = (
    op: string,
    inputs: Value[],
    name: string,
    types: TensorType[],
    from: Node[],
    attrs: AttributeProto[] = [],
    outputs?: string[],
  ): Value[] => {
    added++;
    const n = g.add(op, inputs, {
      name: `/${SCOPE}/${name}`,
      scope: SCOPE,
      attrs,
      origin: { kind: 'pass', pass: 'fold-cfg', from: from.map((x) => x.id) },
      outputs: outputs ?? types.map((_, i) => `/${SCOPE}/${name}_output_${i}`),
    });
    return n.outputs.map((v, i) => Object.assign(v!, { type: types[i] }));
  };
  /** value → Concat(first, second) on axis 0, read by every former reader of `original`. */
  const batchOf = (original: Value, first: Value, second: Value, name: string, type: TensorType): void => {
    const readers = original.uses.map((x) => x.node);
    const [both] = node('Concat', [first, second], name, [type], readers, [intAttr('axis', 0)]);
    g.replaceAllUses(original, both, (user) => user === both.producer);
  };

  // Inputs: batch 1 (per sample: B) now; the body sees twice that.
  const one: Dim = opts.perSample ? u.sampleShape[0]! : 1;
  const both = (t: TensorType): TensorType => (opts.perSample ? { dtype: t.dtype } : t);
  u.sample.type = latent(one);
  batchOf(u.sample, u.sample, u.sample, 'Concat_sample', both(latent(BATCH)));

  const tDtype = u.timestep.type!.dtype;
  let stepIndex: Value | undefined;
  if (opts.schedulerStep) {
    stepIndex = g.addInput(CFG_NAMES.stepIndex, { dtype: DataType.INT64, shape: [1] });
    const table = constant(g, 'cfg.timesteps', tDtype, opts.schedulerStep.timesteps);
    const readers = u.timestep.uses.map((x) => x.node);
    const [t] = node('Gather', [table, stepIndex], 'Gather_timestep', [{ dtype: tDtype, shape: [1] }], readers, [
      intAttr('axis', 0),
    ]);
    batchOf(u.timestep, t, t, 'Concat_timestep', { dtype: tDtype, shape: [BATCH] });
  } else {
    u.timestep.type = { dtype: tDtype, shape: [one] };
    batchOf(u.timestep, u.timestep, u.timestep, 'Concat_timestep', both({ dtype: tDtype, shape: [BATCH] }));
  }

  u.cond.type = f32([one, seq, width]);
  const uncond = opts.bakedUncond
    ? g.addWeight(`${SCOPE}.${CFG_NAMES.uncond}`, {
        dtype: DataType.FLOAT,
        dims: [...opts.bakedUncond.dims],
        data: { kind: 'raw', bytes: bytesOf(opts.bakedUncond.data) },
      })
    : g.addInput(CFG_NAMES.uncond, f32([one, seq, width]));
  batchOf(u.cond, uncond, u.cond, 'Concat_encoder_hidden_states', both(f32([BATCH, seq, width])));
  const scaleInput = g.addInput(CFG_NAMES.scale, f32([one]));

  // Output: split the batch, then guidance.
  const from = unetNode ? [unetNode] : [];
  const splitAttrs = [intAttr('axis', 0)];
  const splitInputs = [u.out];
  const opset = g.opset() ?? 17;
  // Per sample the halves are B each, known only at run time: an equal split.
  if (opts.perSample) {
    if (opset >= 18) splitAttrs.push(intAttr('num_outputs', 2));
  } else if (opset < 13) splitAttrs.push(intsAttr('split', [1, 1]));
  else splitInputs.push(constant(g, 'cfg.split', DataType.INT64, [1, 1]));
  const [noiseUncond, noiseCond] = node('Split', splitInputs, 'Split', [latent(one), latent(one)], from, splitAttrs);
  const [delta] = node('Sub', [noiseCond, noiseUncond], 'Sub', [latent(one)], from);
  // Per sample, scale [B] → [B, 1, 1, 1] to broadcast over each sample's latent.
  const scale = opts.perSample
    ? node(
        'Reshape',
        [scaleInput, constant(g, 'cfg.scale_shape', DataType.INT64, [-1, 1, 1, 1])],
        'Reshape_guidance_scale',
        [f32([one, 1, 1, 1])],
        from,
      )[0]
    : scaleInput;
  const [scaled] = node('Mul', [delta, scale], 'Mul', [latent(one)], from);
  const [noisePred] = node('Add', [noiseUncond, scaled], 'Add', [latent(one)], from, [], [CFG_NAMES.noisePred]);
  g.setOutput(g.outputs.indexOf(u.out), noisePred);

  if (opts.schedulerStep && stepIndex) {
    const { sampleCoef, modelCoef } = ddimTables(opts.schedulerStep);
    const gather = (name: string, table: Float32Array) =>
      node(
        'Gather',
        [constant(g, `cfg.ddim_${name}`, DataType.FLOAT, [...table]), stepIndex],
        `Gather_${name}`,
        [f32([1])],
        from,
        [intAttr('axis', 0)],
      )[0];
    const [fromSample] = node(
      'Mul',
      [gather('sample_coef', sampleCoef), u.sample],
      'Mul_sample_coef',
      [latent(1)],
      from,
    );
    const [fromModel] = node('Mul', [gather('model_coef', modelCoef), noisePred], 'Mul_model_coef', [latent(1)], from);
    const [prev] = node(
      'Add',
      [fromSample, fromModel],
      'Add_prev_sample',
      [latent(1)],
      from,
      [],
      [CFG_NAMES.prevSample],
    );
    g.setOutput(g.outputs.length, prev);
  }
  g.setInputs([u.sample, stepIndex ?? u.timestep, u.cond, ...(opts.bakedUncond ? [] : [uncond]), scaleInput]);
  return added;
}

function constant(g: Graph, name: string, dtype: number, values: number[]): Value {
  const data =
    dtype === DataType.INT64
      ? BigInt64Array.from(values, (x) => BigInt(x))
      : dtype === DataType.INT32
        ? Int32Array.from(values)
        : Float32Array.from(values);
  return g.addWeight(g.uniqueName(name), { dtype, dims: [values.length], data: { kind: 'raw', bytes: bytesOf(data) } });
}

/** A little-endian copy of a typed array's bytes (the caller may reuse its buffer). */
function bytesOf(a: Float32Array | Int32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function intAttr(name: string, i: number): AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
}

function intsAttr(name: string, ints: number[]): AttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });
}

// Pricing a planned group: a roofline.
//
//   ms = max(Σ MACs·2 / (peak·eff_class) + vector flops / (peak·eff_vector)
//              + matrix outputs · overhead_per_output,
//            bytes / (bandwidth·eff_memory)
//              + MatMul left-operand elements · overhead_per_input)
//        + overhead per op + overhead per row
//   and once per call, overhead per graph
//
// where a profile's cache (ceilings.cache) sets the bandwidth of a group
// whose whole traffic fits in it (a CPU's last-level cache; a phone NPU's
// on-chip memory), a group of data movement on its own streams no faster
// than efficiency.movement allows, and the rows are those a kernel walks
// (walks.ts; a profile without overhead_us.row prices them at 0). The
// left-operand term is a GEMM kernel's pass over its left operand: it
// broadcasts one element at a time against a block of columns, and that pass
// does not hide the streaming. On this machine probabilities × V took the
// same time at head sizes 2, 4 and 8, where the MACs say 1 : 2 : 4: 0.27–0.30
// ns per probability in cache, 0.34–0.39 ns from DRAM, 0.18 ns more than
// streaming each costs in either.
import type { DeviceProfile } from '../../devices/schema.ts';
import { schemePrecision, type EffectivePrecision, type Precision, type Scheme } from '../../precision.ts';
import type { CostPlan, Group } from './plan.ts';

export type { EffectivePrecision } from '../../precision.ts';

/** Per-unit prices in seconds, from a profile's numbers. */
export interface Rates {
  conv: number;
  depthwise: number;
  linear: number;
  attention: number;
  vec: number;
  norm: number;
  softmax: number;
  byte: number;
  /** Price of a byte a data-movement group moves, a second limit beside streaming (0: none). */
  moveByte: number;
  /** Traffic (bytes) up to which a group streams from cache, and the price of a byte there (0 and `byte` without a cache). */
  cacheBytes: number;
  cacheByte: number;
  op: number;
  shape: number;
  /** Fixed cost of one call of a model (launch, input and output conversion). */
  graph: number;
  row: number;
  gemmOut: number;
  gemmIn: number;
}

/**
 * The precision a profile runs a scheme at (no scheme: a float graph as the
 * runtime runs it). A scheme whose arithmetic the runtime has no kernels for
 * falls back to the runtime's own; compressed weights still shrink traffic
 * where the runtime keeps weights compressed.
 */
export function effectivePrecision(
  profile: DeviceProfile,
  scheme?: Scheme,
): { precision: EffectivePrecision; fellBack: boolean } {
  const own: EffectivePrecision = {
    compute: profile.precision.compute,
    activations: profile.precision.activations,
    weights: profile.precision.weights,
  };
  if (!scheme) return { precision: own, fellBack: false };
  const float = profile.precision.native.includes('float16') ? 'float16' : 'float32';
  const p = schemePrecision(scheme, float);
  if (profile.precision.native.includes(p.compute) && profile.ceilings.compute_tops[p.compute])
    return { precision: p, fellBack: false };
  const compresses = own.weights !== 'float32' && own.weights !== 'stored';
  return { precision: { ...own, weights: compresses ? p.weights : own.weights }, fellBack: true };
}

export function ratesOf(profile: DeviceProfile, precision: Precision = profile.precision.compute): Rates {
  const tops =
    (profile.ceilings.compute_tops[precision] ?? profile.ceilings.compute_tops[profile.precision.compute])!.value *
    1e12;
  const e = profile.efficiency;
  const cache = profile.ceilings.cache;
  // Classes a profile does not price apart take their parent's efficiency.
  const depthwise = (e.depthwise ?? e.conv).value;
  const norm = (e.norm ?? e.vector).value;

  const bandwidth = profile.ceilings.memory_gb_s.value * 1e9;
  return {
    conv: 2 / (tops * e.conv.value),
    depthwise: 2 / (tops * depthwise),
    linear: 2 / (tops * e.linear.value),
    attention: 2 / (tops * e.attention.value),
    vec: 1 / (tops * e.vector.value),
    norm: 1 / (tops * norm),
    softmax: 1 / (tops * e.softmax.value),
    byte: 1 / (bandwidth * e.memory.value),
    // No movement efficiency: data movement streams like any other traffic (no second limit).
    moveByte: e.movement ? 1 / (bandwidth * e.movement.value) : 0,
    cacheBytes: cache ? cache.mb.value * 1e6 : 0,
    cacheByte: cache ? 1 / (cache.gb_s.value * 1e9 * e.memory.value) : 0,
    op: profile.overhead_us.op.value * 1e-6,
    shape: profile.overhead_us.shape.value * 1e-6,
    graph: (profile.overhead_us.graph?.value ?? 0) * 1e-6,
    row: (profile.overhead_us.row?.value ?? 0) * 1e-6,
    gemmOut: (profile.overhead_us.output?.value ?? 0) * 1e-6,
    gemmIn: (profile.overhead_us.input?.value ?? 0) * 1e-6,
  };
}

const at = (c: number[], r: number, r2: number) => c[0] + c[1] * r + c[2] * r2;

/** Seconds of one group at width ratio r. */
export function groupSeconds(g: Group, rates: Rates, r = 1): number {
  const r2 = r * r;
  const compute = computeSeconds(g, rates, r, r2);
  const stream = streamSeconds(g, rates, r, r2);
  return (compute > stream ? compute : stream) + g.ops * rates.op + at(g.rows, r, r2) * rates.row;
}

/** The roofline's compute side: MACs, vector flops and matrix outputs at their rates. */
function computeSeconds(g: Group, rates: Rates, r: number, r2: number): number {
  return (
    at(g.conv, r, r2) * rates.conv +
    at(g.depthwise, r, r2) * rates.depthwise +
    at(g.linear, r, r2) * rates.linear +
    at(g.attention, r, r2) * rates.attention +
    at(g.vec, r, r2) * rates.vec +
    at(g.norm, r, r2) * rates.norm +
    at(g.softmax, r, r2) * rates.softmax +
    at(g.gemmOut, r, r2) * rates.gemmOut
  );
}

/**
 * The roofline's memory side: the group's traffic, from cache when it all fits
 * there (data movement at its own rate), and a GEMM's pass over its left
 * operand, which does not hide it.
 */
function streamSeconds(g: Group, rates: Rates, r: number, r2: number): number {
  const bytes = at(g.bytes, r, r2);
  const stream = bytes * (bytes <= rates.cacheBytes ? rates.cacheByte : rates.byte);
  // Data movement on its own is also limited by the engine that reorders it, wherever the data is.
  const moved = g.move ? bytes * rates.moveByte : 0;
  return (stream > moved ? stream : moved) + at(g.gemmIn, r, r2) * rates.gemmIn;
}

/**
 * A group's seconds split by the terms of MIX_TERMS (conv, depthwise, linear,
 * attention, vector, memory, movement, overhead): the side of the roofline
 * that sets its time, and its fixed costs. They sum to groupSeconds.
 */
export function groupTerms(g: Group, rates: Rates, r = 1): number[] {
  const r2 = r * r;
  const compute = computeSeconds(g, rates, r, r2);
  const stream = streamSeconds(g, rates, r, r2);
  const t = [0, 0, 0, 0, 0, 0, 0, g.ops * rates.op + at(g.rows, r, r2) * rates.row];
  if (compute >= stream) {
    t[0] = at(g.conv, r, r2) * rates.conv;
    t[1] = at(g.depthwise, r, r2) * rates.depthwise;
    t[2] = at(g.linear, r, r2) * rates.linear;
    t[3] = at(g.attention, r, r2) * rates.attention;
    t[4] = compute - t[0] - t[1] - t[2] - t[3];
  } else {
    t[g.move ? 6 : 5] = stream;
  }
  return t;
}

/** Milliseconds of block b (blocks.length = glue) at width ratio r. */
export function blockMs(plan: CostPlan, rates: Rates, b: number, r = 1): number {
  // The glue carries the call's fixed cost, so every what-if pays it once.
  let s = plan.shapeOps[b] * rates.shape + (b === plan.table.blocks.length ? rates.graph : 0);
  for (const gi of plan.byBlock[b]) s += groupSeconds(plan.groups[gi], rates, r);
  return s * 1e3;
}

/** A plan's groups at full width as flat columns: what a fit prices thousands of times. */
interface Columns {
  n: number;
  conv: Float64Array;
  depthwise: Float64Array;
  linear: Float64Array;
  attention: Float64Array;
  vec: Float64Array;
  norm: Float64Array;
  softmax: Float64Array;
  gemmOut: Float64Array;
  bytes: Float64Array;
  gemmIn: Float64Array;
  rows: Float64Array;
  ops: Float64Array;
  move: Uint8Array;
  shapeOps: number;
}

const columns = new WeakMap<CostPlan, Columns>();

function columnsOf(plan: CostPlan): Columns {
  let c = columns.get(plan);
  if (c) return c;
  const n = plan.groups.length;
  const col = (
    k:
      | 'conv'
      | 'depthwise'
      | 'linear'
      | 'attention'
      | 'vec'
      | 'norm'
      | 'softmax'
      | 'gemmOut'
      | 'bytes'
      | 'gemmIn'
      | 'rows',
  ) => Float64Array.from(plan.groups, (g) => g[k][0] + g[k][1] + g[k][2]);
  c = {
    n,
    conv: col('conv'),
    depthwise: col('depthwise'),
    linear: col('linear'),
    attention: col('attention'),
    vec: col('vec'),
    norm: col('norm'),
    softmax: col('softmax'),
    gemmOut: col('gemmOut'),
    bytes: col('bytes'),
    gemmIn: col('gemmIn'),
    rows: col('rows'),
    ops: Float64Array.from(plan.groups, (g) => g.ops),
    move: Uint8Array.from(plan.groups, (g) => g.move),
    shapeOps: plan.shapeOps.reduce((a, b) => a + b, 0),
  };
  columns.set(plan, c);
  return c;
}

/**
 * The whole model's milliseconds at full width: predictPlan's total without
 * the per-block account, over flat columns (the fit's hot path). Equal to
 * summing groupSeconds.
 */
export function planMs(plan: CostPlan, rates: Rates): number {
  const c = columnsOf(plan);
  let s = rates.graph + c.shapeOps * rates.shape;
  for (let i = 0; i < c.n; i++) {
    const compute =
      c.conv[i] * rates.conv +
      c.depthwise[i] * rates.depthwise +
      c.linear[i] * rates.linear +
      c.attention[i] * rates.attention +
      c.vec[i] * rates.vec +
      c.norm[i] * rates.norm +
      c.softmax[i] * rates.softmax +
      c.gemmOut[i] * rates.gemmOut;
    const bytes = c.bytes[i];
    const stream = bytes * (bytes <= rates.cacheBytes ? rates.cacheByte : rates.byte);
    const moved = c.move[i] ? bytes * rates.moveByte : 0;
    const memory = (stream > moved ? stream : moved) + c.gemmIn[i] * rates.gemmIn;
    s += (compute > memory ? compute : memory) + c.ops[i] * rates.op + c.rows[i] * rates.row;
  }
  return s * 1e3;
}

export interface Prediction {
  ms: number;
  by_block: { name: string; ms: number }[];
  glue_ms: number;
}

/** The whole model's latency with every block at full width. */
export function predictPlan(plan: CostPlan, rates: Rates = ratesOf(plan.profile, plan.precision.compute)): Prediction {
  const nb = plan.table.blocks.length;
  const by_block = plan.table.blocks.map((b, i) => ({ name: b.name, ms: blockMs(plan, rates, i) }));
  const glue_ms = blockMs(plan, rates, nb);
  return { ms: by_block.reduce((s, b) => s + b.ms, glue_ms), by_block, glue_ms };
}

// A cost table priced for one device profile. Planning groups nodes the way
// the runtime fuses them and sums each group's work and traffic; evaluating a
// group is then a roofline:
//
//   ms = max(Σ MACs·2 / (peak·eff_class) + vector flops / (peak·eff_vector)
//              + matrix outputs · overhead_per_output,
//            bytes / (bandwidth·eff_memory)
//              + MatMul left-operand elements · overhead_per_input)
//        + overhead per op + overhead per row
//
// where a CPU profile's cache (ceilings.cache) sets the bandwidth of a group
// whose whole traffic fits in its last-level cache, and the rows are those a
// kernel walks (walks.ts; a profile without overhead_us.row prices them at
// 0). The left-operand term is a GEMM kernel's pass over its left operand: it
// broadcasts one element at a time against a block of columns, and that pass
// does not hide the streaming. On this machine probabilities × V took the
// same time at head sizes 2, 4 and 8, where the MACs say 1 : 2 : 4: 0.27–0.30
// ns per probability in cache, 0.34–0.39 ns from DRAM, 0.18 ns more than
// streaming each costs in either.
//
// Grouping (profile.fusions):
//   view ops          alias their input: a Reshape moves no data
//   elementwise       joins its producer's group when the profile fuses that
//                     (bias add, norm affine, SiLU into conv/linear/norm); so
//                     does a Slice/Split (GEGLU's chunk) on fusing runtimes
//   attention         with fused attention, QKᵀ · scale · softmax · V is one
//                     group and the score matrix never reaches memory
//   patterns          composite ops the runtime recognizes (patterns.ts: SiLU,
//                     GELU, decomposed LayerNorm, MatMul·scale) are one group
//   fill / shape ops  folded away on static-shape runtimes; executed (their
//                     traffic and a small overhead) otherwise
// A group's traffic is what crosses its boundary: inputs read from outside,
// outputs someone outside reads, weights. Groups never cross blocks, so a
// block's cost is the sum of its groups, which is what makes a what-if a sum.
//
// Every amount is kept as coefficients of R⁰, R¹, R² (R: the block's width
// ratio, see width.ts), so narrowing a block re-prices it without replanning.
import type { DeviceProfile, OpClass, Precision, WeightFormat } from '../devices/schema.ts';
import { OP_CLASSES } from '../devices/schema.ts';
import { Kind, type CostTable } from './format.ts';

/** Features of one group as [R⁰, R¹, R²] coefficients. */
export interface Group {
  block: number;
  conv: number[];
  linear: number[];
  attention: number[];
  vec: number[];
  /** Vector flops of softmax nodes (priced at efficiency.softmax). */
  softmax: number[];
  bytes: number[];
  /** Rows walked by reductions (overhead_us.row each). */
  rows: number[];
  /** Output elements of matrix kernels (overhead_us.output each). */
  gemmOut: number[];
  /** Left-operand elements of MatMuls (overhead_us.input each, on top of the group's streaming). */
  gemmIn: number[];
  /** Executed ops in the group (1), or shape/view ops priced at the shape overhead (0 here, counted in `shapeOps`). */
  ops: number;
}

export interface CostPlan {
  table: CostTable;
  profile: DeviceProfile;
  precision: EffectivePrecision;
  groups: Group[];
  /** Node indices (into the table) of each group. */
  members: number[][];
  /** Group indices per block; index blocks.length holds glue. */
  byBlock: number[][];
  /** Shape and view ops executed per block (glue last), each costing overhead_us.shape. */
  shapeOps: number[];
}

export interface EffectivePrecision {
  compute: Precision;
  activations: Precision;
  weights: WeightFormat;
}

/** Per-unit prices in seconds, from a profile's numbers. */
export interface Rates {
  conv: number;
  linear: number;
  attention: number;
  vec: number;
  softmax: number;
  byte: number;
  /** Traffic (bytes) up to which a group streams from cache, and the price of a byte there (0 and `byte` without a cache). */
  cacheBytes: number;
  cacheByte: number;
  op: number;
  shape: number;
  row: number;
  gemmOut: number;
  gemmIn: number;
}

export const QUANTIZE_SCHEMES: Record<string, EffectivePrecision> = {
  fp32: { compute: 'float32', activations: 'float32', weights: 'float32' },
  fp16: { compute: 'float16', activations: 'float16', weights: 'float16' },
  w8a16: { compute: 'int16', activations: 'int16', weights: 'int8' },
  w8a8: { compute: 'int8', activations: 'int8', weights: 'int8' },
  w6a16: { compute: 'float16', activations: 'float16', weights: 'int6-palettized' },
  w4a16: { compute: 'float16', activations: 'float16', weights: 'int4' },
};

const PRECISION_BITS: Record<Precision, number> = { float32: 32, float16: 16, int16: 16, int8: 8 };
const WEIGHT_BITS: Record<Exclude<WeightFormat, 'stored'>, number> = { float32: 32, float16: 16, int8: 8, 'int6-palettized': 6, int4: 4 };

const CLS = Object.fromEntries(OP_CLASSES.map((c, i) => [c, i])) as Record<OpClass, number>;
const HEAVY = new Set([CLS.conv, CLS.linear, CLS.attention, CLS.norm]);
// Slicing a tensor along channels (GEGLU's chunk) is a view a fusing compiler writes directly.
const SLICES = new Set(['Slice', 'Split']);

export interface PlanOptions {
  /** Batch to price (activations and MACs scale from the table's batch). */
  batch?: number;
  /** Precision the model is deployed at, instead of the profile's own. */
  precision?: EffectivePrecision;
}

/** The precision a profile runs a scheme at: schemes it cannot compute natively fall back to its own. */
export function effectivePrecision(profile: DeviceProfile, scheme?: EffectivePrecision): { precision: EffectivePrecision; fellBack: boolean } {
  const own: EffectivePrecision = { compute: profile.precision.compute, activations: profile.precision.activations, weights: profile.precision.weights };
  if (!scheme) return { precision: own, fellBack: false };
  if (profile.precision.native.includes(scheme.compute) && profile.ceilings.compute_tops[scheme.compute]) return { precision: scheme, fellBack: false };
  // Compressed weights still shrink traffic where the runtime keeps weights compressed.
  const compresses = own.weights !== 'float32' && own.weights !== 'stored';
  return { precision: { ...own, weights: compresses ? scheme.weights : own.weights }, fellBack: true };
}

export function planCost(table: CostTable, profile: DeviceProfile, opts: PlanOptions = {}): CostPlan {
  const precision = opts.precision ?? effectivePrecision(profile).precision;
  const k = (opts.batch ?? table.batch) / table.batch;
  const { nodes, values } = table;
  const f = profile.fusions;
  const folded = f.shape_ops === 'folded';
  const actBits = PRECISION_BITS[precision.activations];
  const nb = table.blocks.length;
  const blockSlot = (b: number) => (b < 0 ? nb : b);

  const root = new Int32Array(values.elems.length).map((_, i) => i);
  const producer = new Int32Array(values.elems.length).fill(-1);
  const nodeGroup = new Int32Array(nodes.op.length).fill(-1);
  const shapeOps = new Array(nb + 1).fill(0);
  interface Building {
    block: number;
    anchor: number;
    members: number[];
    absorbed: number;
    softmax: number;
    attention: number;
    /** Score elements per head of the group's first attention matmul. */
    tile: number;
  }
  const building: Building[] = [];
  const into = new Set(f.into.map((c) => CLS[c]));
  const maxTile = f.attention_max_scores ?? Infinity;
  const fusedAttention = (g: Building) => f.attention && g.tile <= maxTile;
  const patterns = new Set(f.patterns);
  const patternGroup = new Int32Array(table.patterns.length).fill(-1);

  const canAbsorb = (g: Building, cls: number): boolean => {
    if (cls === CLS.elementwise) {
      if (g.anchor === CLS.attention) return fusedAttention(g);
      if (g.anchor === CLS.elementwise) return f.elementwise;
      return into.has(g.anchor) && (f.elementwise || g.absorbed < 2);
    }
    if (!fusedAttention(g) || g.anchor !== CLS.attention) return false;
    if (cls === CLS.softmax) return g.softmax === 0 && g.attention === 1;
    if (cls === CLS.attention) return g.softmax === 1 && g.attention === 1;
    return false;
  };

  for (let i = 0; i < nodes.op.length; i++) {
    if (nodes.cls[i] === CLS.view && nodes.ins[i].length && nodes.outs[i].length) root[nodes.outs[i][0]] = root[nodes.ins[i][0]];
  }
  const layout = f.attention ? attentionLayout(table, root, maxTile) : new Set<number>();

  for (let i = 0; i < nodes.op.length; i++) {
    const cls = nodes.cls[i];
    const block = nodes.block[i];
    if (cls === CLS.shape || cls === CLS.view || layout.has(i)) {
      if (!folded) shapeOps[blockSlot(block)]++;
      continue;
    }
    if (folded && nodes.foldable[i]) continue;
    const pat = nodes.pattern[i];
    const fusedPattern = pat >= 0 && patterns.has(table.patterns[pat]);
    let target = fusedPattern ? patternGroup[pat] : -1;
    const slice = SLICES.has(nodes.op[i]);
    if (target < 0 && (cls === CLS.elementwise || cls === CLS.softmax || cls === CLS.attention || slice)) {
      for (const v of nodes.ins[i]) {
        const p = producer[root[v]];
        if (p >= 0 && building[p].block === block && canAbsorb(building[p], slice ? CLS.elementwise : cls)) {
          target = p;
          break;
        }
      }
    }
    if (target < 0) {
      target = building.length;
      building.push({ block, anchor: cls, members: [], absorbed: 0, softmax: 0, attention: 0, tile: nodes.tile[i] });
    } else if (!fusedPattern || patternGroup[pat] < 0) {
      building[target].absorbed++;
    }
    if (fusedPattern) patternGroup[pat] = target;
    const g = building[target];
    // A composite op is priced as its heaviest member (LayerNorm as a norm, MatMul·scale as the MatMul).
    if (HEAVY.has(cls) && !HEAVY.has(g.anchor)) g.anchor = cls;
    g.members.push(i);
    if (cls === CLS.softmax) g.softmax++;
    if (cls === CLS.attention) (g.attention++, (g.tile = Math.max(g.tile, nodes.tile[i])));
    nodeGroup[i] = target;
    for (const v of nodes.outs[i]) producer[root[v]] = target;
  }

  // Which groups read each (root) value, to tell internal values from outputs.
  const readers: number[][] = Array.from({ length: values.elems.length }, () => []);
  for (let i = 0; i < nodes.op.length; i++) {
    const gi = nodeGroup[i];
    if (gi < 0) continue;
    for (const v of nodes.ins[i]) readers[root[v]].push(gi);
  }
  const isOutput = new Uint8Array(values.elems.length);
  for (const v of table.outputs) isOutput[root[v]] = 1;

  // A graph stored in a float precision the runtime has no kernels for runs
  // with casts (precision.foreign 'casts'): typed ops compute at the runtime's
  // precision, data movement stays in the stored one, and every edge between
  // the two costs a Cast op (read at one precision, write at the other).
  const casting = profile.precision.foreign === 'casts';
  const foreign = (v: number) => casting && values.float[v] === 1 && values.bits[v] !== actBits;
  // Only profiles that insert Casts or layout reorders need the value graph.
  const edges = casting || f.conv_reorders ? valueEdges(table, folded) : undefined;
  const isolated = edges && casting ? isolatedAgnostic(table, edges, foreign, folded) : new Set<number>();
  const typed = (gi: number) => gi >= 0 && (building[gi].anchor !== CLS.movement || building[gi].members.every((i) => isolated.has(i)));
  const valueBytes = (v: number, gi = -1) => {
    if (folded && values.kind[v] === Kind.Fill && f.fills === 'free') return 0;
    const bits = values.float[v] ? (foreign(v) && !typed(gi) ? values.bits[v] : actBits) : values.bits[v];
    return (values.elems[v] * bits * k) / 8;
  };
  const weightBits = (i: number) => (precision.weights === 'stored' ? nodes.wBits[i] : WEIGHT_BITS[precision.weights]);

  const groups: Group[] = building.map((b, gi) => {
    const g = emptyGroup(b.block, 1);
    const read = new Set<number>();
    const written = new Set<number>();
    for (const i of b.members) {
      const cls = nodes.cls[i];
      const e = nodes.eMacs[i];
      if (cls === CLS.conv) g.conv[e] += nodes.macs[i] * k;
      else if (cls === CLS.linear) g.linear[e] += nodes.macs[i] * k;
      else if (cls === CLS.attention) g.attention[e] += nodes.macs[i] * k;
      // A softmax inside a fused attention kernel runs on rows in on-chip memory: vector arithmetic.
      (cls === CLS.softmax && b.attention === 0 ? g.softmax : g.vec)[nodes.eVec[i]] += nodes.vec[i] * k;
      // Without a kernel for the stored precision, onnxruntime runs a Softmax as
      // five ops (ReduceMax, Sub, Exp, ReduceSum, Div): four more passes over the scores.
      if (cls === CLS.softmax && casting && nodes.ins[i].length && foreign(nodes.ins[i][0])) {
        const v = nodes.ins[i][0];
        g.bytes[values.width[v]] += (4 * 2 * values.elems[v] * actBits * k) / 8;
        g.ops += 4;
      }
      // onnxruntime's CPU Expand writes one copy of its input, then copies what
      // it has written, doubling: it reads back about as much as it writes.
      // (A 134 MB Expand took 16 ms here, where a 134 MB read takes 7.4.)
      if (f.expand_rereads && nodes.op[i] === 'Expand') for (const v of nodes.outs[i]) g.bytes[values.width[v]] += valueBytes(root[v], gi);
      g.rows[nodes.eRows[i]] += nodes.rows[i] * k;
      g.gemmOut[nodes.eGemmOut[i]] += nodes.gemmOut[i] * k;
      g.gemmIn[nodes.eGemmIn[i]] += nodes.gemmIn[i] * k;
      g.bytes[nodes.eW[i]] += (nodes.wElems[i] * weightBits(i)) / 8;
      g.bytes[0] += nodes.wOther[i];
      for (const v of nodes.ins[i]) {
        const r = root[v];
        if (producer[r] !== gi) read.add(r);
      }
      for (const v of nodes.outs[i]) {
        const r = root[v];
        if (isOutput[r] || readers[r].some((x) => x !== gi)) written.add(r);
      }
    }
    for (const r of read) g.bytes[values.width[r]] += valueBytes(r, gi);
    for (const r of written) g.bytes[values.width[r]] += valueBytes(r, gi);
    return g;
  });
  /** A group no graph node stands for (a Cast, a reorder the runtime inserts). */
  const addInserted = (g: Group, anchor: number) => {
    groups.push(g);
    building.push({ block: g.block, anchor, members: [], absorbed: 0, softmax: 0, attention: 0, tile: 0 });
  };
  if (edges && casting) {
    // Per value, as onnxruntime inserts them: a Cast after a typed producer
    // whose value an agnostic op (or the graph output) reads, and one before
    // the typed readers of a value an agnostic op (or the graph input) made.
    // Views and movement ops are agnostic (they keep the stored precision)
    // unless isolated between typed ops; see isolatedAgnostic.
    const agnostic = (i: number) => AGNOSTIC.has(nodes.cls[i]) && !isolated.has(i);
    const { same, made, usedBy } = edges;
    const outputs = new Set(table.outputs.map((v) => same[v]));
    for (let v = 0; v < values.elems.length; v++) {
      if (same[v] !== v || !foreign(v) || values.kind[v] === Kind.Fill) continue;
      const p = made[v];
      const typedMaker = p >= 0 && !agnostic(p);
      const readers = usedBy[v];
      const casts = (typedMaker && (readers.some(agnostic) || outputs.has(v)) ? 1 : 0) + (!typedMaker && readers.some((i) => !agnostic(i)) ? 1 : 0);
      if (!casts) continue;
      const block = p >= 0 ? nodes.block[p] : (readers.length ? nodes.block[readers[0]] : -1);
      const cast = emptyGroup(block, casts);
      cast.bytes[values.width[v]] = (casts * values.elems[v] * (values.bits[v] + actBits) * k) / 8;
      cast.vec[values.width[v]] = casts * values.elems[v] * k;
      addInserted(cast, CLS.elementwise);
    }
  }
  if (edges && f.conv_reorders) {
    // onnxruntime's NCHWc transformer runs convs in a blocked layout and
    // inserts ReorderInput/ReorderOutput where a neighbour is not a conv: an
    // op that reads and writes the activation once more (the narrow UNet's
    // optimized graph has 77 and 78 of them for its 97 convs).
    const { made, usedBy, same } = edges;
    const isConv = (i: number) => i >= 0 && nodes.cls[i] === CLS.conv;
    for (let i = 0; i < nodes.op.length; i++) {
      if (!isConv(i) || nodes.ins[i].length === 0 || (folded && nodes.foldable[i])) continue;
      const x = same[nodes.ins[i][0]];
      const y = same[nodes.outs[i][0]];
      for (const [v, needed] of [
        [x, !isConv(made[x])],
        [y, usedBy[y].some((r) => !isConv(r))],
      ] as const) {
        if (!needed) continue;
        const reorder = emptyGroup(nodes.block[i], 1);
        reorder.bytes[values.width[v]] = (2 * values.elems[v] * actBits * k) / 8;
        addInserted(reorder, CLS.movement);
      }
    }
  }
  const byBlock: number[][] = Array.from({ length: nb + 1 }, () => []);
  groups.forEach((g, i) => byBlock[blockSlot(g.block)].push(i));
  return { table, profile, precision, groups, members: building.map((b) => b.members), byBlock, shapeOps };
}

const AGNOSTIC = new Set([CLS.movement, CLS.view]);

function emptyGroup(block: number, ops: number): Group {
  return { block, conv: [0, 0, 0], linear: [0, 0, 0], attention: [0, 0, 0], vec: [0, 0, 0], softmax: [0, 0, 0], bytes: [0, 0, 0], rows: [0, 0, 0], gemmOut: [0, 0, 0], gemmIn: [0, 0, 0], ops };
}

interface ValueEdges {
  /** Each value, or the value it is a dropped Cast of. */
  same: Int32Array;
  /** The node that makes each value (-1: an input), and the nodes that read it. */
  made: Int32Array;
  usedBy: number[][];
}

/**
 * The value graph onnxruntime inserts its Casts and reorders on: who makes
 * and who reads each value, with every Cast to the type a value already has
 * dropped (as onnxruntime drops them: `same` maps its output to its input).
 */
function valueEdges(table: CostTable, folded: boolean): ValueEdges {
  const { nodes, values } = table;
  const same = new Int32Array(values.elems.length).map((_, v) => v);
  const made = new Int32Array(values.elems.length).fill(-1);
  const usedBy: number[][] = Array.from({ length: values.elems.length }, () => []);
  for (let i = 0; i < nodes.op.length; i++) {
    if (nodes.cls[i] === CLS.shape || (folded && nodes.foldable[i])) continue;
    if (nodes.op[i] === 'Cast' && nodes.cls[i] === CLS.view) {
      same[nodes.outs[i][0]] = same[nodes.ins[i][0]];
      continue;
    }
    for (const v of nodes.outs[i]) made[same[v]] = i;
    for (const v of nodes.ins[i]) usedBy[same[v]].push(i);
  }
  return { same, made, usedBy };
}

/**
 * Agnostic ops (views and movement: they have a kernel for the stored
 * precision) that run in float32 anyway, with no Casts: every input comes
 * from, and the output only goes to, ops that compute in float32
 * (onnxruntime's IsIsolatedFp16NodeOnCpu); decided per op against the
 * original assignment, so two movement ops in a row keep theirs. In the
 * optimized graph of the narrow UNet at float16: the GroupNorm Reshapes
 * between Conv and InstanceNorm run in float32, the head-split Reshapes
 * before a Transpose keep a Cast each.
 */
function isolatedAgnostic(table: CostTable, { same, made, usedBy }: ValueEdges, foreign: (v: number) => boolean, folded: boolean): Set<number> {
  const { nodes } = table;
  const isolated = new Set<number>();
  const outputs = new Set(table.outputs.map((v) => same[v]));
  const computes = (i: number) => i >= 0 && !AGNOSTIC.has(nodes.cls[i]);
  for (let i = 0; i < nodes.op.length; i++) {
    if (!AGNOSTIC.has(nodes.cls[i]) || nodes.op[i] === 'Cast' || (folded && nodes.foldable[i])) continue;
    const ins = nodes.ins[i].map((v) => same[v]).filter((v) => foreign(v) && made[v] >= 0);
    const outs = nodes.outs[i].map((v) => same[v]).filter(foreign);
    if (!ins.length || !outs.length || outs.some((v) => outputs.has(v))) continue;
    if (ins.every((v) => computes(made[v])) && outs.every((v) => usedBy[v].every(computes))) isolated.add(i);
  }
  return isolated;
}

/**
 * A fused attention kernel reads Q, K, V and writes its output in whatever
 * layout the projections use: the head split/merge Transposes next to it
 * (through views) are layout, not work.
 */
function attentionLayout(table: CostTable, root: Int32Array, maxTile: number): Set<number> {
  const { nodes } = table;
  const readers = new Map<number, number[]>();
  const producers = new Map<number, number>();
  for (let i = 0; i < nodes.op.length; i++) {
    if (nodes.cls[i] === CLS.view) continue;
    for (const v of nodes.ins[i]) {
      const r = root[v];
      readers.set(r, [...(readers.get(r) ?? []), i]);
    }
    for (const v of nodes.outs[i]) producers.set(root[v], i);
  }
  const fused = (i: number | undefined) => i !== undefined && nodes.cls[i] === CLS.attention && nodes.tile[i] <= maxTile;
  const out = new Set<number>();
  for (let i = 0; i < nodes.op.length; i++) {
    if (nodes.op[i] !== 'Transpose' || !nodes.ins[i].length || !nodes.outs[i].length) continue;
    const users = readers.get(root[nodes.outs[i][0]]) ?? [];
    const feedsAttention = users.length > 0 && users.every(fused);
    if (feedsAttention || fused(producers.get(root[nodes.ins[i][0]]))) out.add(i);
  }
  return out;
}

export function ratesOf(profile: DeviceProfile, precision: Precision = profile.precision.compute): Rates {
  const tops = (profile.ceilings.compute_tops[precision] ?? profile.ceilings.compute_tops[profile.precision.compute])!.value * 1e12;
  const e = profile.efficiency;
  const cache = profile.ceilings.cache;
  return {
    conv: 2 / (tops * e.conv.value),
    linear: 2 / (tops * e.linear.value),
    attention: 2 / (tops * e.attention.value),
    vec: 1 / (tops * e.vector.value),
    softmax: 1 / (tops * e.softmax.value),
    byte: 1 / (profile.ceilings.memory_gb_s.value * 1e9 * e.memory.value),
    cacheBytes: cache ? cache.mb.value * 1e6 : 0,
    cacheByte: cache ? 1 / (cache.gb_s.value * 1e9 * e.memory.value) : 0,
    op: profile.overhead_us.op.value * 1e-6,
    shape: profile.overhead_us.shape.value * 1e-6,
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
  return at(g.conv, r, r2) * rates.conv + at(g.linear, r, r2) * rates.linear + at(g.attention, r, r2) * rates.attention + at(g.vec, r, r2) * rates.vec + at(g.softmax, r, r2) * rates.softmax + at(g.gemmOut, r, r2) * rates.gemmOut;
}

/**
 * The roofline's memory side: the group's traffic, from cache when it all fits
 * there, and a GEMM's pass over its left operand, which does not hide it.
 */
function streamSeconds(g: Group, rates: Rates, r: number, r2: number): number {
  const bytes = at(g.bytes, r, r2);
  return bytes * (bytes <= rates.cacheBytes ? rates.cacheByte : rates.byte) + at(g.gemmIn, r, r2) * rates.gemmIn;
}

/** Milliseconds of block b (blocks.length = glue) at width ratio r. */
export function blockMs(plan: CostPlan, rates: Rates, b: number, r = 1): number {
  let s = plan.shapeOps[b] * rates.shape;
  for (const gi of plan.byBlock[b]) s += groupSeconds(plan.groups[gi], rates, r);
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

/** Where the time goes: milliseconds by the class that anchors each group, and whether it is compute- or memory-bound. */
export function explainPlan(plan: CostPlan, rates: Rates = ratesOf(plan.profile, plan.precision.compute)): Record<string, { ms: number; groups: number; memory_bound: number }> {
  const out: Record<string, { ms: number; groups: number; memory_bound: number }> = {};
  const cls = (g: Group) => (sum(g.attention) ? 'attention' : sum(g.conv) ? 'conv' : sum(g.linear) ? 'linear' : sum(g.softmax) ? 'softmax' : sum(g.vec) ? 'vector' : 'movement');
  for (const g of plan.groups) {
    const k = cls(g);
    const e = (out[k] ??= { ms: 0, groups: 0, memory_bound: 0 });
    e.ms += groupSeconds(g, rates) * 1e3;
    e.groups++;
    if (streamSeconds(g, rates, 1, 1) > computeSeconds(g, rates, 1, 1)) e.memory_bound++;
  }
  const shape = plan.shapeOps.reduce((a, b) => a + b, 0);
  if (shape) out.shape = { ms: shape * rates.shape * 1e3, groups: shape, memory_bound: 0 };
  return out;
}

const sum = (c: number[]) => c[0] + c[1] + c[2];

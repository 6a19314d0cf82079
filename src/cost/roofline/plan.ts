// A cost table planned for one device profile: its nodes grouped the way the
// runtime fuses them, and each group's work and traffic summed. Pricing a
// group is the roofline's job (roofline.ts); planning depends only on the
// profile's structure (fusions, precision), so a calibration fit re-prices
// plans without replanning.
//
// Grouping (profile.fusions):
//   view ops          alias their input: a Reshape moves no data (on a tiled
//                     layout, fusions.reshapes 'copy', it re-tiles: movement)
//   elementwise       joins its producer's group when the profile fuses that
//                     (bias add, norm affine, SiLU into conv/linear/norm); so
//                     does a Slice/Split (GEGLU's chunk) on fusing runtimes
//   attention         with fused attention, QKᵀ · scale · softmax · V is one
//                     group and the score matrix never reaches memory
//   patterns          composite ops the runtime recognizes (patterns.ts: SiLU,
//                     GELU, decomposed LayerNorm and GroupNorm, MatMul·scale)
//                     are one group
//   fill / shape ops  folded away on static-shape runtimes; executed (their
//                     traffic and a small overhead) otherwise
// A group's traffic is what crosses its boundary: inputs read from outside,
// outputs someone outside reads, weights. Groups never cross blocks, so a
// block's cost is the sum of its groups, which is what makes a what-if a sum.
//
// Every amount is kept as coefficients of R⁰, R¹, R² (R: the block's width
// ratio, see width.ts), so narrowing a block re-prices it without replanning.
import type { DeviceProfile, OpClass } from '../../devices/schema.ts';
import { OP_CLASSES } from '../../devices/schema.ts';
import { precisionBits, weightBits, type EffectivePrecision } from '../../precision.ts';
import { effectivePrecision } from './roofline.ts';
import { Kind, type CostTable } from '../table/format.ts';

/** Features of one group as [R⁰, R¹, R²] coefficients. */
export interface Group {
  block: number;
  conv: number[];
  /** MACs of depthwise convs (one input channel per group), priced at efficiency.depthwise. */
  depthwise: number[];
  linear: number[];
  attention: number[];
  vec: number[];
  /** Vector flops of normalization nodes (priced at efficiency.norm). */
  norm: number[];
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
  /** 1 when the group is data movement (a Transpose, Concat, Slice, Resize, … on its own): its traffic streams at efficiency.movement. */
  move: number;
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

const CLS = Object.fromEntries(OP_CLASSES.map((c, i) => [c, i])) as Record<OpClass, number>;
const HEAVY = new Set([CLS.conv, CLS.depthwise, CLS.linear, CLS.attention, CLS.norm]);
// A depthwise conv absorbs and reorders like any conv; only its arithmetic is priced apart.
const CONVS = new Set([CLS.conv, CLS.depthwise]);
// Slicing a tensor along channels (GEGLU's chunk) is a view a fusing compiler writes directly.
const SLICES = new Set(['Slice', 'Split']);

export interface PlanOptions {
  /** Batch to price (activations and MACs scale from the table's batch). */
  batch?: number;
  /** Precision the model is deployed at, instead of the profile's own. */
  precision?: EffectivePrecision;
}

export function planCost(table: CostTable, profile: DeviceProfile, opts: PlanOptions = {}): CostPlan {
  if (profile.fusions.reshapes === 'copy') table = reshapesCopy(table);
  const precision = opts.precision ?? effectivePrecision(profile).precision;
  const k = (opts.batch ?? table.batch) / table.batch;
  const { nodes, values } = table;
  const f = profile.fusions;
  const folded = f.shape_ops === 'folded';
  const actBits = precisionBits(precision.activations);
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
  if (into.has(CLS.conv)) into.add(CLS.depthwise);
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
    if (nodes.cls[i] === CLS.view && nodes.ins[i].length && nodes.outs[i].length)
      root[nodes.outs[i][0]] = root[nodes.ins[i][0]];
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
  const typed = (gi: number) =>
    gi >= 0 && (building[gi].anchor !== CLS.movement || building[gi].members.every((i) => isolated.has(i)));
  const valueBytes = (v: number, gi = -1) => {
    if (folded && values.kind[v] === Kind.Fill && f.fills === 'free') return 0;
    const bits = values.float[v] ? (foreign(v) && !typed(gi) ? values.bits[v] : actBits) : values.bits[v];
    return (values.elems[v] * bits * k) / 8;
  };
  const wBitsOf = (i: number) => (precision.weights === 'stored' ? nodes.wBits[i] : weightBits(precision.weights));

  const groups: Group[] = building.map((b, gi) => {
    const g = emptyGroup(b.block, 1, b.anchor === CLS.movement ? 1 : 0);
    const read = new Set<number>();
    const written = new Set<number>();
    for (const i of b.members) {
      const cls = nodes.cls[i];
      const e = nodes.eMacs[i];
      if (cls === CLS.conv) g.conv[e] += nodes.macs[i] * k;
      else if (cls === CLS.depthwise) g.depthwise[e] += nodes.macs[i] * k;
      else if (cls === CLS.linear) g.linear[e] += nodes.macs[i] * k;
      else if (cls === CLS.attention) g.attention[e] += nodes.macs[i] * k;
      // A softmax inside a fused attention kernel runs on rows in on-chip memory: vector arithmetic.
      (cls === CLS.softmax && b.attention === 0 ? g.softmax : cls === CLS.norm ? g.norm : g.vec)[nodes.eVec[i]] +=
        nodes.vec[i] * k;
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
      if (f.expand_rereads && nodes.op[i] === 'Expand')
        for (const v of nodes.outs[i]) g.bytes[values.width[v]] += valueBytes(root[v], gi);
      g.rows[nodes.eRows[i]] += nodes.rows[i] * k;
      g.gemmOut[nodes.eGemmOut[i]] += nodes.gemmOut[i] * k;
      g.gemmIn[nodes.eGemmIn[i]] += nodes.gemmIn[i] * k;
      g.bytes[nodes.eW[i]] += (nodes.wElems[i] * wBitsOf(i)) / 8;
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
      const casts =
        (typedMaker && (readers.some(agnostic) || outputs.has(v)) ? 1 : 0) +
        (!typedMaker && readers.some((i) => !agnostic(i)) ? 1 : 0);
      if (!casts) continue;
      const block = p >= 0 ? nodes.block[p] : readers.length ? nodes.block[readers[0]] : -1;
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
    const isConv = (i: number) => i >= 0 && CONVS.has(nodes.cls[i]);
    for (let i = 0; i < nodes.op.length; i++) {
      if (!isConv(i) || nodes.ins[i].length === 0 || (folded && nodes.foldable[i])) continue;
      const x = same[nodes.ins[i][0]];
      const y = same[nodes.outs[i][0]];
      for (const [v, needed] of [
        [x, !isConv(made[x])],
        [y, usedBy[y].some((r) => !isConv(r))],
      ] as const) {
        if (!needed) continue;
        const reorder = emptyGroup(nodes.block[i], 1, 1);
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
const RESHAPES = new Set(['Reshape', 'Flatten']);

/**
 * On a runtime that keeps activations in a tiled layout (Hexagon's 8×8×32
 * crouton tiles), a Reshape of data re-tiles it: a copy, not an alias.
 * Reshapes next to a fused attention kernel (head split and merge) stay
 * layout (attentionLayout), and GroupNorm's pair is folded into its pattern.
 */
function reshapesCopy(table: CostTable): CostTable {
  const { nodes } = table;
  const cls = nodes.cls.map((c, i) =>
    c === CLS.view && RESHAPES.has(nodes.op[i]) && !nodes.foldable[i] && nodes.ins[i].length ? CLS.movement : c,
  );
  return { ...table, nodes: { ...nodes, cls } };
}

function emptyGroup(block: number, ops: number, move = 0): Group {
  const z = () => [0, 0, 0];
  return {
    block,
    conv: z(),
    depthwise: z(),
    linear: z(),
    attention: z(),
    vec: z(),
    norm: z(),
    softmax: z(),
    bytes: z(),
    rows: z(),
    gemmOut: z(),
    gemmIn: z(),
    ops,
    move,
  };
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
function isolatedAgnostic(
  table: CostTable,
  { same, made, usedBy }: ValueEdges,
  foreign: (v: number) => boolean,
  folded: boolean,
): Set<number> {
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
  const fused = (i: number | undefined) =>
    i !== undefined && nodes.cls[i] === CLS.attention && nodes.tile[i] <= maxTile;
  const out = new Set<number>();
  const isLayout = (i: number | undefined) => i !== undefined && (fused(i) || out.has(i));
  for (let changed = true; changed;) {
    changed = false;
    for (let i = 0; i < nodes.op.length; i++) {
      if (
        out.has(i) ||
        (nodes.op[i] !== 'Transpose' && nodes.op[i] !== 'Reshape') ||
        nodes.cls[i] === CLS.view ||
        !nodes.ins[i].length ||
        !nodes.outs[i].length
      )
        continue;
      const users = readers.get(root[nodes.outs[i][0]]) ?? [];
      const feedsAttention = users.length > 0 && users.every(isLayout);
      if (feedsAttention || isLayout(producers.get(root[nodes.ins[i][0]]))) (out.add(i), (changed = true));
    }
  }
  return out;
}

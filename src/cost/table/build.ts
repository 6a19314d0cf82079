// The cost table of a model: what every node computes and moves, from a
// shape-inferred graph, independent of any device. It is the one input of the
// latency model (plan.ts) and small enough to cache as JSON, so a what-if
// never needs the graph again.
//
// Per node: MACs (by the shared rules in blocks/macs.ts), vector flops,
// weight elements (at their stored bits), and which activation values it
// reads and writes. Attention needs no special case: QKᵀ writes its
// [B·heads, N, N] score matrix, and every op after it (scale, add, softmax)
// reads and writes it again, each counted as the activation traffic it is.
//
// Value kinds decide what a runtime can precompute:
//   act     computed from the inputs' data
//   fill    ConstantOfShape and what is computed from it (the exporter's
//           baddbmm zeros): as big as the scores, but foldable
//   shape   shape arithmetic (Shape → Gather → Concat): foldable, tiny
//   weight  initializers, Constants and what is computed from them only
import { findBlocks, type Block, type BlockMap } from '../../blocks/find.ts';
import { nodeMacs } from '../../blocks/macs.ts';
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';
import { OP_CLASSES, type OpClass } from '../../devices/schema.ts';
import { findResidual } from '../../blocks/residual.ts';
import type { Graph, Node, Value } from '../../ir/graph.ts';
import { elementBits, isFloat } from '../../onnx/dtype.ts';
import { toNumber } from '../../onnx/proto.ts';
import { ruleFor } from './classes.ts';
import { findPatterns } from './patterns.ts';
import { rowsWalked } from './walks.ts';
import { widthExponents } from './width.ts';
import { Kind, TABLE_VERSION, type CostTable, type TableBlock } from './format.ts';

export { Kind, TABLE_VERSION, type CostTable, type TableBlock } from './format.ts';

export interface TableOptions {
  model: string;
  /** Block map, if the caller already has one. */
  map?: BlockMap;
  /** Skip the width analysis (exponents all 0). */
  noWidth?: boolean;
}

const CLASS_INDEX = new Map<OpClass, number>(OP_CLASSES.map((c, i) => [c, i]));
const SHAPE_SOURCES = new Set(['Shape', 'Size']);

/** Undefined (with PD8003) when some shape is unknown: bind and infer first. */
export function buildCostTable(g: Graph, opts: TableOptions, log: DiagnosticLog, at?: Location): CostTable | undefined {
  const map = opts.map ?? findBlocks(g);
  const nodes = g.nodes();
  const kinds = valueKinds(g);
  const blockIndex = new Map(map.blocks.map((b, i) => [b, i]));
  const owner = attributeGlue(g, map, blockIndex, kinds);
  const unknown = nodes.filter((n) => n.outputs.some((v) => v && kinds.get(v)! <= Kind.Fill && !staticShape(v)));
  if (unknown.length) {
    log.error(
      Code.CostUnknownShape,
      `the cost of ${unknown.length} nodes cannot be computed: their output shapes are unknown (bind the inputs' dims with --input)`,
      { ...at, node: unknown[0].name },
    );
    return undefined;
  }
  const measured = opts.noWidth ? { reason: 'not analysed' } : widthExponents(g, map, (v) => kinds.get(v) === Kind.Act);
  const width = 'reason' in measured ? undefined : measured;
  const t: CostTable = {
    version: TABLE_VERSION,
    model: opts.model,
    batch: batchOf(g),
    width: 'reason' in measured ? measured.reason : 'ok',
    blocks: map.blocks.map(blockInfo),
    values: { elems: [], bits: [], float: [], kind: [], width: [] },
    nodes: {
      op: [],
      cls: [],
      block: [],
      macs: [],
      vec: [],
      gemmOut: [],
      gemmIn: [],
      rows: [],
      wElems: [],
      wBits: [],
      wOther: [],
      ins: [],
      outs: [],
      eMacs: [],
      eVec: [],
      eW: [],
      eRows: [],
      eGemmOut: [],
      eGemmIn: [],
      foldable: [],
      pattern: [],
      tile: [],
      shortcut: [],
    },
    patterns: [],
    outputs: [],
  };
  const isConst = (v: Value | undefined) => !!v && (kinds.get(v) ?? Kind.Weight) >= Kind.Shape;
  const patternOf = new Map<Node, number>();
  for (const p of findPatterns(nodes, isConst)) {
    for (const n of p.nodes) patternOf.set(n, t.patterns.length);
    t.patterns.push(p.name);
  }
  const ids = new Map<Value, number>();
  const id = (v: Value): number => {
    let i = ids.get(v);
    if (i === undefined) {
      i = t.values.elems.length;
      ids.set(v, i);
      const dtype = v.type!.dtype;
      t.values.elems.push(elems(v));
      t.values.bits.push(bitsOf(dtype));
      t.values.float.push(isFloat(dtype) ? 1 : 0);
      t.values.kind.push(kinds.get(v)!);
      t.values.width.push(width?.value.get(v) ?? 0);
    }
    return i;
  };
  const cancelled = inversePairs(nodes);
  for (const n of nodes) {
    const outKinds = n.outputs.filter((v): v is Value => !!v).map((v) => kinds.get(v)!);
    const outKind = Math.min(...outKinds);
    // Weight preprocessing (a transposed Linear weight) is folded by every runtime at load.
    if (outKind === Kind.Weight || n.op === 'Constant') continue;
    const rule = ruleFor(n);
    let cls: OpClass = rule.cls;
    if (outKind === Kind.Shape) cls = 'shape';
    // A Cast to the type it already has (the exporter writes float → float) is dropped by every runtime.
    if (n.op === 'Cast' && n.inputs[0]?.type?.dtype === n.outputs[0]?.type?.dtype) cls = 'view';
    // A transpose and its inverse in a row cancel (runtimes' transpose optimizers remove the pair).
    if (cancelled.has(n)) cls = 'view';
    const acts = n.inputs.filter((v): v is Value => !!v && kinds.get(v)! <= Kind.Fill);
    const consts = n.inputs.filter((v): v is Value => !!v && kinds.get(v) === Kind.Weight);
    if (cls === 'linear' && acts.length >= 2) cls = 'attention';
    const m = cls === 'shape' ? { macs: 0 } : nodeMacs(n);
    let wElems = 0;
    let wBits = 32;
    let wOther = 0;
    if (cls !== 'shape') {
      for (const v of consts) {
        // A Gather from a table (token embedding) reads only the rows it gathers.
        const count = n.op === 'Gather' && v === n.inputs[0] ? elems(n.outputs[0]!) : elems(v);
        if (isFloat(v.type!.dtype)) {
          wElems += count;
          wBits = bitsOf(v.type!.dtype);
        } else {
          wOther += (count * bitsOf(v.type!.dtype)) / 8;
        }
      }
    }
    const per = rule.per === 'in' ? acts[0] : n.outputs[0];
    const vec = cls === 'shape' || !rule.flops || !per ? 0 : rule.flops * elems(per);
    t.nodes.op.push(n.op);
    t.nodes.cls.push(CLASS_INDEX.get(cls)!);
    t.nodes.block.push(owner.get(n) ?? -1);
    t.nodes.macs.push(m?.macs ?? 0);
    t.nodes.vec.push(vec);
    const rows = cls === 'shape' || cls === 'view' ? 0 : rowsWalked(n);
    const gemm =
      (cls === 'conv' || cls === 'depthwise' || cls === 'linear' || cls === 'attention') && n.outputs[0]
        ? n.outputs[0]
        : undefined;
    t.nodes.gemmOut.push(gemm ? elems(gemm) : 0);
    const left = (cls === 'linear' || cls === 'attention') && acts[0] ? acts[0] : undefined;
    t.nodes.gemmIn.push(left ? elems(left) : 0);
    t.nodes.rows.push(rows);
    t.nodes.wElems.push(wElems);
    t.nodes.wBits.push(wBits);
    t.nodes.wOther.push(wOther);
    t.nodes.ins.push(cls === 'shape' ? [] : acts.map(id));
    t.nodes.outs.push(cls === 'shape' ? [] : n.outputs.filter((v): v is Value => !!v).map(id));
    t.nodes.eMacs.push(width?.macs.get(n) ?? 0);
    t.nodes.eVec.push(per ? (width?.value.get(per) ?? 0) : 0);
    t.nodes.eW.push(width?.weights.get(n) ?? 0);
    t.nodes.eGemmOut.push(gemm ? (width?.value.get(gemm) ?? 0) : 0);
    t.nodes.eGemmIn.push(left ? (width?.value.get(left) ?? 0) : 0);
    t.nodes.eRows.push(rows ? (width?.rows.get(n) ?? 0) : 0);
    t.nodes.foldable.push(outKind === Kind.Act ? 0 : 1);
    t.nodes.pattern.push(patternOf.get(n) ?? -1);
    const shape = n.outputs[0]?.type?.shape as number[] | undefined;
    t.nodes.shortcut.push(/(^|\.)conv_shortcut$/.test(n.scope) ? 1 : 0);
    t.nodes.tile.push(
      cls === 'attention' && shape && shape.length >= 2 ? shape[shape.length - 1] * shape[shape.length - 2] : 0,
    );
  }
  t.outputs = g.outputs.filter((v) => ids.has(v)).map((v) => ids.get(v)!);
  return t;
}

/** What the structural passes could do with a block, from its residual structure. */
function blockInfo(b: Block): TableBlock {
  const info: TableBlock = { name: b.name, kind: b.kind, removable: false, shortcut: false, duplicable: false };
  if (b.kind !== 'resnet' && b.kind !== 'cross_attention' && b.kind !== 'attention') return info;
  const r = findResidual(b);
  if ('reason' in r) return info;
  const same = JSON.stringify(r.input.type?.shape) === JSON.stringify(r.exit.type?.shape);
  if (!r.shortcut) return { ...info, removable: true, duplicable: same };
  // An up-block ResNet reads concat(h, skip): it can be bypassed by h when h has the output's channels.
  const concat = r.input.producer?.op === 'Concat' ? r.input.producer : undefined;
  const hidden = concat?.inputs[0]?.type?.shape?.[1];
  return { ...info, removable: hidden !== undefined && hidden === r.exit.type?.shape?.[1], shortcut: true };
}

/** Data flows from the graph inputs; SHAPE_SOURCES start shape arithmetic; ConstantOfShape starts a fill. */
export function valueKinds(g: Graph): Map<Value, Kind> {
  const kinds = new Map<Value, Kind>();
  for (const v of g.inputs) kinds.set(v, Kind.Act);
  for (const v of g.weights) kinds.set(v, Kind.Weight);
  for (const n of g.nodes()) {
    let k: Kind;
    if (n.op === 'Constant') k = Kind.Weight;
    else if (SHAPE_SOURCES.has(n.op)) k = Kind.Shape;
    else if (n.op === 'ConstantOfShape') k = Kind.Fill;
    else {
      k = Kind.Weight;
      for (const v of [...n.inputs, ...n.implicitInputs]) if (v) k = Math.min(k, kinds.get(v) ?? Kind.Weight) as Kind;
    }
    for (const v of n.outputs) if (v) kinds.set(v, k);
  }
  return kinds;
}

/**
 * Glue that only feeds one block dies with it (an up block's skip Concat feeds
 * its first ResNet): it is costed as part of that block, so a what-if that
 * removes the block removes it too.
 */
function attributeGlue(
  g: Graph,
  map: BlockMap,
  index: Map<BlockMap['blocks'][number], number>,
  kinds: Map<Value, Kind>,
): Map<Node, number> {
  const owner = new Map<Node, number>();
  for (const [n, b] of map.blockOf) owner.set(n, index.get(b)!);
  const outputs = new Set(g.outputs);
  const nodes = g.nodes();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (owner.has(n)) continue;
    let only: number | undefined;
    let ok = true;
    for (const v of n.outputs) {
      if (!v || kinds.get(v) === Kind.Weight) continue;
      if (outputs.has(v)) ok = false;
      for (const u of v.uses) {
        const b = owner.get(u.node);
        if (b === undefined || (only !== undefined && b !== only)) ok = false;
        only = b;
      }
    }
    if (ok && only !== undefined) owner.set(n, only);
  }
  return owner;
}

/** Transposes whose output only feeds a transpose that undoes them: both nodes of each pair. */
function inversePairs(nodes: readonly Node[]): Set<Node> {
  const perm = (n: Node) => (n.attr('perm')?.ints ?? []).map(toNumber);
  const out = new Set<Node>();
  for (const a of nodes) {
    const v = a.outputs[0];
    if (a.op !== 'Transpose' || !v || v.uses.length !== 1 || v.uses[0].node.op !== 'Transpose') continue;
    const b = v.uses[0].node;
    const p = perm(a);
    const q = perm(b);
    if (p.length && p.length === q.length && q.every((axis, i) => p[axis] === i)) out.add(a).add(b);
  }
  return out;
}

function staticShape(v: Value): boolean {
  const s = v.type?.shape;
  return !!s && s.every((d) => typeof d === 'number');
}

export function elems(v: Value): number {
  return ((v.type?.shape ?? []) as number[]).reduce((a, b) => a * b, 1);
}

/** The batch of the first 4-D or 2-D input (dim 0), 1 when there is none. */
function batchOf(g: Graph): number {
  const s = g.inputs.find((v) => v.type?.shape && v.type.shape.length >= 2)?.type?.shape;
  return typeof s?.[0] === 'number' && s[0] > 0 ? s[0] : 1;
}

/** Bits per element; an unsized type (a string) is priced as 32. */
export function bitsOf(dtype: number): number {
  return elementBits(dtype) ?? 32;
}

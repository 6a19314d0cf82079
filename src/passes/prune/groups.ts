// Dependency groups on the ONNX graph: which channels must be pruned together.
// One walk in graph order gives every activation a layout (layout.ts): a
// source op opens a new channel space, the rule of each op (rules.ts) carries
// layouts from inputs to outputs, unites spaces where channels meet, and
// records what pruning will have to rewrite: weight axes (a source's output
// rows, a consumer's input columns, per-channel parameters) and chunkings
// (reshapes that split channels into groups or heads). What no rule
// understands is frozen, with the reason, and keeps every channel.
import type { Graph, Node, Value } from '../../ir/graph.ts';
import type { ConstTensor } from '../../ir/infer/index.ts';
import type { Layout } from './layout.ts';
import { RULES, type RuleContext } from './rules.ts';
import { Spaces, type SpaceId } from './spaces.ts';

export type WeightRole = 'source' | 'sink' | 'param';

/** One axis of one weight that pruning slices, with the channel spaces along it. */
export interface WeightAxis {
  value: Value;
  axis: number;
  segs: SpaceId[];
  roles: Set<WeightRole>;
}

/** A split of channels into `chunks` equal parts: every part must keep the same count. */
export interface Chunking {
  segs: SpaceId[];
  chunks: number;
  node: Node;
  /** What the split is for, in words (`GroupNorm with 32 groups`, `8 attention heads`). */
  what: string;
}

export interface ChannelGroups {
  spaces: Spaces;
  layouts: Map<Value, Layout>;
  /** weight → axis → what is along it. */
  weights: Map<Value, Map<number, WeightAxis>>;
  chunkings: Chunking[];
}

export function findChannelGroups(g: Graph, constants: Map<Value, ConstTensor>): ChannelGroups {
  const spaces = new Spaces();
  const layouts = new Map<Value, Layout>();
  const weights = new Map<Value, Map<number, WeightAxis>>();
  const chunkings: Chunking[] = [];
  const ties: { node: Node; a: Layout; b: Layout }[] = [];
  /** Weight uses a rule accounted for, as `nodeId:input`. */
  const accounted = new Set<string>();

  const freeze = (l: Layout | undefined, why: string) => {
    if (l) for (const s of l.segs) spaces.freeze(s, why);
  };
  const ctx: RuleContext = {
    spaces,
    constants,
    layout: (v) => (v ? layouts.get(v) : undefined),
    set: (v, l) => {
      if (v && l) layouts.set(v, l);
    },
    freeze,
    weight(node, index, axis, segs, role) {
      const v = node.inputs[index]!;
      accounted.add(`${node.id}:${index}`);
      const byAxis = weights.get(v) ?? new Map<number, WeightAxis>();
      weights.set(v, byAxis);
      const had = byAxis.get(axis);
      if (had) {
        spaces.unite(had.segs, segs);
        had.roles.add(role);
      } else {
        byAxis.set(axis, { value: v, axis, segs, roles: new Set([role]) });
      }
    },
    touch(node, index) {
      accounted.add(`${node.id}:${index}`);
    },
    chunk(segs, chunks, node, what) {
      if (chunks > 1) chunkings.push({ segs, chunks, node, what });
    },
    tie(node, a, b) {
      ties.push({ node, a, b });
    },
  };

  for (const n of g.nodes()) {
    const rule = n.domain === '' || n.domain === 'ai.onnx' ? RULES[n.op] : undefined;
    if (rule) {
      rule(n, ctx);
      continue;
    }
    // No rule: whatever flows in keeps its channels; outputs carry none.
    for (const v of n.inputs)
      freeze(
        ctx.layout(v),
        `'${n.name}' (${n.domain ? n.domain + '.' : ''}${n.op}) reads them and pruning has no rule for it`,
      );
  }
  for (const v of g.outputs) freeze(layouts.get(v), `they reach graph output '${v.name}'`);
  // A reshape sized from another tensor's shape holds only while both keep the same channels.
  const classesOf = (l: Layout) => [...new Set(spaces.resolve(l.segs).map((s) => spaces.find(s)))].sort().join();
  for (const t of ties) {
    if (classesOf(t.a) === classesOf(t.b)) continue;
    const why = `'${t.node.name}' (Reshape) takes its target shape from tensors whose channels are pruned apart from its input's`;
    freeze(t.a, why);
    freeze(t.b, why);
  }
  // A weight that is sliced must be read only where a rule planned for it.
  for (const [v, byAxis] of weights) {
    const stray = v.uses.find((u) => !accounted.has(`${u.node.id}:${u.index}`));
    if (stray)
      for (const wa of byAxis.values())
        for (const s of wa.segs) spaces.freeze(s, `weight '${v.name}' is also read by '${stray.node.name}'`);
  }
  return { spaces, layouts, weights, chunkings };
}

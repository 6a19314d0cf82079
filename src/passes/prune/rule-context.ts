// What a channel rule sees (RuleContext) and the small vocabulary rules share:
// opening a space at a source, uniting layouts, passing a layout through,
// and element-wise broadcasting with per-channel weights.
import type { Node, Value } from '../../ir/graph.ts';
import type { ConstTensor } from '../../ir/infer/index.ts';
import { weightValue } from '../../ir/infer/tensor-value.ts';
import { align, plain, sameStructure, type Layout } from './layout.ts';
import type { Spaces, SpaceId } from './spaces.ts';
import type { WeightRole } from './groups.ts';

export interface RuleContext {
  spaces: Spaces;
  constants: Map<Value, ConstTensor>;
  layout(v: Value | undefined): Layout | undefined;
  set(v: Value | undefined, l: Layout | undefined): void;
  freeze(l: Layout | undefined, why: string): void;
  /** Input `index` of `node` is a weight whose `axis` runs along `segs`. */
  weight(node: Node, index: number, axis: number, segs: SpaceId[], role: WeightRole): void;
  /** Input `index` of `node` is a weight the rule looked at and needs no slicing. */
  touch(node: Node, index: number): void;
  chunk(segs: SpaceId[], chunks: number, node: Node, what: string): void;
  /** `node` sizes a tensor with channels `a` from the shape of a tensor with channels `b`: their widths must agree. */
  tie(node: Node, a: Layout, b: Layout): void;
}

export type Rule = (n: Node, c: RuleContext) => void;

export const shapeOf = (v: Value | undefined): number[] | undefined => {
  const s = v?.type?.shape;
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
};
export const isWeight = (v: Value | undefined): v is Value => !!v?.weight;
export const intAttr = (n: Node, name: string, dflt: number) => {
  const a = n.attr(name);
  return a?.i !== undefined && a.i !== null ? Number(a.i) : dflt;
};
export const intsAttr = (n: Node, name: string): number[] | undefined => n.attr(name)?.ints?.map(Number);

export function constInts(c: RuleContext, v: Value | undefined): number[] | undefined {
  if (!v) return undefined;
  const t = c.constants.get(v) ?? (v.weight ? weightValue(v.weight) : undefined);
  return t?.data.map(Number);
}

export const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
export const why = (n: Node, what: string) => `'${n.name}' (${n.op}) ${what}`;

export function freezeInputs(n: Node, c: RuleContext, what: string): void {
  for (const v of n.inputs) c.freeze(c.layout(v), why(n, what));
}

/** Opens a new channel space for an op's output channels. */
export function source(n: Node, c: RuleContext, size: number, rank: number, axis: number): Layout {
  const s = c.spaces.create(size, n);
  const l = plain([s], size, rank, axis);
  c.set(n.outputs[0], l);
  return l;
}

/** Makes two layouts one (same channels at the same places); freezes both if their structure differs. */
export function unite(n: Node, c: RuleContext, a: Layout, b: Layout): Layout {
  if (sameStructure(a, b)) c.spaces.unite(a.segs, b.segs);
  else {
    c.freeze(a, why(n, 'combines differently arranged channels'));
    c.freeze(b, why(n, 'combines differently arranged channels'));
  }
  return a;
}

export const passThrough: Rule = (n, c) => c.set(n.outputs[0], c.layout(n.inputs[0]));

/** Numpy-broadcast element-wise ops: activations are united, per-channel weights sliced along. */
export function elementwise(inputs?: number[]): Rule {
  return (n, c) => {
    const out = n.outputs[0];
    const rank = shapeOf(out)?.length;
    const idx = inputs ?? n.inputs.map((_, i) => i);
    let acc: Layout | undefined;
    for (const i of idx) {
      const l = c.layout(n.inputs[i]);
      if (!l) continue;
      if (rank === undefined) {
        c.freeze(l, why(n, 'has an output of unknown rank'));
        continue;
      }
      acc = acc ? unite(n, c, acc, align(l, rank)) : align(l, rank);
    }
    if (!acc || rank === undefined) return;
    for (const i of idx) {
      const v = n.inputs[i];
      if (!v || c.layout(v)) continue;
      const s = shapeOf(v);
      if (!s) {
        c.freeze(acc, why(n, `combines them with '${v.name}' of unknown shape`));
        continue;
      }
      const pad = rank - s.length;
      let used = false;
      acc.axes.forEach((ax, k) => {
        const d = k >= pad ? s[k - pad] : 1;
        if (!ax.length || d === 1) return;
        if (isWeight(v) && ax.length === 1 && ax[0].k === 'all' && ax[0].size === d) {
          c.weight(n, i, k - pad, acc!.segs, 'param');
          used = true;
        } else {
          c.freeze(
            acc,
            why(n, `combines them with '${v.name}', which has ${d} entries along their axis and cannot be sliced`),
          );
        }
      });
      if (!used && isWeight(v)) c.touch(n, i);
    }
    c.set(out, acc);
  };
}

// Composite ops that runtimes recognize in exported graphs and run as one op:
// a rule table from an anchor op to a matcher returning the pattern's nodes.
// Which patterns a runtime fuses is data in its profile (fusions.patterns).
//
//   silu          x · Sigmoid(x)                                 Sigmoid, Mul
//   gelu          x · ½(1 + erf(x/√2))                           Div, Erf, Add, Mul, Mul
//   layernorm     (x - mean) / √(var + ε) · γ + β, decomposed    ReduceMean … Div [Mul, Add]
//   matmul-scale  MatMul(a, Transpose(b)) · s                    Transpose, MatMul, Mul
//   groupnorm     GroupNorm as torch.onnx writes it              Reshape, InstanceNormalization, Reshape [Mul, Add]
import type { PatternName } from '../../devices/schema.ts';
import type { Node, Value } from '../../ir/graph.ts';

export type { PatternName };

type Matcher = (anchor: Node, isConst: (v: Value | undefined) => boolean) => Node[] | undefined;

/** The single consumer of a node's output, if it has exactly one. */
const onlyUse = (n: Node): Node | undefined => {
  const uses = n.outputs[0]?.uses ?? [];
  return uses.length === 1 ? uses[0].node : undefined;
};
const other = (n: Node, v: Value | undefined) => (n.inputs[0] === v ? n.inputs[1] : n.inputs[0]);
const reads = (n: Node, v: Value | undefined) => !!v && n.inputs.includes(v);

/** A normalization's affine tail, where present: · γ, then + β (constants). */
function affine(norm: Node, isConst: (v: Value | undefined) => boolean): Node[] {
  const mul = onlyUse(norm);
  if (mul?.op !== 'Mul' || !isConst(other(mul, norm.outputs[0]))) return [];
  const bias = onlyUse(mul);
  return bias?.op === 'Add' && isConst(other(bias, mul.outputs[0])) ? [mul, bias] : [mul];
}

const RULES: { name: PatternName; anchor: string; match: Matcher }[] = [
  {
    name: 'silu',
    anchor: 'Sigmoid',
    match: (s) => {
      const x = s.inputs[0];
      const m = onlyUse(s);
      return m && m.op === 'Mul' && other(m, s.outputs[0]) === x ? [s, m] : undefined;
    },
  },
  {
    name: 'gelu',
    anchor: 'Erf',
    match: (e, isConst) => {
      const d = e.inputs[0]?.producer;
      if (!d || d.op !== 'Div' || !isConst(d.inputs[1]) || onlyUse(d) !== e) return undefined;
      const x = d.inputs[0];
      const a = onlyUse(e);
      if (!a || a.op !== 'Add' || !isConst(other(a, e.outputs[0]))) return undefined;
      const m1 = onlyUse(a);
      if (!m1 || m1.op !== 'Mul') return undefined;
      const m2 = onlyUse(m1);
      // x · (1 + erf) · ½, or ½x computed first: accept the half on either Mul.
      if (reads(m1, x) && m2?.op === 'Mul' && isConst(other(m2, m1.outputs[0]))) return [d, e, a, m1, m2];
      const half = x?.uses
        .map((u) => u.node)
        .find((n) => n.op === 'Mul' && isConst(other(n, x)) && reads(m1, n.outputs[0]));
      return half ? [d, e, a, half, m1] : undefined;
    },
  },
  {
    name: 'layernorm',
    anchor: 'ReduceMean',
    match: (r1, isConst) => {
      const x = r1.inputs[0];
      const sub = onlyUse(r1);
      if (!sub || sub.op !== 'Sub' || sub.inputs[0] !== x) return undefined;
      const subUses = sub.outputs[0]!.uses.map((u) => u.node);
      const pow = subUses.find((n) => n.op === 'Pow');
      const div = subUses.find((n) => n.op === 'Div');
      if (!pow || !div || subUses.length !== 2) return undefined;
      const r2 = onlyUse(pow);
      const add = r2 && r2.op === 'ReduceMean' ? onlyUse(r2) : undefined;
      const sqrt = add && add.op === 'Add' ? onlyUse(add) : undefined;
      if (!r2 || !add || !sqrt || sqrt.op !== 'Sqrt' || onlyUse(sqrt) !== div) return undefined;
      return [r1, sub, pow, r2, add, sqrt, div, ...affine(div, isConst)];
    },
  },
  {
    name: 'matmul-scale',
    anchor: 'MatMul',
    match: (mm, isConst) => {
      const s = onlyUse(mm);
      if (
        !s ||
        (s.op !== 'Mul' && s.op !== 'Div') ||
        !isConst(s.inputs[1]) ||
        (s.inputs[1]?.type?.shape ?? []).some((d) => d !== 1)
      )
        return undefined;
      const nodes = [mm, s];
      const t = mm.inputs[1]?.producer;
      if (t?.op === 'Transpose' && onlyUse(t) === mm) nodes.unshift(t);
      return nodes;
    },
  },
  {
    name: 'groupnorm',
    anchor: 'InstanceNormalization',
    match: (n, isConst) => {
      const before = n.inputs[0]?.producer;
      const after = onlyUse(n);
      if (!before || before.op !== 'Reshape' || onlyUse(before) !== n || !after || after.op !== 'Reshape')
        return undefined;
      return [before, n, after, ...affine(after, isConst)];
    },
  },
];

/** Every pattern instance in node order; a node belongs to at most one. */
export function findPatterns(
  nodes: readonly Node[],
  isConst: (v: Value | undefined) => boolean,
): { name: PatternName; nodes: Node[] }[] {
  const taken = new Set<Node>();
  const out: { name: PatternName; nodes: Node[] }[] = [];
  for (const n of nodes) {
    for (const rule of RULES) {
      if (rule.anchor !== n.op || taken.has(n)) continue;
      const hit = rule.match(n, isConst);
      if (!hit || hit.some((m) => taken.has(m))) continue;
      for (const m of hit) taken.add(m);
      out.push({ name: rule.name, nodes: hit });
    }
  }
  return out;
}

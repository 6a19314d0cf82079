// Contractions: MatMul (numpy semantics), Gemm, Einsum, and onnxruntime's
// 4-bit weight MatMulNBits.
import type { Dim } from '../../graph.ts';
import type { InferContext, ShapeRule } from '../context.ts';
import { broadcast, fmt } from '../dim.ts';

function contract(ctx: InferContext, a: Dim, b: Dim, what: string): void {
  if (typeof a === 'number' && typeof b === 'number' && a !== b) ctx.fail(`${what}: inner dims ${a} and ${b} differ`);
}

const matmul: ShapeRule = {
  op: 'MatMul',
  infer(_n, ctx) {
    const a0 = ctx.shape(0);
    const b0 = ctx.shape(1);
    if (!a0.length || !b0.length) ctx.fail('MatMul inputs must have rank 1 or more');
    // 1-D operands are promoted to matrices, and the added dim is removed afterwards.
    const a = a0.length === 1 ? [1, a0[0]] : a0;
    const b = b0.length === 1 ? [b0[0], 1] : b0;
    contract(ctx, a[a.length - 1], b[b.length - 2], `shapes ${fmt(a0)} × ${fmt(b0)}`);
    const batch = broadcast(ctx, [a.slice(0, -2), b.slice(0, -2)]);
    const out = [...batch];
    if (a0.length > 1) out.push(a[a.length - 2]);
    if (b0.length > 1) out.push(b[b.length - 1]);
    ctx.out(0, ctx.dtype(0), out);
  },
};

const gemm: ShapeRule = {
  op: 'Gemm',
  infer(_n, ctx) {
    const a = ctx.shape(0);
    const b = ctx.shape(1);
    if (a.length !== 2 || b.length !== 2) ctx.fail(`Gemm needs 2-D inputs, got ${fmt(a)} and ${fmt(b)}`);
    const [m, ka] = ctx.int('transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
    const [kb, n] = ctx.int('transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
    contract(ctx, ka, kb, `Gemm of ${fmt(a)} and ${fmt(b)}`);
    // C broadcasts one way, to [M, N].
    if (ctx.has(2)) {
      const c = ctx.shape(2);
      const out = broadcast(ctx, [[m, n], c]);
      if (out.length !== 2 || out[0] !== m || out[1] !== n) ctx.fail(`C ${fmt(c)} does not broadcast to [${m},${n}]`);
    }
    ctx.out(0, ctx.dtype(0), [m, n]);
  },
};

const matmulNBits: ShapeRule = {
  op: 'MatMulNBits',
  domain: 'com.microsoft',
  infer(_n, ctx) {
    const a = ctx.shape(0);
    const k = ctx.int('K', 0);
    const n = ctx.int('N', 0);
    if (!a.length) ctx.fail('MatMulNBits input A must have rank 1 or more');
    contract(ctx, a[a.length - 1], k, `A ${fmt(a)} against attribute K`);
    ctx.out(0, ctx.dtype(0), [...a.slice(0, -1), n]);
  },
};

/** One operand's labels; '.' stands for the ellipsis. */
function labelsOf(term: string): string[] {
  return term.replace('...', '.').split('');
}

const einsum: ShapeRule = {
  op: 'Einsum',
  infer(n, ctx) {
    const eq = ctx.string('equation', '').replace(/\s+/g, '');
    const [lhs, rhs] = eq.split('->');
    const terms = lhs.split(',').map(labelsOf);
    if (terms.length !== n.inputs.length)
      ctx.fail(`equation '${eq}' names ${terms.length} operands, node has ${n.inputs.length}`);
    const dims = new Map<string, Dim>();
    const ellipses: Dim[][] = [];
    terms.forEach((labels, i) => {
      const shape = ctx.shape(i);
      const ell = labels.includes('.') ? shape.length - (labels.length - 1) : 0;
      if (ell < 0 || (!labels.includes('.') && labels.length !== shape.length))
        ctx.fail(`operand ${i} ${fmt(shape)} does not match '${terms[i].join('')}'`);
      let at = 0;
      for (const l of labels) {
        if (l === '.') {
          ellipses.push(shape.slice(at, at + ell));
          at += ell;
          continue;
        }
        const d = shape[at++];
        const prev = dims.get(l);
        if (prev === undefined || prev === 1) dims.set(l, d);
        else if (typeof prev === 'number' && typeof d === 'number' && d !== 1 && d !== prev)
          ctx.fail(`label '${l}' is ${prev} in one operand and ${d} in another`);
      }
    });
    const ell = broadcast(ctx, ellipses);
    let outLabels: string[];
    if (rhs !== undefined) outLabels = labelsOf(rhs);
    else {
      // Implicit output: the ellipsis, then every label used once, alphabetically.
      const counts = new Map<string, number>();
      for (const l of terms.flat()) if (l !== '.') counts.set(l, (counts.get(l) ?? 0) + 1);
      outLabels = [
        ...(ellipses.length ? ['.'] : []),
        ...[...counts]
          .filter(([, c]) => c === 1)
          .map(([l]) => l)
          .sort(),
      ];
    }
    const out: Dim[] = [];
    for (const l of outLabels) {
      if (l === '.') out.push(...ell);
      else out.push(dims.get(l) ?? ctx.fail(`output label '${l}' appears in no operand`));
    }
    ctx.out(0, ctx.dtype(0), out);
  },
};

export const matmulRules: ShapeRule[] = [matmul, gemm, einsum, matmulNBits];

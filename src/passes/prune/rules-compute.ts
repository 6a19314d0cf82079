// Channel rules for the ops that compute: each opens a space for its output
// channels (a source) and consumes its input's channels along a weight axis
// (a sink). Two-activation MatMuls (attention) unite or pass channels instead.
import { plain, plainAxis, type Comp } from './layout.ts';
import { freezeInputs, intAttr, isWeight, norm, shapeOf, source, why, type Rule } from './rule-context.ts';

export const conv: Rule = (n, c) => {
  const [x, w, b] = n.inputs;
  const ws = shapeOf(w);
  const ys = shapeOf(n.outputs[0]);
  const lx = c.layout(x);
  if (!isWeight(w) || !ws || !ys) return c.freeze(lx, why(n, 'has a weight that is not a plain initializer'));
  if (intAttr(n, 'group', 1) !== 1) {
    c.freeze(lx, why(n, 'is a grouped convolution'));
    c.set(n.outputs[0], plain([c.spaces.create(ws[0], n, why(n, 'is a grouped convolution'))], ws[0], ys.length, 1));
    return;
  }
  if (lx) {
    if (plainAxis(lx) === 1) c.weight(n, 1, 1, lx.segs, 'sink');
    else c.freeze(lx, why(n, 'reads them split across axes'));
  }
  const l = source(n, c, ws[0], ys.length, 1);
  c.weight(n, 1, 0, l.segs, 'source');
  if (isWeight(b)) c.weight(n, 2, 0, l.segs, 'param');
  else if (b) c.freeze(l, why(n, 'has a bias that is not an initializer'));
};

export const convTranspose: Rule = (n, c) => {
  const [x, w, b] = n.inputs;
  const ws = shapeOf(w);
  const ys = shapeOf(n.outputs[0]);
  const lx = c.layout(x);
  if (!isWeight(w) || !ws || !ys || intAttr(n, 'group', 1) !== 1)
    return c.freeze(lx, why(n, 'is grouped or has a weight that is not an initializer'));
  if (lx) {
    if (plainAxis(lx) === 1) c.weight(n, 1, 0, lx.segs, 'sink');
    else c.freeze(lx, why(n, 'reads them split across axes'));
  }
  const l = source(n, c, ws[1], ys.length, 1);
  c.weight(n, 1, 1, l.segs, 'source');
  if (isWeight(b)) c.weight(n, 2, 0, l.segs, 'param');
};

export const matmul: Rule = (n, c) => {
  const [a, b] = n.inputs;
  const out = n.outputs[0];
  const os = shapeOf(out);
  const la = c.layout(a);
  const lb = c.layout(b);
  if (!os) return freezeInputs(n, c, 'has an output of unknown shape');
  if (isWeight(b) && b.weight!.dims.length === 2) {
    const ra = la?.axes.length ?? 0;
    if (la) {
      if (plainAxis(la) === ra - 1) c.weight(n, 1, 0, la.segs, 'sink');
      else c.freeze(la, why(n, 'does not contract over them'));
    }
    const l = source(n, c, b.weight!.dims[1], os.length, os.length - 1);
    c.weight(n, 1, 1, l.segs, 'source');
    return;
  }
  // Two activations (attention's QKᵀ and P·V).
  const r = os.length;
  if (isWeight(a) || (la && la.axes.length !== r) || (lb && lb.axes.length !== r))
    return freezeInputs(n, c, 'multiplies them in a way pruning does not follow');
  const contractA = !!la?.axes[r - 1].length;
  const contractB = !!lb?.axes[r - 2].length;
  if (contractA !== contractB) return freezeInputs(n, c, 'contracts them against channels it cannot slice');
  if (contractA && la && lb) {
    // QKᵀ: query and key channels meet; nothing channel-indexed remains.
    const okRows = !la.axes[r - 2].length && !lb.axes[r - 1].length;
    if (
      !okRows ||
      !la.axes.every((ax, k) => k >= r - 2 || sameComps(ax, lb.axes[k])) ||
      !sameComps(la.axes[r - 1], lb.axes[r - 2])
    ) {
      return freezeInputs(n, c, 'contracts channels arranged differently');
    }
    c.spaces.unite(la.segs, lb.segs);
    return;
  }
  // P·V: the channels of whichever operand has them pass through.
  const rowsA = !!la?.axes[r - 2].length;
  const colsB = !!lb?.axes[r - 1].length;
  if (rowsA && colsB) return freezeInputs(n, c, 'mixes channels of both operands');
  const keep = rowsA ? la : colsB ? lb : undefined;
  const other = keep === la ? lb : la;
  if (!keep) return freezeInputs(n, c, 'carries only part of a channel split');
  if (other) c.freeze(other, why(n, 'carries only part of a channel split'));
  c.set(out, keep);
};

const sameComps = (a: Comp[], b: Comp[]) =>
  a.length === b.length && a.every((x, i) => x.k === b[i].k && x.size === b[i].size);

export const gemm: Rule = (n, c) => {
  const [a, b, bias] = n.inputs;
  const la = c.layout(a);
  const ws = shapeOf(b);
  if (!isWeight(b) || !ws || intAttr(n, 'transA', 0))
    return c.freeze(la, why(n, 'has a weight that is not a plain initializer'));
  const transB = intAttr(n, 'transB', 0);
  if (la) {
    if (plainAxis(la) === 1) c.weight(n, 1, transB ? 1 : 0, la.segs, 'sink');
    else c.freeze(la, why(n, 'reads them split across axes'));
  }
  const l = source(n, c, transB ? ws[0] : ws[1], 2, 1);
  c.weight(n, 1, transB ? 0 : 1, l.segs, 'source');
  const bs = shapeOf(bias);
  if (bias && bs) {
    const last = bs[bs.length - 1];
    if (isWeight(bias) && bs.length && last === l.axes[1][0].size) c.weight(n, 2, bs.length - 1, l.segs, 'param');
    else if (isWeight(bias) && (!bs.length || last === 1)) c.touch(n, 2);
    else c.freeze(l, why(n, 'adds a bias pruning cannot slice'));
  }
};

/** Embedding lookup (Gather from a weight table): a source over the table's columns. */
export const gather: Rule = (n, c) => {
  const [data, indices] = n.inputs;
  const out = n.outputs[0];
  const os = shapeOf(out);
  const axis = intAttr(n, 'axis', 0);
  if (isWeight(data) && data.weight!.dims.length === 2 && norm(axis, 2) === 0 && os) {
    const l = source(n, c, data.weight!.dims[1], os.length, os.length - 1);
    c.weight(n, 0, 1, l.segs, 'source');
    return;
  }
  const l = c.layout(data);
  if (!l) return;
  c.freeze(c.layout(indices), why(n, 'uses them as indices'));
  const a = norm(axis, l.axes.length);
  const ir = shapeOf(indices)?.length;
  if (l.axes[a].length || ir === undefined) return c.freeze(l, why(n, 'gathers along their axis'));
  c.set(out, {
    segs: l.segs,
    axes: [...l.axes.slice(0, a), ...Array.from({ length: ir }, () => []), ...l.axes.slice(a + 1)],
  });
};

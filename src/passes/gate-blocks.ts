// gate-blocks: SnapFusion's actions as an input, so one graph (one
// onnxruntime session) scores them all. A new input `block_gates:
// float32[K]` holds one gate per action:
//
//   remove gate r, block B (exit y, bypass b):
//     x ─ B ─ y ─ (users)   ->   x ─ B ─ y ─┬─ Sub(y, b) ─ Mul(r) ─ Add(b) ─ (users)
//                                           b ──────────────────────┘
//     r = 1: B as it is; r = 0: exactly b, what remove-blocks leaves (the
//     block's input, an up-block ResNet's hidden half of its concat, or with
//     keep_shortcut its 1×1 shortcut projection)
//
//   copy gate d, block B:
//     x ─ B ─ y ─ (users)   ->   x ─ B ─ y ─ B' ─ y' ─ Sub(y', y) ─ Mul(d) ─ Add(y) ─ (users)
//     d = 0: no copy; d = 1: exactly duplicate-blocks' B' after B
//
// Copies are made first and their gates read the original's gated output, so
// a block removed with its copy kept computes B'(b) = B(b): one B, which is
// how evolve treats that state. Gate arithmetic runs outside every block
// (empty scope), so the block map and the cost model see the blocks as before.
import { Code } from '../codes.ts';
import { findBlocks } from '../blocks/find.ts';
import type { Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { bytesWeight } from '../ir/weight-io.ts';
import type { Pass } from './pass.ts';
import { duplicateBlock } from './duplicate-blocks.ts';
import { bypassOf, bypassValue } from './remove-blocks.ts';
import { findResidual } from '../blocks/residual.ts';

export const GATES_INPUT = 'block_gates';

export interface Gate {
  /** Position in `block_gates`. */
  index: number;
  action: 'remove' | 'copy';
  block: string;
  /** remove: the block is a channel-changing ResNet, removed down to its 1×1 shortcut. */
  keepShortcut?: boolean;
}

export interface GateRequest {
  /** Blocks that get a remove gate, in gate order. */
  remove: { block: string; keepShortcut?: boolean }[];
  /** Blocks that get a copy and its gate, after the remove gates. */
  copy: string[];
}

/** The pass, and the gates it made once it has run (in `block_gates` order). */
export function gateBlocks(req: GateRequest): { pass: Pass; gates: Gate[] } {
  const gates: Gate[] = [];
  const pass: Pass = {
    name: 'gate-blocks',
    run(g, log) {
      gates.length = 0;
      const count = req.remove.length + req.copy.length;
      if (g.inputs.some((v) => v.name === GATES_INPUT)) {
        log.error(Code.BlockShape, `the model already has an input '${GATES_INPUT}': it is gated once`);
        return undefined;
      }
      const input = g.addInput(GATES_INPUT, { dtype: DataType.FLOAT, shape: [count] });
      const origin = (from: number[]) => ({ kind: 'pass' as const, pass: 'gate-blocks', from });
      const gate = (i: number, block: string, from: number[]): Value => {
        const idx = g.addWeight(
          g.uniqueName(`${GATES_INPUT}_${i}`),
          bytesWeight(DataType.INT64, [], new Uint8Array(BigInt64Array.of(BigInt(i)).buffer)),
        );
        const n = g.add('Gather', [input, idx], {
          name: `/gates/${i}/${block}/Gather`,
          scope: '',
          origin: origin(from),
        });
        n.output().type = { dtype: DataType.FLOAT, shape: [] };
        return n.output();
      };
      /** out = base + k·(other − base), every user of `old` but the new Sub and Add reading `out`. */
      const blend = (i: number, block: string, old: Value, base: Value, other: Value, from: number[]): void => {
        const k = gate(i, block, from);
        const type = () => old.type && { dtype: old.type.dtype, shape: old.type.shape && [...old.type.shape] };
        const node = (op: string, ins: Value[]) => {
          const n = g.add(op, ins, { name: `/gates/${i}/${block}/${op}`, scope: '', origin: origin(from) });
          n.output().type = type();
          return n;
        };
        const sub = node('Sub', [other, base]);
        const mul = node('Mul', [sub.output(), k]);
        const add = node('Add', [base, mul.output()]);
        g.replaceAllUses(old, add.output(), (user) => user === sub || user === add);
      };

      // Copies first (each one re-reads the block map duplicate-blocks changed),
      // so a remove gate then gates the original under its copy too.
      req.copy.forEach((name, j) => {
        const block = findBlocks(g).blocks.find((b) => b.name === name);
        if (!block) return void log.error(Code.UnknownBlock, `no block '${name}' to copy`);
        const r = findResidual(block);
        const before = log.errors().length;
        const copied = duplicateBlock(g, block, 1, undefined, { selector: name }, log, { shareWeights: true });
        if (!copied || 'reason' in r || log.errors().length > before) return;
        blend(req.remove.length + j, name, copied, r.exit, copied, [r.add.id]);
        gates.push({ index: req.remove.length + j, action: 'copy', block: name });
      });
      // Every removal's residual is read from one block map before any rewiring:
      // a gate's own nodes sit outside every block and would blur the next one's edges.
      const blocks = new Map(findBlocks(g).blocks.map((b) => [b.name, b]));
      const removals: {
        i: number;
        spec: (typeof req.remove)[number];
        target: Value;
        value: Value;
        from: number[];
        at: number;
      }[] = [];
      const order = new Map(g.nodes().map((n, k) => [n, k]));
      req.remove.forEach((spec, i) => {
        const block = blocks.get(spec.block);
        if (!block) return void log.error(Code.UnknownBlock, `no block '${spec.block}' to gate`);
        const found = bypassOf(block, !!spec.keepShortcut);
        if ('code' in found) return void log.error(found.code, found.message, { node: block.name });
        const { target, value } = bypassValue(g, found.residual, found.bypass, 'gate-blocks');
        removals.push({
          i,
          spec,
          target,
          value,
          from: [found.residual.add.id],
          at: order.get(found.residual.add) ?? 0,
        });
      });
      if (log.hasErrors) return undefined;
      // Last block first: a gate placed later then re-points the earlier gates'
      // reads of its block's exit (bypass values included) at its gated value.
      for (const r of removals.sort((a, b) => b.at - a.at)) {
        blend(r.i, r.spec.block, r.target, r.value, r.target, r.from);
        gates.push({
          index: r.i,
          action: 'remove',
          block: r.spec.block,
          ...(r.spec.keepShortcut ? { keepShortcut: true } : {}),
        });
      }
      if (log.hasErrors) return undefined;
      gates.sort((a, b) => a.index - b.index);
      return { stats: { gates: count, remove_gates: req.remove.length, copy_gates: req.copy.length } };
    },
  };
  return { pass, gates };
}

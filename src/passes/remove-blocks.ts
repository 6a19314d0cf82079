// remove-blocks: SnapFusion's "−" action. Each removal is a rewire at the
// block's residual Add; cleanup then deletes the block's dead interior.
//
//   cross-attention, equal-width ResNet:   out = x + f(x)            -> out = x
//   up-block ResNet, input concat(h, skip): out = sc(cat(h,s)) + f(…) -> out = h  (skip dropped)
//   channel-changing ResNet, keep_shortcut: out = sc(x) + f(x)         -> out = sc(x)
//
// Any output scaling after the Add (`/ output_scale_factor`) stays in place.
// Skip connections need no special care: up blocks read whatever value the
// removed block's exit was, and after the rewire that is its entry.
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import { findBlocks, type Block } from '../blocks/find.ts';
import type { Graph, Value } from '../ir/graph.ts';
import type { Pass } from './pass.ts';
import { channels, findResidual, scalarValue, type Residual } from '../blocks/residual.ts';
import { DataType } from '../onnx/dtype.ts';
import { selectBlocks } from '../blocks/select.ts';

export interface RemoveSpec {
  selector: string;
  keepShortcut?: boolean;
  at?: Location;
}

export function removeBlocks(specs: RemoveSpec[]): Pass {
  return {
    name: 'remove-blocks',
    run(g, log) {
      const { blocks } = findBlocks(g);
      const chosen = new Map<Block, RemoveSpec>();
      for (const spec of specs) {
        for (const b of selectBlocks(spec.selector, blocks, log, spec.at) ?? [])
          if (!chosen.has(b)) chosen.set(b, spec);
      }
      if (log.hasErrors) return undefined;
      let removed = 0;
      const failed = new Set<RemoveSpec>();
      for (const [block, spec] of chosen) {
        // One selector, one mistake: after its first refusal, its other matches are not tried.
        if (failed.has(spec)) continue;
        // Each removal rewires the blocks around it: look the block up afresh.
        const current = findBlocks(g).blocks.find((b) => b.name === block.name);
        if (!current) continue;
        if (removeBlock(g, current, spec, log)) removed++;
        else failed.add(spec);
      }
      return { stats: { blocks_removed: removed, blocks: [...chosen.keys()].map((b) => b.name).join(', ') } };
    },
  };
}

function removeBlock(g: Graph, block: Block, spec: RemoveSpec, log: DiagnosticLog): boolean {
  const at = spec.at ?? { node: block.name };
  const found = bypassOf(block, !!spec.keepShortcut);
  if ('code' in found) {
    log.error(found.code, found.message, at);
    return false;
  }
  const { target, value } = bypassValue(g, found.residual, found.bypass, 'remove-blocks');
  g.replaceAllUses(target, value);
  return true;
}

/**
 * What removing a block leaves in its place: its residual structure and the
 * value its exit becomes (its input, an up-block ResNet's hidden half of the
 * concat, or with keep_shortcut its 1×1 shortcut projection), or why it cannot
 * be removed.
 */
export function bypassOf(
  block: Block,
  keepShortcut: boolean,
): { residual: Residual; bypass: Value } | { code: string; message: string } {
  if (block.kind !== 'resnet' && block.kind !== 'cross_attention' && block.kind !== 'attention') {
    return {
      code: Code.NoResidual,
      message: `'${block.name}' is a ${block.kind} block; only ResNet and attention blocks can be removed`,
    };
  }
  const r = findResidual(block);
  if ('reason' in r) return { code: Code.NoResidual, message: `cannot remove '${block.name}': ${r.reason}` };
  if (!r.shortcut) return { residual: r, bypass: r.input };
  const concat = r.input.producer?.op === 'Concat' ? r.input.producer : undefined;
  const hidden = concat?.inputs[0];
  const out = channels(r.exit);
  if (keepShortcut) return { residual: r, bypass: r.residual };
  if (concat && hidden && channels(hidden) !== undefined && channels(hidden) === out)
    return { residual: r, bypass: hidden };
  const from = channels(r.input);
  const why = concat
    ? `its hidden input has ${channels(hidden) ?? '?'} channels, not the ${out} it outputs`
    : `it changes channels ${from ?? '?'} → ${out ?? '?'} (it has a conv_shortcut)`;
  return {
    code: Code.ChannelChange,
    message: `cannot remove '${block.name}' as an identity: ${why}; set keep_shortcut: true to keep only its 1×1 shortcut projection`,
  };
}

/**
 * Which value a removal rewires and what replaces it. The output scaling after
 * the residual Add goes too when it is the identity (SD's factors are 1);
 * otherwise a copy of it, outside the block, keeps the arithmetic exact.
 */
export function bypassValue(g: Graph, r: Residual, bypass: Value, pass: string): { target: Value; value: Value } {
  if (!r.scale) return { target: r.exit, value: bypass };
  const k = scalarValue(r.scale.inputs[1]);
  if (k === 1) return { target: r.exit, value: bypass };
  if (k === undefined) return { target: r.add.output(), value: bypass };
  const bytes = new Uint8Array(Float32Array.of(k).buffer);
  const factor = g.addWeight(g.uniqueName(`${r.scale.name}_factor`), {
    dtype: DataType.FLOAT,
    dims: [],
    data: { kind: 'raw', bytes },
  });
  const scaled = g.add(r.scale.op, [bypass, factor], { scope: '', origin: { kind: 'pass', pass, from: [r.scale.id] } });
  scaled.output().type = r.exit.type && { ...r.exit.type };
  return { target: r.exit, value: scaled.output() };
}

// duplicate-blocks: SnapFusion's "+" action. A copy of a residual block is
// stacked right after it:
//
//   x ─ B ─ y ─ (users)        ->        x ─ B ─ y ─ B' ─ y' ─ (users)
//
// B' has its own nodes and weights (same bytes, new names, under the block
// path `<block>+k`), reads y where B read x, and shares B's other inputs
// (time embedding, encoder_hidden_states). Every copied node records the
// node it was copied from.
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import { findBlocks, type Block } from '../blocks/find.ts';
import type { Graph, Node, Value } from '../ir/graph.ts';
import type { Pass } from './pass.ts';
import { findResidual } from '../blocks/residual.ts';
import { selectBlocks } from '../blocks/select.ts';

export interface DuplicateSpec {
  selector: string;
  at?: Location;
}

export function duplicateBlocks(specs: DuplicateSpec[]): Pass {
  return {
    name: 'duplicate-blocks',
    run(g, log) {
      const { blocks } = findBlocks(g);
      const chosen: { block: Block; spec: DuplicateSpec }[] = [];
      for (const spec of specs) {
        for (const block of selectBlocks(spec.selector, blocks, log, spec.at) ?? []) chosen.push({ block, spec });
      }
      if (log.hasErrors) return undefined;
      // A block duplicated twice gets `+1` then `+2`, each reading the previous copy's output.
      const tails = new Map<string, { k: number; value: Value }>();
      const names: string[] = [];
      for (const { block, spec } of chosen) {
        const prev = tails.get(block.name);
        const k = (prev?.k ?? 0) + 1;
        // Each copy rewires its neighbours' inputs: look the block up afresh.
        const current = findBlocks(g).blocks.find((b) => b.name === block.name)!;
        const value = duplicateBlock(g, current, k, prev?.value, spec, log);
        if (!value) continue;
        tails.set(block.name, { k, value });
        names.push(`${block.name}+${k}`);
      }
      return { stats: { blocks_added: names.length, blocks: names.join(', ') } };
    },
  };
}

/**
 * Stacks copy k of a block after `after` (the block's exit, or the previous
 * copy's output); returns the copy's output, which now feeds the original's
 * downstream users. With `shareWeights` the copy reads the original's weights
 * (gate-blocks: a scoring graph need not hold every copied block's bytes twice).
 */
export function duplicateBlock(
  g: Graph,
  block: Block,
  k: number,
  after: Value | undefined,
  spec: DuplicateSpec,
  log: DiagnosticLog,
  opts: { shareWeights?: boolean } = {},
): Value | undefined {
  const at = spec.at ?? { node: block.name };
  const r = findResidual(block);
  if ('reason' in r) {
    log.error(Code.NoResidual, `cannot duplicate '${block.name}': ${r.reason}`, at);
    return undefined;
  }
  if (r.shortcut || JSON.stringify(r.input.type?.shape) !== JSON.stringify(r.exit.type?.shape)) {
    log.error(
      Code.BlockShape,
      `cannot duplicate '${block.name}': its output shape differs from its input's, so a copy cannot follow it`,
      at,
    );
    return undefined;
  }
  const tail = after ?? r.exit;
  const newName = `${block.name}+${k}`;
  const remap = new Map<Value, Value>([[r.input, tail]]);
  const weightCopy = (w: Value): Value => {
    if (opts.shareWeights) return w;
    const name = w.name.startsWith(block.name + '.') ? newName + w.name.slice(block.name.length) : `${w.name}+${k}`;
    return g.addWeight(g.uniqueName(name), { ...w.weight!, proto: undefined });
  };
  const copied: Node[] = [];
  const firstUser = tail.uses[0]?.node;
  for (const n of block.nodes) {
    const inputs = n.inputs.map((v) =>
      v ? (remap.get(v) ?? (v.weight && ownedBy(v, block) ? remap.set(v, weightCopy(v)).get(v)! : v)) : undefined,
    );
    const scope = newName + n.scope.slice(block.name.length);
    const c = g.add(n.op, inputs, {
      name: renamePath(n.name, block.name, newName),
      domain: n.domain,
      attrs: [...n.attrs],
      scope,
      origin: { kind: 'pass', pass: 'duplicate-blocks', from: [n.id] },
      outputs: n.outputs.map((v) => (v ? renamePath(v.name, block.name, newName) : '')),
      before: firstUser,
    });
    n.outputs.forEach((v, i) => {
      const cv = c.outputs[i];
      if (v && cv) {
        cv.type = v.type ? { dtype: v.type.dtype, shape: v.type.shape ? [...v.type.shape] : undefined } : undefined;
        remap.set(v, cv);
      }
    });
    copied.push(c);
  }
  const out = remap.get(r.exit)!;
  const mine = new Set(copied);
  g.replaceAllUses(tail, out, (user) => mine.has(user));
  return out;
}

function ownedBy(w: Value, block: Block): boolean {
  return block.weights.includes(w);
}

/** `/up_blocks.1/attentions.0/proj_in/Conv` -> `/up_blocks.1/attentions.0+1/proj_in/Conv`. */
function renamePath(name: string, blockPath: string, newPath: string): string {
  const slashed = '/' + blockPath.replaceAll('.', '/').replace(/\/(\d+)(?=\/|$)/g, '.$1');
  const newSlashed = '/' + newPath.replaceAll('.', '/').replace(/\/(\d+(?:\+\d+)?)(?=\/|$)/g, '.$1');
  if (name.startsWith(slashed + '/')) return newSlashed + name.slice(slashed.length);
  if (name.startsWith(blockPath)) return newPath + name.slice(blockPath.length);
  return `${name}+dup`;
}

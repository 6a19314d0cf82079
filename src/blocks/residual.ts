// The residual structure shared by every removable block. diffusers' ResNet,
// Transformer2DModel and VAE attention all end in
//     out = (residual + main) [/ scale]
// where residual is the block's input, or conv_shortcut(input) when the block
// changes channels. Finding that Add is what lets a pass bypass a block
// ("uses of its exit become uses of its entry") or stack a copy after it.
import type { Block } from './find.ts';
import type { Node, Value } from '../ir/graph.ts';
import { protoValue, weightValue } from '../ir/infer/tensor-value.ts';

export interface Residual {
  /** The block's main output (the one rank >= 3 exit). */
  exit: Value;
  /** The Add joining the residual and the main path. */
  add: Node;
  /** The Add input on the residual side. */
  residual: Value;
  /** The block input the residual path starts from. */
  input: Value;
  /** Present when the residual goes through a 1x1 projection (channels change). */
  shortcut?: Node;
  /** The output scaling after the Add (`/ output_scale_factor`), when there is one. */
  scale?: Node;
}

const rank = (v: Value) => v.type?.shape?.length ?? 0;

/** Undefined, with a reason, when the block has no recognisable residual connection. */
export function findResidual(block: Block): Residual | { reason: string } {
  const exits = block.exit.filter((v) => rank(v) >= 3);
  if (exits.length !== 1) {
    return {
      reason: `it has ${exits.length} main outputs (${exits.map((v) => v.name).join(', ') || 'none'}), expected one`,
    };
  }
  const exit = exits[0];
  const inside = new Set(block.nodes);
  let add = exit.producer;
  let scale: Node | undefined;
  // Step over the output scaling (`/ output_scale_factor`, `/ rescale_output_factor`).
  if (add && (add.op === 'Div' || add.op === 'Mul') && add.inputs[1] && !isActivationOf(add.inputs[1], inside)) {
    scale = add;
    add = add.inputs[0]?.producer;
  }
  if (!add || add.op !== 'Add' || !inside.has(add))
    return { reason: `its output '${exit.name}' is not a residual sum` };
  const entries = new Set(block.entry);
  for (const [i, v] of add.inputs.entries()) {
    if (!v) continue;
    if (entries.has(v)) return { exit, add, residual: v, input: v, scale };
    const p = v.producer;
    if (
      p &&
      p.op === 'Conv' &&
      inside.has(p) &&
      p.scope.endsWith('conv_shortcut') &&
      p.inputs[0] &&
      entries.has(p.inputs[0])
    ) {
      return { exit, add, residual: v, input: p.inputs[0], shortcut: p, scale };
    }
    void i;
  }
  return { reason: `neither input of '${add.name}' is the block's input or its conv_shortcut` };
}

function isActivationOf(v: Value, inside: Set<Node>): boolean {
  const p = v.producer;
  return !!p && inside.has(p) && p.op !== 'Constant';
}

export const channels = (v: Value | undefined): number | undefined => {
  const d = v?.type?.shape?.[1];
  return typeof d === 'number' ? d : undefined;
};

/** The value of a scalar constant (initializer or Constant node), if it can be read. */
export function scalarValue(v: Value | undefined): number | undefined {
  if (!v) return undefined;
  const t = v.weight
    ? weightValue(v.weight)
    : v.producer?.op === 'Constant'
      ? constantNodeValue(v.producer)
      : undefined;
  return t && t.data.length === 1 ? t.data[0] : undefined;
}

function constantNodeValue(n: Node) {
  const t = n.attr('value')?.t;
  return t ? protoValue(t as never) : undefined;
}

// What evolve searches over: every cross-attention and ResNet block of the
// recipe's UNet (its own removals and duplications applied), each a slot with
// a count of instances. The recipe's UNet sets the start (1 per block, 2 where
// the recipe duplicates it); an architecture is a count per slot, and the
// gated UNet (passes/gate-blocks.ts) runs any architecture as a gate vector:
//
//   count 0     every instance's remove gate at 0 (the block is bypassed)
//   count r     the recipe's instances, gates at rest
//   count r−1…  the last instances (`X+1`, …) gated off first
//   count r+1   the copy gate at 1 (r = 1 and the block keeps its shape)
//
// A removed block whose copy is kept computes one block, so count 1 has one
// gate vector only.
import { findBlocks } from '../blocks/find.ts';
import type { Graph } from '../ir/graph.ts';
import type { GateRequest } from '../passes/gate-blocks.ts';
import { bypassOf } from '../passes/remove-blocks.ts';
import { findResidual } from '../blocks/residual.ts';

const KINDS = new Set(['resnet', 'cross_attention']);

export interface Slot {
  /** The block's name in the source model (`up_blocks.1.attentions.0`). */
  block: string;
  kind: string;
  /** Instances in the recipe's UNet: 1, or 1 + the recipe's copies. */
  start: number;
  /** Graph names of the instances: `X`, `X+1`, … */
  instances: string[];
  /** Removal keeps the 1×1 shortcut projection (a channel-changing ResNet). */
  keepShortcut: boolean;
  /** Whether a copy can follow it (its output has its input's shape). */
  copyable: boolean;
}

/** Counts per slot, in slot order. */
export type Arch = number[];

export interface SlotMap {
  slots: Slot[];
  /** The gates the scoring UNet gets. */
  gates: GateRequest;
  /** Gate index of each instance's remove gate, and of each slot's copy gate. */
  removeGate: Map<string, number>;
  copyGate: Map<number, number>;
}

const baseName = (name: string) => name.replace(/(\+\d+)+$/, '');

/** Slots of a UNet graph with the recipe's edits applied; blocks that cannot be removed are not slots. */
export function slotsOf(g: Graph): SlotMap {
  const slots: Slot[] = [];
  const byBase = new Map<string, Slot>();
  const req: GateRequest = { remove: [], copy: [] };
  for (const b of findBlocks(g).blocks) {
    if (!KINDS.has(b.kind)) continue;
    const plain = !('code' in bypassOf(b, false));
    const shortcut = !plain && !('code' in bypassOf(b, true));
    if (!plain && !shortcut) continue;
    const base = baseName(b.name);
    let slot = byBase.get(base);
    if (!slot) {
      const r = findResidual(b);
      const copyable =
        !('reason' in r) && !r.shortcut && JSON.stringify(r.input.type?.shape) === JSON.stringify(r.exit.type?.shape);
      slot = { block: base, kind: b.kind, start: 0, instances: [], keepShortcut: shortcut, copyable };
      byBase.set(base, slot);
      slots.push(slot);
    }
    slot.start += 1;
    slot.instances.push(b.name);
    req.remove.push({ block: b.name, ...(shortcut ? { keepShortcut: true } : {}) });
  }
  const removeGate = new Map(req.remove.map((r, i) => [r.block, i]));
  const copyGate = new Map<number, number>();
  slots.forEach((s, i) => {
    if (s.start === 1 && s.copyable) {
      copyGate.set(i, req.remove.length + req.copy.length);
      req.copy.push(s.block);
    }
  });
  return { slots, gates: req, removeGate, copyGate };
}

/** The recipe's own architecture. */
export const startArch = (m: SlotMap): Arch => m.slots.map((s) => s.start);

/** The most instances a slot can have in the gated UNet. */
export const maxCount = (m: SlotMap, i: number): number => m.slots[i].start + (m.copyGate.has(i) ? 1 : 0);

/** The `block_gates` vector that runs an architecture. */
export function gateVector(m: SlotMap, arch: Arch): Float32Array {
  const v = new Float32Array(m.gates.remove.length + m.gates.copy.length);
  m.slots.forEach((s, i) => {
    const c = arch[i];
    s.instances.forEach((name, k) => (v[m.removeGate.get(name)!] = k < c ? 1 : 0));
    const copy = m.copyGate.get(i);
    if (copy !== undefined) v[copy] = c > s.start ? 1 : 0;
  });
  return v;
}

export type ActionKind = 'remove' | 'add';

export interface Action {
  kind: ActionKind;
  slot: number;
}

/** Removals (A⁻) or additions (A⁺) open from an architecture. */
export function actions(m: SlotMap, arch: Arch, kind: ActionKind): Action[] {
  const out: Action[] = [];
  m.slots.forEach((_, i) => {
    if (kind === 'remove' ? arch[i] > 0 : arch[i] < maxCount(m, i)) out.push({ kind, slot: i });
  });
  return out;
}

export function applyAction(arch: Arch, a: Action): Arch {
  const next = [...arch];
  next[a.slot] += a.kind === 'remove' ? -1 : 1;
  return next;
}

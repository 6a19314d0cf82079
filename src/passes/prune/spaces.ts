// Channel spaces: the index sets that pruning chooses from. Every source (a
// Conv's or MatMul's output channels) opens a space; ops that tie channels
// together (a residual Add, SiLU's Mul, the two operands of QKᵀ) unite spaces
// into one class, which is pruned as one. A Slice or Split that takes part of
// a space (GEGLU's halves) cuts the whole class at that offset, so every space
// stays either wholly inside or wholly outside what an op reads.
//
//   conv1 ─ [s1] ─ Add ─ [s1 ∪ s2] ─ …        proj ─ [s3] ─ Slice[0:C/2] ─ [s3a]
//   temb  ─ [s2] ─┘                                     └─ Slice[C/2:C] ─ [s3b]   s3 = s3a | s3b

import type { Node } from '../../ir/graph.ts';

export type SpaceId = number;

interface Space {
  size: number;
  /** The op whose output channels this space indexes (undefined for fixed spans). */
  source?: Node;
  /** Set when the space was cut: its parts, in order. */
  parts?: SpaceId[];
  /** Why this space must keep every channel (first reason wins). */
  frozen?: string;
}

export class Spaces {
  private spaces: Space[] = [];
  private parent: number[] = [];
  private members = new Map<number, SpaceId[]>();

  create(size: number, source?: Node, frozen?: string): SpaceId {
    const id = this.spaces.length;
    this.spaces.push({ size, source, frozen });
    this.parent.push(id);
    this.members.set(id, [id]);
    return id;
  }

  size(s: SpaceId): number {
    return this.spaces[s].size;
  }

  source(s: SpaceId): Node | undefined {
    return this.spaces[s].source;
  }

  /** The class representative. */
  find(s: SpaceId): SpaceId {
    let r = s;
    while (this.parent[r] !== r) r = this.parent[r];
    while (this.parent[s] !== r) {
      const next = this.parent[s];
      this.parent[s] = r;
      s = next;
    }
    return r;
  }

  classMembers(s: SpaceId): readonly SpaceId[] {
    return this.members.get(this.find(s))!;
  }

  /** Unites two whole, equally sized, uncut spaces. */
  union(a: SpaceId, b: SpaceId): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    if (this.spaces[ra].size !== this.spaces[rb].size)
      throw new Error(`union of spaces of size ${this.spaces[ra].size} and ${this.spaces[rb].size}`);
    this.parent[rb] = ra;
    this.members.set(ra, [...this.members.get(ra)!, ...this.members.get(rb)!]);
    this.members.delete(rb);
  }

  /** The uncut spaces that `ids` now consist of, in order. */
  resolve(ids: readonly SpaceId[]): SpaceId[] {
    return ids.flatMap((s) => {
      const p = this.spaces[s].parts;
      return p ? this.resolve(p) : [s];
    });
  }

  /** Cuts every member of s's class at `at` (0 < at < size); each member becomes [head, tail]. */
  cut(s: SpaceId, at: number): void {
    const cls = [...this.classMembers(s)];
    const size = this.spaces[s].size;
    let head: SpaceId | undefined;
    let tail: SpaceId | undefined;
    for (const m of cls) {
      const sp = this.spaces[m];
      const h = this.create(at, sp.source, sp.frozen);
      const t = this.create(size - at, sp.source, sp.frozen);
      sp.parts = [h, t];
      if (head === undefined) {
        head = h;
        tail = t;
      } else {
        this.union(head, h);
        this.union(tail!, t);
      }
    }
  }

  /** Marks s's class as unprunable. */
  freeze(s: SpaceId, why: string): void {
    for (const r of this.resolve([s])) for (const m of this.classMembers(r)) this.spaces[m].frozen ??= why;
  }

  frozen(s: SpaceId): string | undefined {
    for (const m of this.classMembers(s)) if (this.spaces[m].frozen) return this.spaces[m].frozen;
    return undefined;
  }

  /** Every class of uncut spaces: representative → members. */
  classes(): Map<SpaceId, readonly SpaceId[]> {
    const out = new Map<SpaceId, readonly SpaceId[]>();
    for (const [root, ms] of this.members) {
      if (this.parent[root] !== root) continue;
      const live = ms.filter((m) => !this.spaces[m].parts);
      if (live.length) out.set(root, live);
    }
    return out;
  }

  /**
   * Makes two segment lists (equal total size) cut at the same offsets, then
   * unites them part by part. Both are resolved first.
   */
  unite(a: readonly SpaceId[], b: readonly SpaceId[]): void {
    for (;;) {
      const ra = this.resolve(a);
      const rb = this.resolve(b);
      const cut = this.firstMismatch(ra, rb);
      if (!cut) {
        ra.forEach((s, i) => this.union(s, rb[i]));
        return;
      }
      this.cut(cut.space, cut.at);
    }
  }

  /** The first boundary of one list that falls inside a space of the other, as a cut of that space. */
  private firstMismatch(a: SpaceId[], b: SpaceId[]): { space: SpaceId; at: number } | undefined {
    const bounds = (l: SpaceId[]) => {
      let at = 0;
      return l.map((s) => (at += this.size(s)));
    };
    const inside = (l: SpaceId[], x: number) => {
      let start = 0;
      for (const s of l) {
        const end = start + this.size(s);
        if (x > start && x < end) return { space: s, at: x - start };
        start = end;
      }
      return undefined;
    };
    for (const x of bounds(a)) {
      const c = inside(b, x);
      if (c) return c;
    }
    for (const x of bounds(b)) {
      const c = inside(a, x);
      if (c) return c;
    }
    return undefined;
  }

  /** Total size of a segment list. */
  total(ids: readonly SpaceId[]): number {
    return this.resolve(ids).reduce((n, s) => n + this.size(s), 0);
  }
}

// The cost table's format: what buildCostTable (table.ts) writes, plan.ts
// prices and tables.ts caches as JSON. Kept apart from the builder so that a
// what-if on a cached table loads none of the graph machinery.
import type { BlockKind } from '../../blocks/patterns.ts';
import type { PatternName } from './patterns.ts';

/** Bump when the features or their meaning change: cached tables are rebuilt. */
export const TABLE_VERSION = 13;

export const Kind = { Act: 0, Fill: 1, Shape: 2, Weight: 3 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export interface TableBlock {
  name: string;
  kind: BlockKind;
  /** remove-blocks can bypass it as an identity (a residual block that keeps its channels). */
  removable: boolean;
  /** remove-blocks can bypass it keeping its 1×1 shortcut (keep_shortcut). */
  shortcut: boolean;
  /** duplicate-blocks can stack a copy after it. */
  duplicable: boolean;
}

export interface CostTable {
  version: number;
  /** Where the table came from (file, config, or a label), for reports. */
  model: string;
  /** The batch its features were computed at; evaluations scale activations and MACs from it. */
  batch: number;
  /** 'ok' when width exponents were measured (width.ts), else why width what-ifs are unavailable. */
  width: string;
  blocks: TableBlock[];
  /** Activation-like values (act and fill) read or written by counted nodes. */
  values: {
    elems: number[];
    /** Bits per element as stored. */
    bits: number[];
    /** 1 for floating-point data (its precision follows the runtime's), 0 otherwise. */
    float: number[];
    /** Kind.Act or Kind.Fill. */
    kind: number[];
    /** Exponent of the block's width ratio in this value's size (0, 1 or 2). */
    width: number[];
  };
  nodes: {
    op: string[];
    /** Index into OP_CLASSES. */
    cls: number[];
    /** Index into `blocks`, -1 for glue. */
    block: number[];
    macs: number[];
    vec: number[];
    /** Floating-point weight elements read, and their stored bits. */
    wElems: number[];
    wBits: number[];
    /** Bytes of other constants read (int64 tables), never converted. */
    wOther: number[];
    ins: number[][];
    outs: number[][];
    /** Output elements of a matrix kernel (conv, linear, attention), else 0. */
    gemmOut: number[];
    /** Elements of a MatMul's left operand, which its kernel broadcasts one at a time (plan.ts), else 0. */
    gemmIn: number[];
    /** Rows a kernel walks (walks.ts: a reduction's rows, a Transpose's contiguous runs), else 0. */
    rows: number[];
    /** Width exponents of the node's MACs, vector flops and weight elements. */
    eMacs: number[];
    eVec: number[];
    eW: number[];
    eRows: number[];
    eGemmOut: number[];
    eGemmIn: number[];
    /** 1 when only fill/shape values come out: a static-shape runtime folds the node away. */
    foldable: number[];
    /** Index into `patterns` of the composite op the node belongs to, -1 for none. */
    pattern: number[];
    /** Attention: elements of one head's score matrix (the output's last two dims), else 0. */
    tile: number[];
    /** 1 for a ResNet's conv_shortcut (kept by a keep_shortcut removal). */
    shortcut: number[];
  };
  /** Composite-op instances (patterns.ts), by name; a profile says which its runtime fuses. */
  patterns: PatternName[];
  /** Values the graph outputs (always written). */
  outputs: number[];
}

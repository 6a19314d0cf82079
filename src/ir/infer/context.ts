// What a shape rule sees of the graph: its node's input types, the known values
// of small inputs, attributes, and a way to type the outputs. A rule that finds
// inconsistent shapes calls fail(); the driver turns that into one coded
// diagnostic for the node and carries on with the next node.
import { DataType } from '../../onnx/dtype.ts';
import { toNumber, type AttributeProto, type TensorProto } from '../../onnx/proto.ts';
import type { Dim, Node, TensorType, Value } from '../graph.ts';
import {
  countOf,
  MAX_CONST_ELEMENTS,
  protoValue,
  roundToBfloat,
  roundToHalf,
  weightValue,
  type ConstTensor,
} from './tensor-value.ts';

/** One row of the rule table: how an operator's outputs are typed. */
export interface ShapeRule {
  op: string;
  /** '' (ai.onnx) unless given. */
  domain?: string;
  infer(node: Node, ctx: InferContext): void;
}

/** Raised by fail(): the rule found shapes that cannot go together (PD2005). */
export class ShapeFailure {
  constructor(readonly message: string) {}
}

/**
 * Raised when an input's rank is unknown. That only happens downstream of a
 * node that already failed, so the driver stays silent instead of repeating it.
 */
export class UnknownInput {}

/** State shared by every node of one inference run. */
export class InferState {
  readonly constants = new Map<Value, ConstTensor>();
  private unreadable = new Set<Value>();
  private fresh = 0;

  /** A symbolic dim that stands for a size inference could not compute. */
  unknownDim(): string {
    return `?infer${++this.fresh}`;
  }

  valueOf(v: Value): ConstTensor | undefined {
    const known = this.constants.get(v);
    if (known || !v.weight || this.unreadable.has(v)) return known;
    // Initializers are decoded only when a rule asks, and only if small.
    const w = weightValue(v.weight);
    if (w) this.constants.set(v, w);
    else this.unreadable.add(v);
    return w;
  }
}

export class InferContext {
  constructor(
    readonly node: Node,
    /** The opset imported for the node's domain. */
    readonly opset: number,
    private state: InferState,
  ) {}

  /** True when optional input `i` is given. */
  has(i: number): boolean {
    return !!this.node.inputs[i];
  }

  type(i: number): TensorType & { shape: Dim[] } {
    const v = this.node.inputs[i];
    if (!v) this.fail(`input ${i} is required but missing`);
    const t = v.type;
    if (!t || !t.shape) throw new UnknownInput();
    return t as TensorType & { shape: Dim[] };
  }

  shape(i: number): Dim[] {
    return this.type(i).shape;
  }

  dtype(i: number): number {
    const v = this.node.inputs[i];
    if (!v) this.fail(`input ${i} is required but missing`);
    if (!v.type) throw new UnknownInput();
    return v.type.dtype;
  }

  /** The compile-time value of input `i`, when small and known. */
  value(i: number): ConstTensor | undefined {
    const v = this.node.inputs[i];
    return v ? this.state.valueOf(v) : undefined;
  }

  /** The values of an integer list input (axes, pads, a target shape), when known. */
  ints(i: number): number[] | undefined {
    return this.value(i)?.data;
  }

  /** Axes from the attribute (before opset `since`) or from input 1 (from `since` on); 'unknown' when that input's value is. */
  axes(since: number): number[] | undefined | 'unknown' {
    if (this.opset < since) return this.intList('axes');
    if (!this.has(1)) return undefined;
    return this.ints(1) ?? 'unknown';
  }

  attr(name: string): AttributeProto | undefined {
    return this.node.attr(name);
  }

  int(name: string, dflt: number): number {
    const a = this.attr(name);
    return a ? toNumber(a.i) : dflt;
  }

  float(name: string, dflt: number): number {
    const a = this.attr(name);
    return a ? (a.f ?? dflt) : dflt;
  }

  intList(name: string): number[] | undefined {
    const a = this.attr(name);
    return a ? (a.ints ?? []).map(toNumber) : undefined;
  }

  floatList(name: string): number[] | undefined {
    const a = this.attr(name);
    return a ? [...(a.floats ?? [])] : undefined;
  }

  string(name: string, dflt: string): string {
    const a = this.attr(name);
    return a?.s ? Buffer.from(a.s).toString('utf8') : dflt;
  }

  tensor(name: string): { proto: TensorProto; value?: ConstTensor } | undefined {
    const t = this.attr(name)?.t;
    return t ? { proto: t, value: protoValue(t) } : undefined;
  }

  unknownDim(): string {
    return this.state.unknownDim();
  }

  /**
   * A shape of `rank` unknown dims, for outputs whose rank is known but whose
   * sizes depend on run-time values; undefined when the rank is not a number
   * (a symbolic dim in the arithmetic that gave it makes it NaN).
   */
  unknownShape(rank: number | Dim): Dim[] | undefined {
    return typeof rank === 'number' && Number.isInteger(rank) && rank >= 0
      ? Array.from({ length: rank }, () => this.unknownDim())
      : undefined;
  }

  /** True when a tensor of this shape is small enough to fold. */
  foldable(shape: Dim[] | undefined): shape is number[] {
    return !!shape && shape.every((d) => typeof d === 'number') && countOf(shape as number[]) <= MAX_CONST_ELEMENTS;
  }

  fail(message: string): never {
    throw new ShapeFailure(message);
  }

  /** Types output `i`; `data`, when given, is its value (stored only when small). */
  out(i: number, dtype: number, shape: Dim[] | undefined, data?: number[]): void {
    const v = this.node.outputs[i];
    if (!v) return;
    v.type = { dtype, shape: shape ? [...shape] : undefined };
    if (data && this.foldable(shape) && NUMERIC.has(dtype)) {
      if (data.length !== countOf(shape)) this.fail(`folded ${data.length} values for shape [${shape.join(',')}]`);
      this.state.constants.set(v, { dtype, dims: [...shape], data: data.map((x) => asType(x, dtype)) });
    }
  }

  /** Output `o` is input `i` unchanged: same type, same value. */
  same(o: number, i: number): void {
    const t = this.type(i);
    this.out(o, t.dtype, t.shape, this.value(i)?.data);
  }
}

const INTEGER = new Set<number>([
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
]);

/** Element types a ConstTensor can hold: one real number per element. */
const NUMERIC = new Set<number>([
  ...INTEGER,
  DataType.BOOL,
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.BFLOAT16,
]);

/** A number as the element type stores it: ints truncate, floats round to their precision, bool is 0/1. */
export function asType(x: number, dtype: number): number {
  if (dtype === DataType.BOOL) return x ? 1 : 0;
  if (INTEGER.has(dtype)) return Number.isFinite(x) ? Math.trunc(x) : x;
  if (dtype === DataType.FLOAT) return Math.fround(x);
  if (dtype === DataType.FLOAT16) return roundToHalf(x);
  if (dtype === DataType.BFLOAT16) return roundToBfloat(x);
  return x;
}

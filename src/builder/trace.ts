// The tracer: builds a Graph whose nodes are named the way torch.onnx's
// TorchScript exporter (torch 1.13) names them, so a built model reads like a
// real export of the same diffusers module tree.
//
//   module call            scope segment      (a second call of a same-named
//   self.act(x)            act                 module under one parent is act_1)
//   node                   /down_blocks.0/resnets.0/act_1/Sigmoid
//                          /<scope path>/<OpType>[_k], k counting that op type in that scope
//   output value           <node name>_output_<i>
//   axis constant          Constant_<position>  (no scope; made by the exporter's passes)
//
// Parameters keep their state_dict name (`down_blocks.0.resnets.0.conv1.weight`)
// unless the exporter folds them into a new tensor (transposed Linear weights,
// GroupNorm affine reshaped to [C,1,1]): those become anonymous `onnx::<Consumer>_<n>`.
import { Graph, type Node, type TensorType, type Value } from '../ir/graph.ts';
import { DataType } from '../onnx/dtype.ts';
import { onnx, type AttributeProto } from '../onnx/proto.ts';
import { toHalf } from '../onnx/half.ts';
import { registrationRank } from './state-dict.ts';
import type { Init, WeightSource } from './weights.ts';

export type Attr = AttributeProto;
const A = onnx.AttributeProto.AttributeType;

/** Attribute constructors, one per ONNX attribute type the builder writes. */
export const attr = {
  int: (name: string, i: number): Attr => onnx.AttributeProto.create({ name, type: A.INT, i }),
  ints: (name: string, ints: number[]): Attr => onnx.AttributeProto.create({ name, type: A.INTS, ints }),
  float: (name: string, f: number): Attr => onnx.AttributeProto.create({ name, type: A.FLOAT, f }),
  string: (name: string, s: string): Attr =>
    onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(s) }),
  tensor: (name: string, t: ConstTensor): Attr =>
    onnx.AttributeProto.create({ name, type: A.TENSOR, t: tensorProto(t) }),
};

/** A small constant tensor, as the exporter writes it (raw little-endian data). */
export interface ConstTensor {
  dtype: number;
  /** [] for a scalar. */
  dims: number[];
  /** bigint for int64 values beyond 2^53 (the exporter's INT64_MAX slice ends). */
  values: (number | bigint)[];
}

export function tensorProto(t: ConstTensor) {
  const p = onnx.TensorProto.create({ dataType: t.dtype, rawData: encodeValues(t.dtype, t.values) });
  if (t.dims.length) p.dims = t.dims;
  return p;
}

function encodeValues(dtype: number, values: (number | bigint)[]): Uint8Array {
  switch (dtype) {
    case DataType.INT64: {
      const b = Buffer.alloc(values.length * 8);
      values.forEach((v, i) => b.writeBigInt64LE(BigInt.asIntN(64, BigInt(v)), i * 8));
      return b;
    }
    case DataType.INT32:
      return new Uint8Array(Int32Array.from(values, Number).buffer);
    case DataType.FLOAT:
      return new Uint8Array(Float32Array.from(values, Number).buffer);
    case DataType.FLOAT16:
      return new Uint8Array(Uint16Array.from(values, (v) => toHalf(Number(v))).buffer);
    case DataType.BOOL:
      return Uint8Array.from(values, Number);
    default:
      throw new Error(`builder: no encoder for constant dtype ${dtype}`);
  }
}

export interface TracerOptions {
  opset: 14 | 17;
  /** Element type of activations and weights: FLOAT or FLOAT16. */
  float: number;
  weights: WeightSource;
}

export class Tracer {
  readonly g = new Graph();
  readonly opset: 14 | 17;
  readonly float: number;
  private readonly source: WeightSource;
  /** Scope segments of the current module call (`act_1`, not `act`). */
  private scope: string[] = [];
  /** state_dict path of the current module (`down_blocks.0.resnets.0`). */
  private modules: string[] = [];
  private calls = new Map<string, number>();
  private ops = new Map<string, number>();
  private anonymous = 0;
  private unscoped = new Set<Node>();
  private named: Value[] = [];
  private folded: Value[] = [];

  constructor(opts: TracerOptions) {
    this.opset = opts.opset;
    this.float = opts.float;
    this.source = opts.weights;
  }

  /** Runs `fn` inside a call of the submodule `name` (a ModuleList child is `resnets.0`). */
  module<T>(name: string, fn: () => T): T {
    const parent = this.scope.join('/');
    const key = `${parent}|${name}`;
    const k = this.calls.get(key) ?? 0;
    this.calls.set(key, k + 1);
    this.scope.push(k ? `${name}_${k}` : name);
    this.modules.push(name);
    try {
      return fn();
    } finally {
      this.scope.pop();
      this.modules.pop();
    }
  }

  /** Dotted module path of the current call (`down_blocks.0.resnets.0.act_1`). */
  get scopePath(): string {
    return this.scope.join('.');
  }

  private nodeName(op: string): string {
    const path = this.scope.join('/');
    const key = `${path}|${op}`;
    const k = this.ops.get(key) ?? 0;
    this.ops.set(key, k + 1);
    return `/${path ? path + '/' : ''}${op}${k ? `_${k}` : ''}`;
  }

  /** Emits one node in the current scope; returns its outputs. */
  emit(op: string, inputs: (Value | undefined)[], attrs: Attr[] = [], outputs = 1): Value[] {
    const name = this.nodeName(op);
    const scope = this.scopePath;
    const n = this.g.add(op, inputs, { name, scope, attrs, outputs, origin: { kind: 'builder', module: scope } });
    return n.outputs as Value[];
  }

  /** Emits a single-output node. */
  op(op: string, inputs: (Value | undefined)[], attrs: Attr[] = []): Value {
    return this.emit(op, inputs, attrs, 1)[0];
  }

  /** A Constant node in the current scope. */
  constant(t: ConstTensor): Value {
    return this.op('Constant', [], [attr.tensor('value', t)]);
  }

  int64(values: (number | bigint)[] | number): Value {
    return Array.isArray(values)
      ? this.constant({ dtype: DataType.INT64, dims: [values.length], values })
      : this.constant({ dtype: DataType.INT64, dims: [], values: [values] });
  }

  /** A scalar (or 1-D) constant of the activation type. */
  scalar(v: number, dtype = this.float): Value {
    return this.constant({ dtype, dims: [], values: [v] });
  }

  /**
   * An axes constant made by the exporter's list-lowering pass: no scope, output
   * `onnx::<consumer>_<n>`, renamed `Constant_<position>` when the graph is done.
   */
  axes(values: number[], consumer = 'Unsqueeze'): Value {
    const out = `onnx::${consumer}_${++this.anonymous}`;
    const n = this.g.add('Constant', [], {
      name: out,
      attrs: [attr.tensor('value', { dtype: DataType.INT64, dims: [values.length], values })],
      outputs: [out],
      origin: { kind: 'builder', module: this.scopePath },
    });
    this.unscoped.add(n);
    return n.output(0);
  }

  /** A parameter that keeps its state_dict name: `<module path>.<local>`. */
  param(local: string, dims: number[], init: Init): Value {
    const name = [...this.modules, local].join('.');
    const v = this.g.addWeight(name, { dtype: this.float, dims, data: this.source(name, dims, init) });
    this.named.push(v);
    return v;
  }

  /**
   * A parameter the exporter rewrote by constant folding (transposed or reshaped):
   * `onnx::<consumer>_<n>`. `owner` (`<module path>.weight`) seeds its values.
   */
  foldedParam(consumer: string, local: string, dims: number[], init: Init): Value {
    const owner = [...this.modules, local].join('.');
    const v = this.g.addWeight(`onnx::${consumer}_${++this.anonymous}`, {
      dtype: this.float,
      dims,
      data: this.source(owner, dims, init),
    });
    this.folded.push(v);
    return v;
  }

  input(name: string, type: TensorType): Value {
    return this.g.addInput(name, type);
  }

  /** Makes `v` a graph output named `name` (the exporter renames the last value). */
  output(v: Value, name: string, type: TensorType): void {
    this.g.rename(v, name);
    v.type = type;
    this.g.addOutput(v);
  }

  /** Final touches the exporter makes: positional names, initializer order, model fields. */
  finish(metadata: { key: string; value: string }[] = []): Graph {
    this.g.nodes().forEach((n, i) => {
      if (this.unscoped.has(n)) n.name = `Constant_${i}`;
    });
    // Named parameters in state_dict (module registration) order, then folded ones in graph order.
    const named = [...this.named].sort((a, b) => compareRank(registrationRank(a.name), registrationRank(b.name)));
    this.g.orderWeights([...named, ...this.folded]);
    this.g.name = 'main_graph';
    this.g.model = {
      irVersion: this.opset >= 17 ? 8 : 7,
      opsets: [{ domain: '', version: this.opset }],
      producerName: 'pocketdiff',
      producerVersion: '0.1.0',
      metadata,
    };
    return this.g;
  }
}

function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

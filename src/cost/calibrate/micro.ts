// Microbenchmarks for calibrating the local-cpu profile: one small graph per
// op class and size, each isolating what a parameter prices (conv, linear and
// attention MACs, vector arithmetic, softmax, memory traffic, per-op and
// shape-op overhead), written in the exporter's own idioms (GroupNorm as
// InstanceNorm + affine, decomposed LayerNorm, QKᵀ with a scale, SiLU as
// Sigmoid·x) so the runtime fuses them as it fuses real models. Each ends in a
// scalar (the mean of its result): a fresh multi-megabyte graph output costs
// page faults on every run (onnxruntime-node hands back new buffers), which a
// model's internal activations do not. On this VM, movement-c64-h64 with its
// 8 MB upsample as the output measured 2.39 ms; ending in its mean, 0.63 ms.
import { attr, type Attr } from '../../builder/trace.ts';
import { Graph, type Value } from '../../ir/graph.ts';
import { DataType } from '../../onnx/dtype.ts';

export interface Micro {
  name: string;
  graph: () => Graph;
}

class Net {
  readonly g = new Graph();
  private k = 0;
  constructor() {
    this.g.model = {
      irVersion: 8,
      opsets: [{ domain: '', version: 17 }],
      producerName: 'pocketdiff-micro',
      metadata: [],
    };
  }
  input(name: string, dims: number[]): Value {
    return this.g.addInput(name, { dtype: DataType.FLOAT, shape: dims });
  }
  weight(dims: number[]): Value {
    const count = dims.reduce((a, b) => a * b, 1);
    const f = new Float32Array(count);
    for (let i = 0; i < count; i++) f[i] = ((i * 7919) % 1000) / 1000 - 0.5;
    return this.g.addWeight(`w${this.k++}`, {
      dtype: DataType.FLOAT,
      dims,
      data: { kind: 'raw', bytes: new Uint8Array(f.buffer) },
    });
  }
  scalar(x: number): Value {
    return this.g.addWeight(`s${this.k++}`, {
      dtype: DataType.FLOAT,
      dims: [],
      data: { kind: 'raw', bytes: new Uint8Array(new Float32Array([x]).buffer) },
    });
  }
  ints(values: number[]): Value {
    const b = new BigInt64Array(values.map(BigInt));
    return this.g.addWeight(`i${this.k++}`, {
      dtype: DataType.INT64,
      dims: [values.length],
      data: { kind: 'raw', bytes: new Uint8Array(b.buffer) },
    });
  }
  op(op: string, inputs: (Value | undefined)[], attrs: Attr[] = []): Value {
    return this.g
      .add(op, inputs, { attrs, origin: { kind: 'builder', module: 'micro' }, name: `${op}_${this.k++}` })
      .output();
  }
  out(v: Value): Graph {
    this.g.addOutput(v);
    return this.g;
  }
  /** A large activation made inside the graph from a small input (big inputs and outputs cost copies a model does not have). */
  big(dims: number[]): Value {
    const last = dims[dims.length - 1];
    return this.op('Expand', [this.input('x', [1, last]), this.ints(dims)]);
  }
  /** A small output: the mean over everything. */
  small(v: Value): Graph {
    return this.out(this.op('ReduceMean', [v], [attr.int('keepdims', 0)]));
  }
}

const conv = (n: Net, x: Value, cin: number, cout: number, k: number) =>
  n.op(
    'Conv',
    [x, n.weight([cout, cin, k, k]), n.weight([cout])],
    [attr.ints('kernel_shape', [k, k]), attr.ints('pads', Array(4).fill((k - 1) / 2))],
  );

/** GroupNorm as the exporter writes it: Reshape [1, G, -1] → InstanceNorm → Reshape back → ·γ + β. */
const groupNorm = (n: Net, x: Value, c: number, h: number) => {
  const r = n.op('Reshape', [x, n.ints([1, 32, -1])]);
  const i = n.op('InstanceNormalization', [r, n.weight([32]), n.weight([32])], [attr.float('epsilon', 1e-5)]);
  const b = n.op('Reshape', [i, n.ints([1, c, h, h])]);
  return n.op('Add', [n.op('Mul', [b, n.weight([c, 1, 1])]), n.weight([c, 1, 1])]);
};
const silu = (n: Net, x: Value) => n.op('Mul', [x, n.op('Sigmoid', [x])]);

const layerNorm = (n: Net, x: Value, c: number) => {
  const mean = n.op('ReduceMean', [x], [attr.ints('axes', [-1])]);
  const d = n.op('Sub', [x, mean]);
  const v = n.op('ReduceMean', [n.op('Pow', [d, n.scalar(2)])], [attr.ints('axes', [-1])]);
  const y = n.op('Div', [d, n.op('Sqrt', [n.op('Add', [v, n.scalar(1e-5)])])]);
  return n.op('Add', [n.op('Mul', [y, n.weight([c])]), n.weight([c])]);
};

export const MICROBENCHMARKS: Micro[] = [
  // conv: a ResNet's norm → SiLU → 3×3 conv, twice, and a 1×1 conv.
  ...[
    [32, 64],
    [64, 32],
    [128, 32],
    [256, 16],
    [320, 8],
  ].map(([c, h]): Micro => ({
    name: `conv-c${c}-h${h}`,
    graph: () => {
      const n = new Net();
      const x = n.input('x', [1, c, h, h]);
      let y = conv(n, silu(n, groupNorm(n, x, c, h)), c, c, 3);
      y = conv(n, silu(n, groupNorm(n, y, c, h)), c, c, 3);
      return n.small(n.op('Add', [conv(n, y, c, c, 1), x]));
    },
  })),
  // linear: a transformer feed-forward on tokens.
  ...[
    [4096, 32],
    [1024, 64],
    [256, 160],
    [64, 640],
  ].map(([t, c]): Micro => ({
    name: `linear-t${t}-c${c}`,
    graph: () => {
      const n = new Net();
      const x = n.input('x', [1, t, c]);
      const h = n.op('Add', [n.op('MatMul', [x, n.weight([c, 4 * c])]), n.weight([4 * c])]);
      return n.small(n.op('Add', [n.op('MatMul', [h, n.weight([4 * c, c])]), n.weight([c])]));
    },
  })),
  // attention core: softmax(q·kᵀ·s)·v per head.
  ...[
    [8, 4096, 4],
    [8, 1024, 8],
    [8, 256, 32],
    [1, 4096, 64],
    [8, 1024, 40],
  ].map(([heads, t, d]): Micro => ({
    name: `attention-h${heads}-t${t}-d${d}`,
    graph: () => {
      const n = new Net();
      const q = n.input('q', [heads, t, d]);
      const k = n.input('k', [heads, t, d]);
      const v = n.input('v', [heads, t, d]);
      const s = n.op('Mul', [
        n.op('MatMul', [q, n.op('Transpose', [k], [attr.ints('perm', [0, 2, 1])])]),
        n.scalar(1 / Math.sqrt(d)),
      ]);
      return n.small(n.op('MatMul', [n.op('Softmax', [s], [attr.int('axis', -1)]), v]));
    },
  })),
  // The second attention matmul alone: probabilities × V with a head size of 8,
  // where the kernel's pass over each probability costs more than its MACs.
  {
    name: 'matmul-h8-t512-d8',
    graph: () => {
      const n = new Net();
      return n.small(n.op('MatMul', [n.big([8, 512, 512]), n.input('v', [8, 512, 8])]));
    },
  },
  // softmax in cache, alone.
  {
    name: 'softmax-h8-t256',
    graph: () => {
      const n = new Net();
      return n.small(n.op('Softmax', [n.big([8, 256, 256])], [attr.int('axis', -1)]));
    },
  },
  // softmax alone, and the score-matrix traffic around it.
  ...[
    [8, 1024],
    [8, 2048],
  ].map(([heads, t]): Micro => ({
    name: `softmax-h${heads}-t${t}`,
    graph: () => {
      const n = new Net();
      const x = n.big([heads, t, t]);
      return n.small(n.op('Softmax', [n.op('Add', [n.op('Mul', [x, n.scalar(0.125)]), x])], [attr.int('axis', -1)]));
    },
  })),
  // elementwise chains (vector arithmetic and streaming).
  ...[1 << 18, 1 << 20, 1 << 22].map((e): Micro => ({
    name: `elementwise-${e}`,
    graph: () => {
      const n = new Net();
      const x = n.big([e >> 10, 1024]);
      const y = n.op('Div', [n.op('Mul', [n.op('Add', [x, n.scalar(1)]), n.scalar(0.5)]), n.scalar(3)]);
      return n.small(n.op('Erf', [n.op('Sub', [y, x])]));
    },
  })),
  // norms.
  ...[
    [4096, 64],
    [1024, 320],
  ].map(([t, c]): Micro => ({
    name: `layernorm-t${t}-c${c}`,
    graph: () => {
      const n = new Net();
      return n.small(layerNorm(n, n.input('x', [1, t, c]), c));
    },
  })),
  // movement: NCHW → NHWC and back (a pair runtimes cancel, as the cost model
  // does: what remains is the concat and the upsample), a skip concat, a nearest upsample.
  ...[
    [64, 64],
    [320, 16],
  ].map(([c, h]): Micro => ({
    name: `movement-c${c}-h${h}`,
    graph: () => {
      const n = new Net();
      const x = n.input('x', [1, c, h, h]);
      const t = n.op(
        'Transpose',
        [n.op('Transpose', [x], [attr.ints('perm', [0, 2, 3, 1])])],
        [attr.ints('perm', [0, 3, 1, 2])],
      );
      const cat = n.op('Concat', [t, x], [attr.int('axis', 1)]);
      const up = n.op(
        'Resize',
        [
          cat,
          undefined,
          n.g.addWeight('scales', {
            dtype: DataType.FLOAT,
            dims: [4],
            data: { kind: 'raw', bytes: new Uint8Array(new Float32Array([1, 1, 2, 2]).buffer) },
          }),
        ],
        [
          attr.string('coordinate_transformation_mode', 'asymmetric'),
          attr.string('mode', 'nearest'),
          attr.string('nearest_mode', 'floor'),
        ],
      );
      return n.small(up);
    },
  })),
];

// Op classes of the cost model: a rule table from ONNX op type to the class
// whose ceiling and efficiency price it, and how much vector arithmetic each
// output (or input) element costs. MatMul and Einsum are 'linear' against a
// weight and 'attention' between two activations; the table builder decides.
import type { OpClass } from '../../devices/schema.ts';
import type { Node } from '../../ir/graph.ts';

interface OpRule {
  cls: OpClass;
  /** Vector flops per element of `per` (elementwise, norm, softmax, reduce arithmetic). */
  flops?: number;
  per?: 'out' | 'in';
}

const rows: [string[], OpRule][] = [
  [['Conv', 'ConvTranspose'], { cls: 'conv' }],
  [['MatMul', 'Gemm', 'MatMulNBits', 'Einsum', 'FusedMatMul'], { cls: 'linear' }],
  [
    [
      'InstanceNormalization',
      'LayerNormalization',
      'GroupNormalization',
      'BatchNormalization',
      'SkipLayerNormalization',
    ],
    { cls: 'norm', flops: 6, per: 'in' },
  ],
  [['Softmax', 'LogSoftmax'], { cls: 'softmax', flops: 5, per: 'in' }],
  [
    [
      'ReduceMean',
      'ReduceSum',
      'ReduceMax',
      'ReduceMin',
      'ReduceProd',
      'ReduceL2',
      'ReduceSumSquare',
      'ArgMax',
      'ArgMin',
    ],
    { cls: 'reduce', flops: 1, per: 'in' },
  ],
  [
    [
      'Transpose',
      'Concat',
      'Slice',
      'Split',
      'Gather',
      'GatherElements',
      'GatherND',
      'Expand',
      'Tile',
      'Pad',
      'DepthToSpace',
      'SpaceToDepth',
      'ConstantOfShape',
      'ScatterND',
      'Trilu',
    ],
    { cls: 'movement' },
  ],
  // Each output element of an interpolating resize reads and blends its neighbours
  // (nearest, ONNX's default and SD's upsampler, is a copy: ruleFor drops the flops).
  [['Resize', 'Upsample'], { cls: 'movement', flops: 8, per: 'out' }],
  [['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity', 'Dropout'], { cls: 'view' }],
  [['Shape', 'Size', 'Constant', 'Range', 'NonZero'], { cls: 'shape' }],
  // Transcendentals are polynomial or rational approximations of many
  // instructions per element: on this machine an Erf of 1M floats took 0.84 ms
  // and a Sigmoid 0.33, against 0.03 for an Add (src/cost/micro.ts has them).
  [['Erf', 'Gelu', 'FastGelu'], { cls: 'elementwise', flops: 16, per: 'out' }],
  [
    ['Exp', 'Log', 'Sigmoid', 'Tanh', 'Sin', 'Cos', 'Pow', 'QuickGelu', 'Softplus', 'Mish'],
    { cls: 'elementwise', flops: 8, per: 'out' },
  ],
  [['Sqrt', 'Reciprocal', 'Div', 'HardSigmoid'], { cls: 'elementwise', flops: 4, per: 'out' }],
];

const TABLE = new Map<string, OpRule>(rows.flatMap(([ops, rule]) => ops.map((op) => [op, rule] as [string, OpRule])));

/** Everything not listed is elementwise at one flop per output element (Add, Mul, Cast, Where, …). */
const ELEMENTWISE: OpRule = { cls: 'elementwise', flops: 1, per: 'out' };

function opRule(op: string): OpRule {
  return TABLE.get(op) ?? ELEMENTWISE;
}

const COPY: OpRule = { cls: 'movement' };

const DEPTHWISE: OpRule = { cls: 'depthwise' };

/**
 * A node's rule: its op's, except that a nearest-neighbour resize only moves
 * data, and a conv with one input channel per group (depthwise: no reduction
 * over channels for a matrix unit to do) is its own class.
 */
export function ruleFor(n: Node): OpRule {
  if (n.op === 'Resize' || n.op === 'Upsample') {
    const mode = n.attr('mode')?.s;
    if (!mode || new TextDecoder().decode(mode) === 'nearest') return COPY;
  }
  if (n.op === 'Conv' && Number(n.attr('group')?.i ?? 1) > 1) {
    const perGroup = n.inputs[1]?.type?.shape?.[1];
    if (perGroup === 1) return DEPTHWISE;
  }
  return opRule(n.op);
}

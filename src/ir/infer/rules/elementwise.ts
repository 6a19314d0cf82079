// Element-wise operators: the output has the (broadcast) shape of the inputs.
// Those the TorchScript exporter uses on shape values (Add, Mul, Div, Cast,
// Equal, Where, ...) also fold, so a Reshape target computed from them is exact.
import { DataType } from '../../../onnx/dtype.ts';
import type { Dim, Node } from '../../graph.ts';
import type { InferContext, ShapeRule } from '../context.ts';
import { broadcast, fmt } from '../dim.ts';
import { mapBroadcast, modulo } from '../fold.ts';
import type { ConstTensor } from '../tensor-value.ts';

type Fn = (...xs: number[]) => number;

/** One input, same shape and type out; `fn` folds it. */
function unary(op: string, fn?: Fn): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      const t = ctx.type(0);
      const v = fn ? ctx.value(0) : undefined;
      ctx.out(
        0,
        t.dtype,
        t.shape,
        v?.data.map((x) => fn!(x)),
      );
    },
  };
}

/** A bool test of each element. */
function predicate(op: string): ShapeRule {
  return {
    op,
    infer(_n, ctx) {
      ctx.out(0, DataType.BOOL, ctx.shape(0));
    },
  };
}

/** Broadcasting over every input; the output dtype is input 0's unless `dtype` says otherwise. */
function broadcasting(
  op: string,
  fn?: (ctx: InferContext) => Fn | undefined,
  dtype?: (ctx: InferContext) => number,
): ShapeRule {
  return {
    op,
    infer(n, ctx) {
      const count = n.inputs.length;
      const shapes = Array.from({ length: count }, (_, i) => ctx.shape(i));
      const shape = broadcast(ctx, shapes);
      const out = dtype ? dtype(ctx) : ctx.dtype(0);
      ctx.out(0, out, shape, foldAll(ctx, n, shape, fn?.(ctx)));
    },
  };
}

function foldAll(ctx: InferContext, n: Node, shape: Dim[], fn: Fn | undefined): number[] | undefined {
  if (!fn || !ctx.foldable(shape)) return undefined;
  const values: ConstTensor[] = [];
  for (let i = 0; i < n.inputs.length; i++) {
    const v = ctx.value(i);
    if (!v) return undefined;
    values.push(v);
  }
  return mapBroadcast(values, shape, fn);
}

const bool = () => DataType.BOOL;
const always = (f: Fn) => () => f;

export const elementwiseRules: ShapeRule[] = [
  broadcasting(
    'Add',
    always((a, b) => a + b),
  ),
  broadcasting(
    'Sub',
    always((a, b) => a - b),
  ),
  broadcasting(
    'Mul',
    always((a, b) => a * b),
  ),
  // Integer division truncates; out() truncates integer results.
  broadcasting(
    'Div',
    always((a, b) => a / b),
  ),
  broadcasting(
    'Pow',
    always((a, b) => a ** b),
  ),
  broadcasting('Mod', (ctx) => (a, b) => modulo(a, b, ctx.int('fmod', 0) === 1)),
  broadcasting('Max', always(Math.max)),
  broadcasting('Min', always(Math.min)),
  broadcasting(
    'Sum',
    always((...xs) => xs.reduce((a, b) => a + b, 0)),
  ),
  broadcasting(
    'Mean',
    always((...xs) => xs.reduce((a, b) => a + b, 0) / xs.length),
  ),
  broadcasting(
    'Equal',
    always((a, b) => +(a === b)),
    bool,
  ),
  broadcasting(
    'Less',
    always((a, b) => +(a < b)),
    bool,
  ),
  broadcasting(
    'LessOrEqual',
    always((a, b) => +(a <= b)),
    bool,
  ),
  broadcasting(
    'Greater',
    always((a, b) => +(a > b)),
    bool,
  ),
  broadcasting(
    'GreaterOrEqual',
    always((a, b) => +(a >= b)),
    bool,
  ),
  broadcasting(
    'And',
    always((a, b) => +(a && b)),
    bool,
  ),
  broadcasting(
    'Or',
    always((a, b) => +(a || b)),
    bool,
  ),
  broadcasting(
    'Xor',
    always((a, b) => +(!a !== !b)),
    bool,
  ),
  broadcasting(
    'Where',
    always((c, x, y) => (c ? x : y)),
    (ctx) => ctx.dtype(1),
  ),
  {
    op: 'PRelu',
    infer(_n, ctx) {
      // The slope broadcasts one way, to X (opset 7); before that a [C] slope was per channel.
      const t = ctx.type(0);
      if (ctx.opset >= 7) {
        const s = ctx.shape(1);
        if (broadcast(ctx, [t.shape, s]).length !== t.shape.length)
          ctx.fail(`slope ${fmt(s)} has a higher rank than X ${fmt(t.shape)}`);
      }
      ctx.out(0, t.dtype, t.shape);
    },
  },
  broadcasting('BitShift'),
  unary('Not', (x) => +!x),
  unary('Neg', (x) => -x),
  unary('Abs', Math.abs),
  unary('Sqrt', Math.sqrt),
  unary('Exp', Math.exp),
  unary('Log', Math.log),
  unary('Sin', Math.sin),
  unary('Cos', Math.cos),
  unary('Tan', Math.tan),
  unary('Tanh', Math.tanh),
  unary('Reciprocal', (x) => 1 / x),
  unary('Floor', Math.floor),
  unary('Ceil', Math.ceil),
  unary('Round', roundHalfEven),
  unary('Sign', Math.sign),
  unary('Relu', (x) => Math.max(x, 0)),
  unary('Sigmoid', (x) => 1 / (1 + Math.exp(-x))),
  unary('Erf'),
  unary('Gelu'),
  unary('FastGelu'),
  unary('Softplus'),
  unary('LeakyRelu'),
  unary('Elu'),
  unary('Selu'),
  unary('HardSigmoid'),
  unary('HardSwish'),
  unary('Mish'),
  unary('Acos', Math.acos),
  unary('Asin', Math.asin),
  unary('Atan', Math.atan),
  unary('Acosh', Math.acosh),
  unary('Asinh', Math.asinh),
  unary('Atanh', Math.atanh),
  unary('Cosh', Math.cosh),
  unary('Sinh', Math.sinh),
  unary('Softsign', (x) => x / (1 + Math.abs(x))),
  unary('Celu'),
  unary('ThresholdedRelu'),
  unary('Shrink'),
  predicate('IsNaN'),
  predicate('IsInf'),
  {
    op: 'Clip',
    infer(_n, ctx) {
      const t = ctx.type(0);
      // Bounds are attributes before opset 11 and optional inputs after.
      const lo = ctx.opset < 11 ? ctx.float('min', -Infinity) : ctx.has(1) ? ctx.value(1)?.data[0] : -Infinity;
      const hi = ctx.opset < 11 ? ctx.float('max', Infinity) : ctx.has(2) ? ctx.value(2)?.data[0] : Infinity;
      const v = ctx.value(0);
      const data =
        v && lo !== undefined && hi !== undefined ? v.data.map((x) => Math.min(Math.max(x, lo), hi)) : undefined;
      ctx.out(0, t.dtype, t.shape, data);
    },
  },
  {
    op: 'Cast',
    infer(_n, ctx) {
      const t = ctx.type(0);
      ctx.out(0, ctx.int('to', 0), t.shape, ctx.value(0)?.data);
    },
  },
  {
    op: 'CastLike',
    infer(_n, ctx) {
      const t = ctx.type(0);
      ctx.out(0, ctx.dtype(1), t.shape, ctx.value(0)?.data);
    },
  },
  {
    op: 'Identity',
    infer(_n, ctx) {
      ctx.same(0, 0);
    },
  },
  {
    op: 'Dropout',
    infer(_n, ctx) {
      // Dropout is the identity unless training_mode (an input from opset 12) may be on.
      const t = ctx.type(0);
      const training = ctx.has(2) ? (ctx.value(2)?.data[0] ?? 1) : 0;
      ctx.out(0, t.dtype, t.shape, training ? undefined : ctx.value(0)?.data);
      ctx.out(1, DataType.BOOL, t.shape);
    },
  },
];

/** ONNX Round rounds halves to even, unlike Math.round. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

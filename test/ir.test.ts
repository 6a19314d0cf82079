// The graph IR's contract, on tiny hand-built graphs (each drawn in a comment)
// and on the real exports in test/fixtures.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { Graph, type Value } from '../src/ir/graph.ts';
import { cleanup } from '../src/ir/cleanup.ts';
import { toposort } from '../src/ir/toposort.ts';
import { verify } from '../src/ir/verify.ts';
import { printGraph } from '../src/ir/print.ts';

const F32 = 1;
const origin = { kind: 'pass' as const, pass: 'test', from: [] };

/**
 *   x ─ Relu ─ a ─ Neg ─ b ─┐
 *        └──────────────── Add ─ y
 */
function diamond() {
  const g = new Graph();
  const x = g.addInput('x', { dtype: F32, shape: [2] });
  const relu = g.add('Relu', [x], { origin, outputs: ['a'] });
  const neg = g.add('Neg', [relu.output()], { origin, outputs: ['b'] });
  const add = g.add('Add', [relu.output(), neg.output()], { origin, outputs: ['y'] });
  g.addOutput(add.output());
  return { g, x, relu, neg, add };
}

const useCount = (v: Value) => v.uses.length;

test('add records uses and producers', () => {
  const { relu, neg, add } = diamond();
  assert.equal(useCount(relu.output()), 2);
  assert.is(neg.output().producer, neg);
  assert.equal(
    add.inputs.map((v) => v?.name),
    ['a', 'b'],
  );
});

test('setInput moves exactly one use', () => {
  const { g, x, relu, neg, add } = diamond();
  g.setInput(add, 1, x);
  assert.equal(useCount(neg.output()), 0);
  assert.equal(useCount(relu.output()), 2);
  assert.equal(useCount(x), 2);
  assert.ok(verify(g, new DiagnosticLog()));
});

test('replaceAllUses rewires nodes and graph outputs', () => {
  const { g, x, add } = diamond();
  g.replaceAllUses(add.output(), x);
  assert.equal(
    g.outputs.map((v) => v.name),
    ['x'],
  );
  const stats = cleanup(g);
  assert.equal(stats.nodes, 3);
  assert.is(g.nodes().length, 0);
  assert.equal(useCount(x), 0);
  assert.ok(verify(g, new DiagnosticLog()));
});

test('erase refuses a node whose output is still read', () => {
  const { g, relu } = diamond();
  assert.throws(() => g.erase(relu), /still used/);
});

test('cleanup keeps what reaches an output and drops dead weights', () => {
  const { g, x, add } = diamond();
  const w = g.addWeight('w', { dtype: F32, dims: [2], data: { kind: 'raw', bytes: new Uint8Array(8) } });
  const dead = g.add('Mul', [x, w], { origin, outputs: ['dead'] });
  g.add('Relu', [dead.output()], { origin, outputs: ['dead2'] });
  assert.equal(cleanup(g), { nodes: 2, weights: 1 });
  assert.equal(
    g.nodes().map((n) => n.op),
    ['Relu', 'Neg', 'Add'],
  );
  assert.equal(g.weights.length, 0);
  assert.is(add.alive, true);
});

test('toposort is stable and fixes an out-of-order insertion', () => {
  const { g, relu, add } = diamond();
  // A node inserted before its producer: t = Sigmoid(y) placed first.
  const sig = g.add('Sigmoid', [add.output()], { origin, outputs: ['t'], before: relu });
  assert.equal(g.nodes()[0], sig);
  const log = new DiagnosticLog();
  assert.not.ok(verify(g, log, { pass: 'insert' }));
  assert.equal(log.codes(), ['PD2001']);
  assert.match(log.items[0].message, /after pass 'insert'/);
  assert.equal(toposort(g), []);
  assert.equal(
    g.nodes().map((n) => n.op),
    ['Relu', 'Neg', 'Add', 'Sigmoid'],
  );
  assert.ok(verify(g, new DiagnosticLog()));
});

test('toposort reports a cycle', () => {
  const { g, relu, add } = diamond();
  g.setInput(relu, 0, add.output());
  const cyclic = toposort(g);
  assert.equal(cyclic.map((n) => n.op).sort(), ['Add', 'Neg', 'Relu']);
  const log = new DiagnosticLog();
  assert.not.ok(verify(g, log));
  assert.ok(log.codes().includes('PD2001'));
});

test('verify reports an undefined use and missing types', () => {
  const { g, add } = diamond();
  const other = new Graph().addInput('stranger', { dtype: F32, shape: [2] });
  g.setInput(add, 0, other);
  const log = new DiagnosticLog();
  assert.not.ok(verify(g, log, { requireTypes: true, pass: 'p' }));
  assert.ok(log.codes().includes('PD2002'));
  assert.ok(log.codes().includes('PD2003'));
  assert.ok(log.items.every((d) => d.location?.node !== undefined));
});

test('value names stay unique', () => {
  const g = new Graph();
  const x = g.addInput('x');
  const a = g.add('Relu', [x], { origin, outputs: ['x'] });
  assert.is.not(a.output().name, 'x');
});

test('printGraph shows the structure', () => {
  const { g } = diamond();
  assert.snapshot(
    printGraph(g),
    ['graph main(x: float32[2]) -> (y)', '  a = Relu(x)', '  b = Neg(a)', '  y = Add(a, b)'].join('\n'),
  );
});

test('clone copies the structure and shares nothing a rewrite touches', () => {
  const { g, neg } = diamond();
  const w = g.addWeight('w', { dtype: F32, dims: [2], data: { kind: 'raw', bytes: new Uint8Array(8) } });
  g.setInput(neg, 0, w);
  const c = g.clone();
  assert.is(printGraph(c), printGraph(g));
  const log = new DiagnosticLog();
  assert.ok(verify(c, log), log.items.map((d) => d.message).join('\n'));
  // The weight's handle is shared (passes replace handles, never change them); the values are not.
  assert.is(c.weights[0].weight, w.weight);
  assert.is.not(c.weights[0], w);
  // Rewiring the copy leaves the original as it was.
  const [relu2, neg2, add2] = c.nodes();
  c.replaceAllUses(neg2.output(), relu2.output());
  cleanup(c);
  assert.is(printGraph(c), ['graph main(x: float32[2]) -> (y)', '  a = Relu(x)', '  y = Add(a, a)'].join('\n'));
  assert.is(add2.inputs[1], relu2.output());
  assert.is(useCount(neg.output()), 1);
  assert.is(g.nodes().length, 3);
  assert.ok(verify(g, log), log.items.map((d) => d.message).join('\n'));
  // New names stay unique in the copy, as in the original.
  assert.is(c.newValue('a').name, 'a_1');
});

test.run();

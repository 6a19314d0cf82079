// remove-blocks and duplicate-blocks on a real export (the narrow SD-v1.5
// topology UNet), each checked numerically in onnxruntime-node against an
// oracle built from the original network: the same graph with weights set so
// the block computes the identity.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findBlocks } from '../src/blocks/find.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { Graph } from '../src/ir/graph.ts';
import { duplicateBlocks } from '../src/passes/duplicate-blocks.ts';
import { runPasses } from '../src/passes/pass.ts';
import { removeBlocks } from '../src/passes/remove-blocks.ts';
import { relError, run, saveGraph, testSet } from './support/ort.ts';
import { applyPass as apply, inferredGraph } from './support/passes.ts';

const FIXTURE = 'test/fixtures/unet-sd15shape-narrow';
const DIMS = { batch_size: 2, height: 16, width: 16, steps: 2, sequence_length: 77 };
const { feeds } = testSet(`${FIXTURE}/test_data_set_1`);
const fresh = () => inferredGraph(`${FIXTURE}/model.onnx`, DIMS);

/** Replaces a weight's data; `fill(index)` gives each float (default 0). */
function setWeight(g: Graph, name: string, fill: (i: number, dims: number[]) => number = () => 0): void {
  const w = g.weights.find((v) => v.name === name);
  assert.ok(w, `weight ${name}`);
  const dims = w.weight!.dims;
  const n = dims.reduce((a, b) => a * b, 1);
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = fill(i, dims);
  w.weight = { ...w.weight!, data: { kind: 'raw', bytes: new Uint8Array(f.buffer) } };
}

async function output(g: Graph) {
  return (await run(saveGraph(g), feeds)).out_sample;
}

const TOLERANCE = 1e-5;

test('remove-blocks: cross-attention blocks equal the network with them bypassed', async () => {
  const oracle = fresh();
  for (const b of ['down_blocks.0.attentions.0', 'down_blocks.0.attentions.1']) {
    setWeight(oracle, `${b}.proj_out.weight`);
    setWeight(oracle, `${b}.proj_out.bias`);
  }
  const g = fresh();
  apply(g, removeBlocks([{ selector: 'down_blocks.0.attentions.*' }]));
  const names = findBlocks(g).blocks.map((b) => b.name);
  assert.not.ok(names.some((n) => n.startsWith('down_blocks.0.attentions')));
  assert.is(names.length, 46);
  const err = relError(await output(g), await output(oracle));
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
  // and the removal really changed the network
  assert.ok(relError(await output(g), await output(fresh())) > 1e-3);
});

test('remove-blocks: an equal-width ResNet becomes the identity', async () => {
  const oracle = fresh();
  setWeight(oracle, 'down_blocks.3.resnets.1.conv2.weight');
  setWeight(oracle, 'down_blocks.3.resnets.1.conv2.bias');
  const g = fresh();
  apply(g, removeBlocks([{ selector: 'down_blocks.3.resnets.1' }]));
  const err = relError(await output(g), await output(oracle));
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
});

test('remove-blocks: an up-block ResNet passes the hidden state and drops the skip', async () => {
  // Oracle: main path zeroed, 1x1 shortcut = [I | 0] over concat(hidden, skip).
  const oracle = fresh();
  const b = 'up_blocks.1.resnets.0';
  setWeight(oracle, `${b}.conv2.weight`);
  setWeight(oracle, `${b}.conv2.bias`);
  setWeight(oracle, `${b}.conv_shortcut.bias`);
  setWeight(oracle, `${b}.conv_shortcut.weight`, (i, dims) => (Math.floor(i / dims[1]) === i % dims[1] ? 1 : 0));
  const g = fresh();
  const concatsBefore = g.nodes().filter((n) => n.op === 'Concat' && n.scope === 'up_blocks.1').length;
  apply(g, removeBlocks([{ selector: b }]));
  const concatsAfter = g.nodes().filter((n) => n.op === 'Concat' && n.scope === 'up_blocks.1').length;
  assert.is(concatsAfter, concatsBefore - 1, 'the skip concat is gone');
  const err = relError(await output(g), await output(oracle));
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
});

test('remove-blocks: a channel-changing ResNet needs keep_shortcut, then keeps only the projection', async () => {
  const g = fresh();
  const log = new DiagnosticLog();
  assert.not.ok(
    runPasses(
      g,
      [removeBlocks([{ selector: 'down_blocks.1.resnets.0', at: { file: 'r.yaml', line: 4, col: 7 } }])],
      log,
    ),
  );
  assert.equal(log.codes(), ['PD5002']);
  assert.match(formatDiagnostic(log.items[0]), /^r\.yaml:4:7: error PD5002: .*32 → 64.*keep_shortcut: true/);

  const oracle = fresh();
  setWeight(oracle, 'down_blocks.1.resnets.0.conv2.weight');
  setWeight(oracle, 'down_blocks.1.resnets.0.conv2.bias');
  const kept = fresh();
  apply(kept, removeBlocks([{ selector: 'down_blocks.1.resnets.0', keepShortcut: true }]));
  const err = relError(await output(kept), await output(oracle));
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
});

test('remove-blocks: an unknown block gets a did-you-mean', () => {
  const g = fresh();
  const log = new DiagnosticLog();
  assert.not.ok(runPasses(g, [removeBlocks([{ selector: 'down_blocks.0.atentions.1' }])], log));
  assert.equal(log.codes(), ['PD5001']);
  assert.match(log.items[0].message, /did you mean 'down_blocks\.0\.attentions\.1'/);
});

test('duplicate-blocks: the copy follows the block and computes the same function', async () => {
  const b = 'up_blocks.1.attentions.1';
  const zero = (g: Graph, block: string) => {
    setWeight(g, `${block}.proj_out.weight`);
    setWeight(g, `${block}.proj_out.bias`);
  };
  const original = await output(fresh());
  // Copy made identity: the network is unchanged.
  const g1 = fresh();
  apply(g1, duplicateBlocks([{ selector: b }]));
  zero(g1, `${b}+1`);
  assert.ok(relError(await output(g1), original) <= TOLERANCE);
  // Original made identity: the copy alone does the block's work, so again unchanged.
  const g2 = fresh();
  apply(g2, duplicateBlocks([{ selector: b }]));
  zero(g2, b);
  assert.ok(relError(await output(g2), original) <= TOLERANCE);
  // Neither zeroed: a real change.
  const g3 = fresh();
  apply(g3, duplicateBlocks([{ selector: b }]));
  assert.ok(relError(await output(g3), original) > 1e-3);
  const blocks = findBlocks(g3).blocks;
  assert.is(blocks.length, 49);
  const copy = blocks.find((x) => x.name === `${b}+1`)!;
  assert.is(copy.kind, 'cross_attention');
  assert.is(copy.params, blocks.find((x) => x.name === b)!.params);
  assert.ok(
    copy.nodes.every(
      (n) => n.origin.kind === 'pass' && n.origin.pass === 'duplicate-blocks' && n.origin.from.length === 1,
    ),
  );
  assert.ok(copy.weights.every((w) => w.name.startsWith(`${b}+1.`) || w.name.endsWith('+1')));
});

test.run();

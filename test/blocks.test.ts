// The block map on real torch.onnx exports: the blocks found from node scopes
// are exactly the diffusers modules the fixture recorded from the torch module
// tree, with the same kinds and parameter counts.
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { findBlocks } from '../src/blocks/find.ts';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { importGraph } from '../src/ir/import.ts';
import { scopeFromName, scopeFromNameScopes, scopeOf } from '../src/ir/scope.ts';
import { loadModel } from '../src/onnx/model.ts';
import { onnx } from '../src/onnx/proto.ts';
import { decodeModel } from '../src/onnx/proto.ts';
import protobuf from 'protobufjs';

const FIXTURES = [
  'unet-tiny',
  'unet-sd15shape-narrow',
  'vae-decoder-tiny',
  'unet-sd15-graph',
  'vae-decoder-sd15-graph',
];

for (const name of FIXTURES) {
  test(`${name}: blocks equal the diffusers module paths, kinds and params`, () => {
    const dir = `test/fixtures/${name}`;
    const fixture = JSON.parse(fs.readFileSync(`${dir}/fixture.json`, 'utf8'));
    const log = new DiagnosticLog();
    const g = importGraph(loadModel(`${dir}/model.onnx`, log)!, log)!;
    const map = findBlocks(g);
    const found = map.blocks.map((b) => ({ name: b.name, kind: b.kind, params: b.params }));
    const sort = (a: { name: string }[]) => [...a].sort((x, y) => x.name.localeCompare(y.name));
    assert.equal(sort(found), sort(fixture.blocks));
    // Every parameter is owned by some block: none is left to glue.
    assert.is(map.glueWeights.length, 0);
    assert.is(
      found.reduce((s, b) => s + b.params, 0),
      fixture.param_count ?? fixture.params ?? found.reduce((s, b) => s + b.params, 0),
    );
  });
}

test('blocks have entries and exits: a residual block reads and writes activations', () => {
  const log = new DiagnosticLog();
  const g = importGraph(loadModel('test/fixtures/unet-tiny/model.onnx', log)!, log)!;
  const map = findBlocks(g);
  const attn = map.blocks.find((b) => b.name === 'down_blocks.1.attentions.0')!;
  // hidden states in, plus encoder_hidden_states for cross-attention
  assert.ok(attn.entry.some((v) => v.name === 'encoder_hidden_states'));
  assert.is(attn.exit.length, 1);
  const resnet = map.blocks.find((b) => b.name === 'down_blocks.0.resnets.0')!;
  assert.equal(
    resnet.entry.map((v) => v.producer?.scope),
    ['conv_in', 'time_embedding.linear_2'],
  );
  // The TorchScript exporter merged every ResNet's SiLU(temb) into the first
  // one, so this block also exits the shared activation that all later
  // ResNets' time_emb_proj read: removing it must keep that value alive.
  assert.is(resnet.exit.length, 2);
  const shared = resnet.exit.find((v) => v.producer?.op === 'Mul' && v.producer.scope.endsWith('act_1'))!;
  assert.ok(shared.uses.every((u) => u.node.scope.endsWith('time_emb_proj')));
  assert.is(shared.uses.length, 12);
});

test('scopes from TorchScript names', () => {
  assert.is(
    scopeFromName('/down_blocks.1/attentions.0/transformer_blocks.0/attn1/to_q/MatMul'),
    'down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q',
  );
  assert.is(scopeFromName('/Concat'), '');
  assert.is(scopeFromName('Constant_1331'), '');
});

test('scopes from dynamo metadata_props (pkg.torch.onnx.name_scopes)', () => {
  assert.is(
    scopeFromNameScopes(
      "['', 'down_blocks.0', 'down_blocks.0.resnets.0', 'down_blocks.0.resnets.0.conv1', 'convolution']",
    ),
    'down_blocks.0.resnets.0.conv1',
  );
  // A NodeProto carrying metadata_props (field 9, newer than onnx-proto) decodes and yields its scope.
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('x');
  w.uint32((2 << 3) | 2).string('y');
  w.uint32((3 << 3) | 2).string('node_conv_3');
  w.uint32((4 << 3) | 2).string('Conv');
  const entry = onnx.StringStringEntryProto.encode({
    key: 'pkg.torch.onnx.name_scopes',
    value: "['', 'mid_block', 'mid_block.resnets.1', 'mid_block.resnets.1.conv2', 'conv2d']",
  }).finish();
  w.uint32((9 << 3) | 2).bytes(entry);
  const nodeBytes = w.finish();
  const graph = protobuf.Writer.create()
    .uint32((1 << 3) | 2)
    .bytes(nodeBytes)
    .finish();
  const model = protobuf.Writer.create()
    .uint32((7 << 3) | 2)
    .bytes(graph)
    .finish();
  const { model: m, skipped } = decodeModel(model);
  assert.equal(
    skipped.map((s) => s.field),
    [9],
  );
  assert.is(scopeOf(m.graph!.node![0] as never), 'mid_block.resnets.1.conv2');
});

test.run();

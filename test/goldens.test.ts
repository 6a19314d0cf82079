// Golden text of each structural pass: a micro UNet printed before and after
// the pass (test/goldens/<pass>.txt), so a reader can see what the pass does
// to a graph and a change in what it does shows up as a diff in review.
//
//   UPDATE_GOLDENS=1 node --import tsx test/run.ts 'goldens\.test\.ts$'
//
// rewrites them; without it a missing or stale golden fails with a line diff.
// int8/int4 and the QDQ schemes rewrite graphs too; fp16 stands for
// quantize here because it retypes every edge it crosses.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attr, type Attr } from '../src/builder/trace.ts';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import { Graph, type Value } from '../src/ir/graph.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { printGraph } from '../src/ir/print.ts';
import { DataType } from '../src/onnx/dtype.ts';
import { duplicateBlocks } from '../src/passes/duplicate-blocks.ts';
import { foldCfg } from '../src/passes/fold-cfg.ts';
import { gateBlocks } from '../src/passes/gate-blocks.ts';
import { runPasses, type Pass } from '../src/passes/pass.ts';
import { pruneChannels } from '../src/passes/prune-channels.ts';
import { quantize } from '../src/passes/quantize/quantize.ts';
import { removeBlocks } from '../src/passes/remove-blocks.ts';
import { restoreIo, snapshotIo } from '../src/ir/bind.ts';
import { checkGolden, GOLDENS } from './support/golden.ts';
import { run, saveGraph } from './support/ort.ts';

const F32 = DataType.FLOAT;
const I64 = DataType.INT64;
/** Sizes for the symbolic dims, where shape inference, prune or onnxruntime needs them. */
const DIMS = { batch_size: 1, steps: 1, sequence_length: 5 };

/**
 * A UNet cut down to one ResNet and one cross-attention block (no norms, one
 * head, 8 channels, 8×8 latents), scoped and weighted as torch.onnx exports
 * diffusers' UNet: module scopes, state_dict weight names, `onnx::MatMul_N`
 * for the transposed Linear weights. Values get short names (`res.conv1`)
 * where the exporter writes `/down_blocks.0/resnets.0/conv1/Conv_output_0`:
 * each printed line already ends in its scope, and the goldens stay readable.
 * (So a duplicated block's values read `res.conv1+dup`; on a real export they
 * are renamed `/down_blocks.0/resnets.0+1/conv1/Conv_output_0`.)
 *
 *   sample ─ conv_in ─ resnets.0 ─ attentions.0 ─ conv_out ─ out_sample
 *   timestep ─ time_proj ─ time_embedding ┘     │
 *   encoder_hidden_states ──────────────────────┘
 */
function microUnet(): Graph {
  const g = new Graph();
  g.model.opsets = [{ domain: '', version: 14 }];
  const sample = g.addInput('sample', { dtype: F32, shape: ['batch_size', 4, 8, 8] });
  const timestep = g.addInput('timestep', { dtype: I64, shape: ['steps'] });
  const context = g.addInput('encoder_hidden_states', { dtype: F32, shape: ['batch_size', 'sequence_length', 8] });

  let seed = 0;
  // Distinct values per weight, so prune's importance ranking has something to rank.
  const weight = (name: string, dims: number[]) => {
    const f = Float32Array.from(
      { length: dims.reduce((a, b) => a * b, 1) },
      (_, i) => 0.2 * Math.sin(++seed * 0.7 + i * 1.3),
    );
    return g.addWeight(name, { dtype: F32, dims, data: { kind: 'raw', bytes: new Uint8Array(f.buffer) } });
  };
  const ints = (name: string, values: number[]) =>
    g.addWeight(name, {
      dtype: I64,
      dims: [values.length],
      data: { kind: 'raw', bytes: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) },
    });
  let anon = 100;
  const linear = () => weight(`onnx::MatMul_${anon++}`, [8, 8]);

  const names = new Set<string>();
  const op = (type: string, inputs: Value[], scope: string, out: string, attrs: Attr[] = []) => {
    // Node names as the exporter writes them (`/down_blocks.0/resnets.0/conv1/Conv`, then `_1`, …).
    const base = `/${scope.replace(/\.(?!\d)/g, '/')}/${type}`;
    let name = base;
    for (let k = 1; names.has(name); k++) name = `${base}_${k}`;
    names.add(name);
    return g.add(type, inputs, { name, scope, attrs, outputs: [out], origin: { kind: 'onnx', name } }).output();
  };
  const conv = (x: Value, scope: string, out: string, channels: [number, number]) =>
    op(
      'Conv',
      [x, weight(`${scope}.weight`, [channels[1], channels[0], 3, 3]), weight(`${scope}.bias`, [channels[1]])],
      scope,
      out,
      [attr.ints('pads', [1, 1, 1, 1])],
    );
  const silu = (x: Value, scope: string, out: string) =>
    op('Mul', [x, op('Sigmoid', [x], scope, `${out}.sigmoid`)], scope, out);
  const transpose = (x: Value, scope: string, out: string) =>
    op('Transpose', [x], scope, out, [attr.ints('perm', [0, 2, 1])]);

  const t = op('Cast', [timestep], 'time_proj', 't.float', [attr.int('to', F32)]);
  const freqs = op(
    'Mul',
    [op('Unsqueeze', [t, ints('onnx::Unsqueeze_1', [1])], 'time_proj', 't.column'), weight('onnx::Mul_2', [1, 8])],
    'time_proj',
    't.freqs',
  );
  const temb = op(
    'Gemm',
    [
      op('Sin', [freqs], 'time_proj', 't.sin'),
      weight('time_embedding.linear_1.weight', [8, 8]),
      weight('time_embedding.linear_1.bias', [8]),
    ],
    'time_embedding.linear_1',
    'temb',
    [attr.int('transB', 1)],
  );
  const h = conv(sample, 'conv_in', 'h', [4, 8]);

  const r = 'down_blocks.0.resnets.0';
  const c1 = conv(silu(h, `${r}.nonlinearity`, 'res.act1'), `${r}.conv1`, 'res.conv1', [8, 8]);
  const proj = op(
    'Gemm',
    [
      silu(temb, `${r}.nonlinearity`, 'res.temb_act'),
      weight(`${r}.time_emb_proj.weight`, [8, 8]),
      weight(`${r}.time_emb_proj.bias`, [8]),
    ],
    `${r}.time_emb_proj`,
    'res.temb_proj',
    [attr.int('transB', 1)],
  );
  const mixed = op(
    'Add',
    [c1, op('Unsqueeze', [proj, ints('onnx::Unsqueeze_3', [2, 3])], r, 'res.temb_4d')],
    r,
    'res.with_temb',
  );
  const c2 = conv(silu(mixed, `${r}.nonlinearity`, 'res.act2'), `${r}.conv2`, 'res.conv2', [8, 8]);
  const res = op('Add', [h, c2], r, 'res.out');

  const a = 'down_blocks.0.attentions.0';
  const at = `${a}.transformer_blocks.0.attn2`;
  const tokens = transpose(op('Reshape', [res, ints('onnx::Reshape_4', [0, 8, 64])], a, 'attn.flat'), a, 'attn.tokens');
  const q = op('MatMul', [tokens, linear()], `${at}.to_q`, 'attn.q');
  const k = op('MatMul', [context, linear()], `${at}.to_k`, 'attn.k');
  const v = op('MatMul', [context, linear()], `${at}.to_v`, 'attn.v');
  const qk = op('MatMul', [q, transpose(k, at, 'attn.k_t')], at, 'attn.qk');
  const probs = op('Softmax', [op('Mul', [qk, weight('onnx::Mul_5', [])], at, 'attn.scores')], at, 'attn.probs', [
    attr.int('axis', -1),
  ]);
  const o = op('MatMul', [op('MatMul', [probs, v], at, 'attn.pv'), linear()], `${at}.to_out.0`, 'attn.to_out');
  const ob = op('Add', [o, weight(`${at}.to_out.0.bias`, [8])], `${at}.to_out.0`, 'attn.to_out_b');
  const back = op(
    'Reshape',
    [transpose(ob, a, 'attn.channels'), ints('onnx::Reshape_6', [0, 8, 8, 8])],
    a,
    'attn.image',
  );
  const out = conv(op('Add', [back, res], a, 'attn.out'), 'conv_out', 'out_sample', [8, 4]);

  out.type = { dtype: F32, shape: ['batch_size', 4, 8, 8] };
  g.addOutput(out);
  // Shapes as compile leaves them before its passes: inferred at bound sizes, the interface still symbolic.
  const log = new DiagnosticLog();
  const io = snapshotIo(g);
  inferShapes(g, { dims: DIMS }, log);
  restoreIo(g, io);
  assert.is(log.hasErrors, false, log.items.map(formatDiagnostic).join('\n'));
  return g;
}

interface Case {
  pass: string;
  /** How the pass was called, for the golden's header. */
  call: string;
  make: () => Pass;
  /** Value types on every line, where types are what the pass changes. */
  types?: boolean;
}

const CASES: Case[] = [
  {
    pass: 'remove-blocks',
    call: "removeBlocks([{ selector: 'down_blocks.0.attentions.0' }])",
    make: () => removeBlocks([{ selector: 'down_blocks.0.attentions.0' }]),
  },
  {
    pass: 'duplicate-blocks',
    call: "duplicateBlocks([{ selector: 'down_blocks.0.resnets.0' }])",
    make: () => duplicateBlocks([{ selector: 'down_blocks.0.resnets.0' }]),
  },
  {
    pass: 'gate-blocks',
    call: "gateBlocks({ remove: [{ block: 'down_blocks.0.attentions.0' }], copy: ['down_blocks.0.resnets.0'] })",
    make: () =>
      gateBlocks({ remove: [{ block: 'down_blocks.0.attentions.0' }], copy: ['down_blocks.0.resnets.0'] }).pass,
  },
  // Untyped: the body keeps the batch-1 types it was inferred with until compile re-infers at specialize.
  { pass: 'fold-cfg', call: 'foldCfg()', make: () => foldCfg() },
  {
    pass: 'prune-channels',
    call: `pruneChannels([{ selector: 'down_blocks.0.resnets.0', count: 4 }], { dims: ${JSON.stringify(DIMS)} })`,
    make: () => pruneChannels([{ selector: 'down_blocks.0.resnets.0', count: 4 }], { dims: DIMS }),
    types: true,
  },
  {
    pass: 'quantize-fp16',
    call: "quantize([{ scheme: 'fp16' }])",
    make: () => quantize([{ scheme: 'fp16' }]),
    types: true,
  },
];

/** The pass through runPasses (cleanup, toposort, verify after it, as compile runs it); fails the test on any diagnostic. */
function apply(g: Graph, pass: Pass) {
  const log = new DiagnosticLog();
  const records = runPasses(g, [pass], log);
  assert.ok(records, log.items.map(formatDiagnostic).join('\n'));
  assert.equal(log.items.map(formatDiagnostic), [], 'the pass ran without warnings');
  return records[0];
}

function golden(c: Case): string {
  const g = microUnet();
  const before = printGraph(g, { types: c.types });
  const record = apply(g, c.make());
  return [
    `# ${c.pass} on the micro UNet of test/goldens.test.ts, through runPasses.`,
    `# Regenerate: UPDATE_GOLDENS=1 node --import tsx test/run.ts 'goldens\\.test\\.ts$'`,
    `# ${c.call}`,
    `# stats: ${Object.entries(record.stats)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    `# cleanup removed ${record.nodes_removed} nodes, ${record.weights_removed} weights`,
    '',
    '## before',
    before,
    '',
    '## after',
    printGraph(g, { types: c.types }),
    '',
  ].join('\n');
}

for (const c of CASES) {
  test(`golden: ${c.pass}`, () => {
    const file = path.join(GOLDENS, `${c.pass}.txt`);
    const text = golden(c);
    // Two builds of the same graph must print the same, or the golden could never hold.
    assert.fixture(golden(c), text, `${c.pass} prints differently on a second run`);
    checkGolden(file, text);
  });
}

/** Feeds for whatever interface a pass left: symbolic dims from DIMS, floats in [-1, 1), gates at 1. */
function feeds(g: Graph): Record<string, ort.Tensor> {
  return Object.fromEntries(
    g.inputs.map((v) => {
      const dims = (v.type!.shape ?? []).map((d) => (typeof d === 'number' ? d : DIMS[d as keyof typeof DIMS]));
      const n = dims.reduce((a, b) => a * b, 1);
      if (v.type!.dtype === I64)
        return [
          v.name,
          new ort.Tensor(
            'int64',
            BigInt64Array.from({ length: n }, () => 500n),
            dims,
          ),
        ];
      const fill = v.name === 'block_gates' ? () => 1 : (i: number) => Math.sin(i * 0.37);
      return [
        v.name,
        new ort.Tensor(
          'float32',
          Float32Array.from({ length: n }, (_, i) => fill(i)),
          dims,
        ),
      ];
    }),
  );
}

test('the micro UNet and every pass result run in onnxruntime-node', async () => {
  const graphs = [{ name: 'before', g: microUnet() }];
  for (const c of CASES) {
    const g = microUnet();
    apply(g, c.make());
    graphs.push({ name: c.pass, g });
  }
  for (const { name, g } of graphs) {
    const outputs = await run(saveGraph(g), feeds(g));
    const out = outputs.out_sample ?? outputs.noise_pred;
    assert.ok(out, `${name}: outputs ${Object.keys(outputs).join(', ')}`);
    // float32 after fp16 too: keep_io_types (the default) casts the output back.
    assert.equal([out.type, out.dims], ['float32', [1, 4, 8, 8]], name);
    const data = [...(out.data as Float32Array)];
    assert.ok(
      data.every(Number.isFinite) && data.some((x) => x !== 0),
      `${name}: the output is finite and not all zero`,
    );
  }
});

test.run();

// Shape inference against ONNX's own operator tests (Debian's libonnx-testdata,
// onnx 1.12: node, pytorch-operator, pytorch-converted and simple models, opsets
// 1 to 17). Each test's reference outputs give the exact dims and dtype. Every
// model runs twice: with its inputs as graph inputs (sizes that depend on input
// values may stay unknown, but no known dim may be wrong), and with every small
// input turned into a constant (everything exact, and folded values must equal
// the reference outputs).
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog, formatDiagnostic } from '../src/diagnostics.ts';
import type { Graph } from '../src/ir/graph.ts';
import { importGraph } from '../src/ir/import.ts';
import { inferShapes } from '../src/ir/infer/index.ts';
import { RULE_TABLE, ruleKey } from '../src/ir/infer/rules/index.ts';
import { MAX_CONST_ELEMENTS, weightValue } from '../src/ir/infer/tensor-value.ts';
import { loadModel } from '../src/onnx/model.ts';
import { onnx, toNumber, type TensorProto } from '../src/onnx/proto.ts';

const CORPUS = '/usr/share/libonnx-testdata/data';
const FOLDERS = ['node', 'pytorch-operator', 'pytorch-converted', 'simple'];
/** Of the 1,072 models in those folders, at least this many use only operators with a rule. */
const MIN_COVERED = 850;

// onnx 1.12's numpy had no bfloat16: those tests store their bfloat16 inputs
// and outputs as uint16 bits, so the data contradicts the model's own types.
const UNREADABLE_DATA = /BFLOAT16/;

type Mode = 'inputs' | 'constants';

function readPb(file: string): TensorProto {
  return onnx.TensorProto.decode(fs.readFileSync(file)) as TensorProto;
}

/** Why a model is outside this test, or undefined when it is in. */
function skipReason(g: Graph): string | undefined {
  const missing = g.nodes().find((n) => !RULE_TABLE.has(ruleKey(n.domain, n.op)));
  if (missing) return `op ${missing.op}`;
  if (g.nodes().some((n) => n.attrs.some((a) => a.g || a.graphs?.length))) return 'subgraphs';
  if ([...g.inputs, ...g.outputs].some((v) => !v.type?.shape)) return 'non-tensor I/O';
  return undefined;
}

/** Problems with one model in one mode; empty when inference matches the reference. */
function check(dir: string, mode: Mode): string[] | 'skip' {
  const file = path.join(dir, 'model.onnx');
  const set = path.join(dir, 'test_data_set_0');
  const log = new DiagnosticLog();
  const m = loadModel(file, log);
  const g = m && importGraph(m, log);
  if (!g || skipReason(g) || !g.inputs.every((_, k) => fs.existsSync(path.join(set, `input_${k}.pb`)))) return 'skip';
  const dims: Record<string, number> = {};
  for (const [k, v] of [...g.inputs].entries()) {
    const pb = readPb(path.join(set, `input_${k}.pb`));
    const shape = (pb.dims ?? []).map(toNumber);
    v.type!.shape!.forEach((d, i) => typeof d === 'string' && (dims[d] = shape[i]));
    if (mode === 'constants' && shape.reduce((a, b) => a * b, 1) <= MAX_CONST_ELEMENTS) {
      const data = pb.rawData?.length ? { kind: 'raw' as const, bytes: pb.rawData } : { kind: 'typed' as const };
      g.replaceAllUses(v, g.addWeight(`${v.name}_value`, { dtype: pb.dataType ?? 0, dims: shape, data, proto: pb }));
    }
  }
  const { constants } = inferShapes(g, { dims }, log, file);
  const problems = log.items.map(formatDiagnostic);
  g.outputs.forEach((v, k) => {
    const pb = readPb(path.join(set, `output_${k}.pb`));
    const want = (pb.dims ?? []).map(toNumber);
    const got = v.type?.shape;
    const dimsOk =
      got?.length === want.length && got.every((d, i) => d === want[i] || (mode === 'inputs' && typeof d === 'string'));
    if (!dimsOk || v.type?.dtype !== pb.dataType) {
      problems.push(
        `output '${v.name}' infers to ${JSON.stringify(v.type)}, reference is dtype ${pb.dataType} [${want}]`,
      );
    }
    const folded = constants.get(v);
    const ref =
      folded &&
      weightValue({
        dtype: pb.dataType ?? 0,
        dims: want,
        data: pb.rawData?.length ? { kind: 'raw', bytes: pb.rawData } : { kind: 'typed' },
        proto: pb,
      });
    if (folded && ref) {
      // Folding computes in doubles and rounds each op's result to its type; the reference rounds inside ops too.
      const at = folded.data.findIndex(
        (x, i) =>
          !(Object.is(x, ref.data[i]) || Math.abs(x - ref.data[i]) <= 1e-4 * Math.max(1, Math.abs(ref.data[i]))),
      );
      if (at >= 0)
        problems.push(`output '${v.name}' folds to ${folded.data[at]} at ${at}, reference is ${ref.data[at]}`);
    }
  });
  return problems;
}

for (const folder of FOLDERS) {
  test(`onnx ${folder} tests: inferred output dims and dtypes equal the reference outputs`, () => {
    const root = path.join(CORPUS, folder);
    const failures: string[] = [];
    let ran = 0;
    for (const name of fs.readdirSync(root).sort()) {
      if (!fs.existsSync(path.join(root, name, 'test_data_set_0')) || UNREADABLE_DATA.test(name)) continue;
      for (const mode of ['inputs', 'constants'] as const) {
        const r = check(path.join(root, name), mode);
        if (r === 'skip') break;
        ran++;
        if (r.length) failures.push(`${name} (${mode}):\n  ${r.join('\n  ')}`);
      }
    }
    assert.is(failures.length, 0, failures.slice(0, 8).join('\n'));
    console.log(`    ${folder}: ${ran / 2} models × 2 modes match`);
  });
}

test('the corpus is there and most of it has rules', () => {
  let total = 0;
  let covered = 0;
  for (const folder of FOLDERS) {
    for (const name of fs.readdirSync(path.join(CORPUS, folder))) {
      const file = path.join(CORPUS, folder, name, 'model.onnx');
      if (!fs.existsSync(file)) continue;
      total++;
      const log = new DiagnosticLog();
      const m = loadModel(file, log);
      const g = m && importGraph(m, log);
      if (g && !skipReason(g)) covered++;
    }
  }
  assert.ok(total >= 1072, `corpus has ${total} models`);
  assert.ok(covered >= MIN_COVERED, `rules cover ${covered} of ${total} corpus models`);
  console.log(`    rules cover ${covered} of ${total} corpus models`);
});

test.run();

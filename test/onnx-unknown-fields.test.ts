// Nothing is lost: protobuf fields and data types the codec does not know are
// reported as warnings and written back as they were stored.
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeModel, onnx, toNumber, type ModelProto, type TensorProto } from '../src/onnx/proto.ts';
import {
  addModel,
  assertAddRuns,
  convertOk,
  decodeFile,
  EXTERNAL,
  externalEntries,
  floatBytes,
  makeTmp,
  ramp,
} from './support/onnx-io.ts';

const unknown = suite('unknown fields and data types: reported, and kept on save');
const unknownTmp = makeTmp('unknown');
unknown.before(unknownTmp.before);
unknown.after(unknownTmp.after);

const W = ramp(256);

/** One protobuf field, encoded by hand: field number, wire type and value. */
function field(w: protobuf.Writer, no: number, wire: 0 | 1 | 2 | 5, v: number | Uint8Array): protobuf.Writer {
  w.uint32((no << 3) | wire);
  if (wire === 0) w.uint64(v as number);
  else if (wire === 1) w.fixed64(v as number);
  else if (wire === 2) w.bytes(v as Uint8Array);
  else w.fixed32(v as number);
  return w;
}

/** The field numbers (and raw values) of one encoded message, read without onnx-proto. */
function wireFields(bytes: Uint8Array): { no: number; wire: number; value: Uint8Array | number }[] {
  const r = protobuf.Reader.create(bytes);
  const out: { no: number; wire: number; value: Uint8Array | number }[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2) out.push({ no, wire, value: r.bytes() });
    else if (wire === 0) out.push({ no, wire, value: toNumber(r.uint64()) });
    else if (wire === 1) out.push({ no, wire, value: toNumber(r.fixed64()) });
    else if (wire === 5) out.push({ no, wire, value: r.fixed32() });
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}
const TEXT = new TextEncoder().encode('kept by pocketdiff');

unknown('unknown protobuf fields: reported as PD1008 warnings and written back on save', async () => {
  // Y = X + W with W (2 KiB, so it goes external) carrying unknown field 1000 (bytes);
  // the graph carries 1001 (varint) and the model 1002 (fixed64) and 1003 (fixed32).
  const n = 512;
  const w = onnx.TensorProto.create({ name: 'W', dims: [n], dataType: 1, rawData: floatBytes(ramp(n)) } as never);
  const tensor = field(onnx.TensorProto.encode(w), 1000, 2, TEXT).finish();
  const plain = addModel(w as TensorProto, n);
  const graphNoInit = { ...plain.graph!, initializer: [] };
  const graph = field(field(onnx.GraphProto.encode(graphNoInit as never), 5, 2, tensor), 1001, 0, 12345).finish();
  const modelNoGraph = { ...plain };
  delete (modelNoGraph as Partial<ModelProto>).graph;
  const bytes = field(
    field(field(onnx.ModelProto.encode(modelNoGraph as never), 7, 2, graph), 1002, 1, 2 ** 40 + 7),
    1003,
    5,
    0xdeadbeef,
  ).finish();

  const dir = path.join(unknownTmp.state.dir, 'unknown');
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  fs.writeFileSync(model, bytes);
  await assertAddRuns(model, n, ramp(n));

  for (const flags of [['--external-data', 'weights.bin'], ['--inline']]) {
    const out = path.join(dir, flags[0].slice(2), 'model.onnx');
    const r = await convertOk(model, out, ...flags);
    for (const [no, msg] of [
      [1000, 'TensorProto'],
      [1001, 'GraphProto'],
      [1002, 'ModelProto'],
      [1003, 'ModelProto'],
    ]) {
      assert.match(
        r.err,
        new RegExp(
          `^${model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: warning PD1008: unknown protobuf field ${no} in onnx\\.${msg}: kept verbatim`,
          'm',
        ),
      );
    }
    // Read the output back at the wire level, without onnx-proto.
    const top = wireFields(fs.readFileSync(out));
    assert.ok(
      top.some((f) => f.no === 1002 && f.wire === 1 && f.value === 2 ** 40 + 7),
      'model field 1002 kept',
    );
    assert.ok(
      top.some((f) => f.no === 1003 && f.wire === 5 && f.value === 0xdeadbeef),
      'model field 1003 kept',
    );
    const g = wireFields(top.find((f) => f.no === 7)!.value as Uint8Array);
    assert.ok(
      g.some((f) => f.no === 1001 && f.wire === 0 && f.value === 12345),
      'graph field 1001 kept',
    );
    const t = wireFields(g.find((f) => f.no === 5)!.value as Uint8Array);
    const kept = t.find((f) => f.no === 1000);
    assert.ok(kept && Buffer.from(kept.value as Uint8Array).equals(Buffer.from(TEXT)), 'tensor field 1000 kept');
    if (flags[1] === 'weights.bin')
      assert.ok(
        t.some((f) => f.no === 14 /* data_location */ && f.value === EXTERNAL),
        'W went external',
      );
    await assertAddRuns(out, n, ramp(n));
  }
});

unknown('unknown data type (23): reported as PD1009, kept as stored', async () => {
  const n = 256;
  const payload = Uint8Array.from({ length: 2048 }, (_, i) => (i * 7) & 0xff);
  const odd = onnx.TensorProto.create({
    name: 'future',
    dims: [2048],
    dataType: 23,
    rawData: payload,
  } as never) as TensorProto;
  const w = onnx.TensorProto.create({
    name: 'W',
    dims: [n],
    dataType: 1,
    rawData: floatBytes(W),
  } as never) as TensorProto;
  const dir = path.join(unknownTmp.state.dir, 'dtype');
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  fs.writeFileSync(model, encodeModel(addModel(w, n, [odd])));
  const out = path.join(dir, 'out', 'model.onnx');
  const r = await convertOk(model, out, '--external-data', 'weights.bin');
  assert.match(
    r.err,
    /warning PD1009: tensor 'future' has data type 23, which this build does not know; it is kept as stored/,
  );
  const t = decodeFile(out).graph!.initializer!.find((x) => x.name === 'future')! as TensorProto;
  assert.is(t.dataType, 23);
  const e = externalEntries(t);
  const data = fs.readFileSync(path.join(path.dirname(out), e.get('location')!));
  const stored = data.subarray(Number(e.get('offset')), Number(e.get('offset')) + Number(e.get('length')));
  assert.ok(stored.equals(Buffer.from(payload)), 'its bytes are copied unchanged');
  // And back inline.
  const back = path.join(dir, 'back', 'model.onnx');
  await convertOk(out, back, '--inline');
  const b = decodeFile(back).graph!.initializer!.find((x) => x.name === 'future')!;
  assert.ok(Buffer.from(b.rawData!).equals(Buffer.from(payload)));
});

unknown.run();

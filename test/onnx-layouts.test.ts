// unet-tiny stored every way ONNX allows (external files per tensor or collated,
// inline raw_data, typed fields): each loads, runs and converts to the same outputs
// and, in any byte layout, to byte-identical files.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DiagnosticLog } from '../src/diagnostics.ts';
import { loadModel } from '../src/onnx/model.ts';
import { encodeModel, onnx, type TensorProto } from '../src/onnx/proto.ts';
import {
  assertBitwiseEqual,
  convertOk,
  decodeFile,
  EXTERNAL,
  makeTmp,
  runOrt,
  testSets,
  UNET_TINY,
  type TestSet,
} from './support/onnx-io.ts';

// unet-tiny stored every way ONNX allows. Each layout is built from the decoded original.
type LayoutName =
  'one file per tensor' | 'weights.pb' | 'model.onnx_data' | 'model.onnx.data' | 'inline raw_data' | 'typed fields';
const LAYOUTS: LayoutName[] = [
  'one file per tensor',
  'weights.pb',
  'model.onnx_data',
  'model.onnx.data',
  'inline raw_data',
  'typed fields',
];

function writeLayout(dir: string, layout: LayoutName): string {
  fs.mkdirSync(dir, { recursive: true });
  const model = path.join(dir, 'model.onnx');
  if (layout === 'inline raw_data') {
    fs.copyFileSync(UNET_TINY, model);
    return model;
  }
  const proto = decodeFile(UNET_TINY);
  const inits = proto.graph!.initializer as TensorProto[];
  if (layout === 'typed fields') {
    proto.graph!.initializer = inits.map((t) => {
      assert.is(t.dataType, 1, 'unet-tiny initializers are float32');
      const raw = t.rawData!;
      const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      return onnx.TensorProto.create({
        name: t.name,
        dims: t.dims,
        dataType: 1,
        floatData: Array.from(values),
      } as never) as TensorProto;
    });
  } else if (layout === 'one file per tensor') {
    // Every initializer, however small, in its own file under a subfolder; no offset or length keys.
    fs.mkdirSync(path.join(dir, 'tensors'));
    inits.forEach((t, i) => {
      const location = `tensors/${i}.bin`;
      fs.writeFileSync(path.join(dir, location), t.rawData!);
      delete (t as Partial<TensorProto>).rawData;
      t.dataLocation = EXTERNAL;
      t.externalData = [onnx.StringStringEntryProto.create({ key: 'location', value: location })];
    });
  } else {
    // One collated file, tensors packed back to back with a 3-byte gap of junk: offsets
    // are deliberately unaligned, as onnx's own writer leaves them.
    const fd = fs.openSync(path.join(dir, layout), 'w');
    let offset = 0;
    for (const t of inits) {
      const bytes = t.rawData!;
      fs.writeSync(fd, Buffer.from([0xab, 0xcd, 0xef]));
      offset += 3;
      fs.writeSync(fd, bytes);
      delete (t as Partial<TensorProto>).rawData;
      t.dataLocation = EXTERNAL;
      t.externalData = [
        onnx.StringStringEntryProto.create({ key: 'location', value: layout }),
        onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
        onnx.StringStringEntryProto.create({ key: 'length', value: String(bytes.length) }),
      ];
      offset += bytes.length;
    }
    fs.closeSync(fd);
  }
  fs.writeFileSync(model, encodeModel(proto));
  return model;
}

const layouts = suite('layouts: every way to store weights loads, runs and converts');
const layoutsTmp = makeTmp('layouts');
let tinySet: TestSet;
let tinyReference: Float32Array;
layouts.before(async () => {
  layoutsTmp.before();
  tinySet = testSets(path.dirname(UNET_TINY))[0];
  [tinyReference] = await runOrt(UNET_TINY, [tinySet.feeds]);
});
layouts.after(layoutsTmp.after);

for (const layout of LAYOUTS) {
  layouts(
    `unet-tiny as ${layout}: runs as-is and after convert (external, inline) with identical outputs`,
    async () => {
      const dir = path.join(layoutsTmp.state.dir, layout.replace(/ /g, '-'));
      const model = writeLayout(path.join(dir, 'src'), layout);
      const log = new DiagnosticLog();
      const loaded = loadModel(model, log);
      assert.ok(loaded, `loads: ${log.items.map((d) => d.message).join('; ')}`);
      assert.equal(log.items, []);
      const [asIs] = await runOrt(model, [tinySet.feeds]);
      assertBitwiseEqual(asIs, tinyReference, `${layout} as written`);

      const ext = path.join(dir, 'ext', 'model.onnx');
      const inline = path.join(dir, 'inline', 'model.onnx');
      await convertOk(model, ext, '--external-data', 'weights.bin');
      await convertOk(model, inline, '--inline');
      for (const m of [ext, inline]) {
        const [y] = await runOrt(m, [tinySet.feeds]);
        assertBitwiseEqual(y, tinyReference, `${layout} → ${path.basename(path.dirname(m))}`);
      }
      // The inline copy holds no external reference at all.
      const inl = decodeFile(inline);
      assert.ok(inl.graph!.initializer!.every((t) => t.dataLocation !== EXTERNAL && !t.externalData?.length));
    },
  );
}

layouts('the same weights in any byte layout convert to byte-identical files', async () => {
  const base = layoutsTmp.state.dir;
  const outputs: { layout: LayoutName; model: Buffer; data: Buffer }[] = [];
  for (const layout of LAYOUTS.filter((l) => l !== 'typed fields')) {
    const dir = path.join(base, 'same', layout.replace(/ /g, '-'));
    const out = path.join(dir, 'out', 'model.onnx');
    await convertOk(writeLayout(path.join(dir, 'src'), layout), out, '--external-data', 'w.bin');
    outputs.push({ layout, model: fs.readFileSync(out), data: fs.readFileSync(path.join(dir, 'out', 'w.bin')) });
  }
  for (const o of outputs.slice(1)) {
    assert.ok(
      o.model.equals(outputs[0].model),
      `model.onnx from '${o.layout}' equals the one from '${outputs[0].layout}'`,
    );
    assert.ok(o.data.equals(outputs[0].data), `w.bin from '${o.layout}' equals the one from '${outputs[0].layout}'`);
  }
});
layouts.run();

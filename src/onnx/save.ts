// Saving streams weights file to file: each tensor's bytes are copied from
// wherever they live (the source model's buffer, its external file, or a
// generator) straight into the new external file, in a deterministic layout:
// graph order, each tensor at an offset aligned to ALIGN bytes, under a file
// name the caller chose. Both files are written beside their targets as
// `.partial` and renamed only when complete, so a failure leaves nothing half-written.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { mapModelTensors, cloneMessage } from './clone.ts';
import type { TensorData } from './model.ts';
import { encodeModel, onnx, type ModelProto, type TensorProto } from './proto.ts';
import { EXTERNAL, forEachTensor } from './tensors.ts';
import { release, removeScratch, track } from '../scratch.ts';

export const ALIGN = 64;
export const DEFAULT_SIZE_THRESHOLD = 1024;
const MAX_PROTO_BYTES = 2 ** 31 - 1;
// Copy buffer size. 1 MiB, not more: on this project's machines (Linux 6.x, ext4) a
// read/write loop with 2 MiB or larger chunks measured 3-6x slower in wall and CPU time than
// with 128 KiB-1 MiB chunks (1.25 GiB: 1 MiB ~0.5 s CPU, like fs.copyFileSync; 16 MiB ~2 s);
// see bench/run.ts.
const CHUNK = 1 << 20;

/** A model to save: its proto plus where each tensor's bytes live. */
export interface ModelToSave {
  proto: ModelProto;
  data: Map<TensorProto, TensorData>;
}

export interface SaveOptions {
  /** External data file name, relative to the model's folder; null inlines every tensor. */
  externalData: string | null;
  /** Tensors with fewer bytes stay inline. */
  sizeThreshold?: number;
  /** Write the graph and its external-data entries but not the data file (graph-only models). */
  graphOnly?: boolean;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

interface Placement {
  source: TensorProto;
  data: TensorData;
  offset: number;
  length: number;
}

export function saveModel(model: ModelToSave, outPath: string, opts: SaveOptions, log: DiagnosticLog): boolean {
  const at = { file: outPath };
  const threshold = opts.sizeThreshold ?? DEFAULT_SIZE_THRESHOLD;
  const ext = opts.externalData;
  if (ext !== null && !validExternalName(ext)) {
    log.error(
      Code.BadOutputName,
      `external data file name '${ext}' must be a relative path inside the model's folder, without '..'`,
      at,
    );
    return false;
  }

  // Plan first: every check happens before a byte is written.
  const placements: Placement[] = [];
  const inlined = new Map<TensorProto, TensorData>();
  let end = 0;
  let inlineBytes = 0;
  forEachTensor(model.proto, (t) => {
    const d = model.data.get(t) ?? { kind: 'typed' as const };
    if (d.kind === 'typed') return;
    const length = dataLength(d);
    if (ext !== null && length >= threshold) {
      const offset = Math.ceil(end / ALIGN) * ALIGN;
      placements.push({ source: t, data: d, offset, length });
      end = offset + length;
    } else if (d.kind !== 'raw' || t.rawData !== d.bytes) {
      // Raw bytes the proto does not carry yet (a new or copied tensor) get inlined too.
      inlined.set(t, d);
      inlineBytes += length;
    }
  });

  const needed = [...placements.map((p) => p.data), ...inlined.values()];
  if (!opts.graphOnly || inlined.size) {
    const check = opts.graphOnly ? [...inlined.values()] : needed;
    for (const d of check) {
      if (d.kind === 'external' && !d.ref.exists) {
        log.error(
          Code.ExternalMissing,
          `weights file '${d.ref.location}' is missing; cannot save a model whose weights are absent (the graph alone can be inspected)`,
          { file: d.ref.file },
        );
        return false;
      }
    }
  }

  const byTensor = new Map(placements.map((p) => [p.source, p]));
  const proto = mapModelTensors(model.proto, (t) => {
    const p = byTensor.get(t);
    if (p) return externalTensor(t, ext!, p.offset, p.length);
    return t;
  });

  const dir = path.dirname(path.resolve(outPath));
  const dataPath = ext !== null ? path.resolve(dir, ext) : undefined;
  const tmpModel = path.resolve(outPath) + '.partial';
  // No tensor reaches the threshold: no data file (an empty one would only mislead).
  const tmpData = dataPath && placements.length && !opts.graphOnly ? dataPath + '.partial' : undefined;
  const written: string[] = [];
  try {
    fs.mkdirSync(dir, { recursive: true });
    // The data file may sit in a subfolder (`--external-data weights/unet.bin`).
    if (dataPath && !opts.graphOnly) fs.mkdirSync(path.dirname(dataPath), { recursive: true });
    if (tmpData) {
      written.push(track(tmpData));
      writeExternal(tmpData, placements, end, opts.onProgress);
    }
    // Inline tensors that came from elsewhere are read now; their total was checked below.
    let encodedProto = proto;
    if (inlined.size) {
      const estimate = encodeModel(proto).length + inlineBytes;
      if (estimate > MAX_PROTO_BYTES) {
        log.error(
          Code.InlineTooLarge,
          `inlining would make a ${estimate}-byte protobuf; ONNX files are limited to 2 GiB, so save with external data (--external-data FILE)`,
          at,
        );
        cleanup(written);
        return false;
      }
      encodedProto = mapModelTensors(proto, (t) => {
        const d = inlined.get(t);
        return d ? inlineTensor(t, readAll(d)) : t;
      });
    }
    const bytes = encodeModel(encodedProto);
    if (bytes.length > MAX_PROTO_BYTES) {
      log.error(
        Code.InlineTooLarge,
        `the model would be a ${bytes.length}-byte protobuf; ONNX files are limited to 2 GiB, so save with external data`,
        at,
      );
      cleanup(written);
      return false;
    }
    written.push(track(tmpModel));
    fs.writeFileSync(tmpModel, bytes);
    if (tmpData && dataPath) fs.renameSync(tmpData, dataPath);
    fs.renameSync(tmpModel, path.resolve(outPath));
    for (const f of written) release(f);
    return true;
  } catch (e) {
    cleanup(written);
    if (e instanceof SourceTruncated) log.error(Code.ExternalTruncated, e.message, { file: e.file });
    else log.error(Code.WriteFailed, `could not write the model: ${(e as Error).message}`, at);
    return false;
  }
}

function validExternalName(name: string): boolean {
  return name !== '' && !path.isAbsolute(name) && !name.split(/[\\/]/).includes('..');
}

function dataLength(d: TensorData): number {
  switch (d.kind) {
    case 'raw':
      return d.bytes.length;
    case 'external':
      return d.ref.length;
    case 'stream':
      return d.length;
    case 'typed':
      return 0;
  }
}

function externalTensor(t: TensorProto, location: string, offset: number, length: number): TensorProto {
  const c = cloneMessage(t);
  delete (c as Partial<TensorProto>).rawData;
  c.dataLocation = EXTERNAL;
  c.externalData = [
    onnx.StringStringEntryProto.create({ key: 'location', value: location }),
    onnx.StringStringEntryProto.create({ key: 'offset', value: String(offset) }),
    onnx.StringStringEntryProto.create({ key: 'length', value: String(length) }),
  ];
  return c;
}

function inlineTensor(t: TensorProto, bytes: Uint8Array): TensorProto {
  const c = cloneMessage(t);
  c.rawData = bytes;
  delete (c as Partial<TensorProto>).dataLocation;
  c.externalData = [];
  return c;
}

function readAll(d: TensorData): Uint8Array {
  const parts: Uint8Array[] = [];
  copyData(d, (c) => parts.push(Buffer.from(c)));
  return Buffer.concat(parts);
}

/** A source weights file got shorter between load (where its size was checked) and save. */
class SourceTruncated extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.file = file;
  }
}

/** Sends a tensor's bytes to `sink` in chunks of at most CHUNK bytes. */
function copyData(d: TensorData, sink: (chunk: Uint8Array) => void, buf?: Buffer): void {
  if (d.kind === 'raw') return sink(d.bytes);
  if (d.kind === 'stream') return d.write(sink);
  if (d.kind !== 'external') return;
  const b = buf ?? Buffer.allocUnsafe(Math.min(CHUNK, Math.max(d.ref.length, 1)));
  const fd = fs.openSync(d.ref.file, 'r');
  try {
    let done = 0;
    while (done < d.ref.length) {
      const want = Math.min(b.length, d.ref.length - done);
      const n = fs.readSync(fd, b, 0, want, d.ref.offset + done);
      if (n === 0)
        throw new SourceTruncated(
          d.ref.file,
          `external data file '${d.ref.location}' ended before byte ${d.ref.offset + d.ref.length} (truncated while being read?)`,
        );
      sink(b.subarray(0, n));
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function writeExternal(
  file: string,
  placements: Placement[],
  total: number,
  onProgress?: SaveOptions['onProgress'],
): void {
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    let pos = 0;
    const put = (c: Uint8Array) => {
      let off = 0;
      while (off < c.length) off += fs.writeSync(fd, c, off, c.length - off, pos + off);
      pos += c.length;
    };
    for (const p of placements) {
      if (p.offset > pos) put(new Uint8Array(p.offset - pos));
      const start = pos;
      copyData(p.data, put, buf);
      if (pos - start !== p.length)
        throw new Error(`tensor '${p.source.name}' produced ${pos - start} bytes, expected ${p.length}`);
      onProgress?.(pos, total);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function cleanup(files: string[]): void {
  for (const f of files) removeScratch(f);
}

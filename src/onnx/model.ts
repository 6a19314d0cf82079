// Loading an ONNX file: the graph is decoded, weights stay where they are.
// Each tensor gets a lazy handle (raw bytes already in the model buffer, typed
// fields, or a validated range in an external file); nothing reads a weights
// file until a caller asks for that tensor's bytes.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { byteSize, dataTypeName, isKnownDataType } from './dtype.ts';
import { decodeModel, type ModelProto, type TensorProto } from './proto.ts';
import { forEachTensor, isExternal, numel } from './tensors.ts';

export interface ExternalRef {
  /** As written in the model (`weights.pb`). */
  location: string;
  /** Resolved absolute path, checked to stay inside the model's folder. */
  file: string;
  offset: number;
  length: number;
  /** False for graph-only models whose weights file is absent. */
  exists: boolean;
}

export type TensorData =
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'typed' }
  | { kind: 'external'; ref: ExternalRef }
  /** Bytes made on demand (built or rewritten weights), written chunk by chunk. */
  | { kind: 'stream'; length: number; write: (sink: (chunk: Uint8Array) => void) => void };

export interface OnnxModel {
  path: string;
  dir: string;
  proto: ModelProto;
  /** Where each tensor's bytes live; keyed by the TensorProto object itself. */
  data: Map<TensorProto, TensorData>;
}

// protobuf messages over 2 GiB cannot exist; bigger files are not ONNX.
const MAX_PROTO_BYTES = 2 ** 31 - 1;

export interface LoadOptions {
  /**
   * 'optional' (inspect, which reads no weights): a weights file too short
   * for its tensors is a warning and those tensors load as absent, as in a
   * graph-only model. Default 'required': an error.
   */
  weights?: 'required' | 'optional';
}

/** Tensors past the end of one weights file: said once per file. */
interface Short {
  location: string;
  size: number;
  first: { name: string; from: number; to: number; loc: { file: string; node?: string } };
  count: number;
  need: number;
}

export function loadModel(file: string, log: DiagnosticLog, opts: LoadOptions = {}): OnnxModel | undefined {
  const at = { file };
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    log.error(Code.FileNotFound, `model file not found: ${file}`, at);
    return undefined;
  }
  if (!stat.isFile()) {
    log.error(Code.FileNotFound, `not a file: ${file}`, at);
    return undefined;
  }
  if (stat.size > MAX_PROTO_BYTES) {
    log.error(
      Code.ModelTooLarge,
      `model file is ${stat.size} bytes; an ONNX protobuf is at most 2 GiB (weights belong in external data)`,
      at,
    );
    return undefined;
  }
  const bytes = fs.readFileSync(file);
  let proto: ModelProto;
  try {
    const decoded = decodeModel(bytes);
    proto = decoded.model;
    for (const s of decoded.skipped) {
      log.warn(
        Code.UnknownField,
        `unknown protobuf field ${s.field} in ${s.message}: kept verbatim and written back on save`,
        at,
      );
    }
  } catch (e) {
    log.error(
      Code.CorruptModel,
      `not a readable ONNX model (truncated or corrupt protobuf): ${(e as Error).message}`,
      at,
    );
    return undefined;
  }
  if (!proto.graph) {
    log.error(Code.CorruptModel, 'not an ONNX model: it has no graph', at);
    return undefined;
  }
  const dir = path.dirname(path.resolve(file));
  const model: OnnxModel = { path: path.resolve(file), dir, proto, data: new Map() };
  const before = log.errors().length;
  const fileSizes = new Map<string, number | undefined>();
  const short = new Map<string, Short>();
  forEachTensor(proto, (t, where) => {
    const loc = { file, node: where || t.name || undefined };
    if (t.dataType !== undefined && t.dataType !== null && !isKnownDataType(t.dataType)) {
      log.warn(
        Code.UnknownDataType,
        `tensor '${t.name}' has data type ${t.dataType}, which this build does not know; it is kept as stored`,
        loc,
      );
    }
    if (isExternal(t)) {
      const ref = resolveExternal(model, t, fileSizes, short, log, loc);
      if (ref) model.data.set(t, { kind: 'external', ref });
    } else if (Object.prototype.hasOwnProperty.call(t, 'rawData')) {
      model.data.set(t, { kind: 'raw', bytes: t.rawData ?? new Uint8Array(0) });
    } else {
      model.data.set(t, { kind: 'typed' });
    }
  });
  for (const sh of short.values()) {
    const more =
      sh.count > 1
        ? `, and ${sh.count - 1} more tensor${sh.count > 2 ? 's' : ''} lie past its end (it should be at least ${sh.need} bytes)`
        : '';
    const msg = `external data file '${sh.location}' is ${sh.size} bytes, but tensor '${sh.first.name}' needs bytes ${sh.first.from}..${sh.first.to}${more}: a truncated weights file?`;
    if (opts.weights === 'optional')
      log.warn(Code.ExternalTruncated, `${msg} Its tensors are read as absent.`, sh.first.loc);
    else log.error(Code.ExternalTruncated, msg, sh.first.loc);
  }
  return log.errors().length > before ? undefined : model;
}

function resolveExternal(
  model: OnnxModel,
  t: TensorProto,
  fileSizes: Map<string, number | undefined>,
  short: Map<string, Short>,
  log: DiagnosticLog,
  loc: { file: string; node?: string },
): ExternalRef | undefined {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) {
    log.error(Code.BadExternalEntry, `tensor '${t.name}' is marked external but has no 'location'`, loc);
    return undefined;
  }
  if (path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location)) {
    log.error(
      Code.ExternalAbsolutePath,
      `external data location '${location}' is absolute; only paths inside the model's folder are read`,
      loc,
    );
    return undefined;
  }
  if (location.split(/[\\/]/).includes('..')) {
    log.error(
      Code.ExternalParentPath,
      `external data location '${location}' contains '..'; only paths inside the model's folder are read`,
      loc,
    );
    return undefined;
  }
  const file = path.resolve(model.dir, location);
  if (!insideRealDir(model.dir, file)) {
    log.error(
      Code.ExternalEscapes,
      `external data location '${location}' resolves outside the model's folder (through a symlink); refused`,
      loc,
    );
    return undefined;
  }
  const offset = parseField(entries.get('offset'), 0) ?? 0;
  const lengthField = parseField(entries.get('length'), undefined);
  if (Number.isNaN(offset) || (lengthField !== undefined && Number.isNaN(lengthField))) {
    log.error(Code.BadExternalEntry, `tensor '${t.name}' has a non-numeric external offset or length`, loc);
    return undefined;
  }
  if (!fileSizes.has(file)) {
    let size: number | undefined;
    try {
      const st = fs.statSync(file);
      size = st.isFile() ? st.size : undefined;
    } catch {
      size = undefined;
    }
    fileSizes.set(file, size);
  }
  const size = fileSizes.get(file);
  const expected = t.dataType ? byteSize(t.dataType, numel(t)) : undefined;
  const length = lengthField ?? expected ?? (size !== undefined ? size - offset : 0);
  if (expected !== undefined && length !== expected) {
    log.error(
      Code.BadExternalEntry,
      `tensor '${t.name}' declares ${length} bytes of external data, but ${dataTypeName(t.dataType ?? 0)} ${JSON.stringify((t.dims ?? []).map(Number))} needs ${expected}`,
      loc,
    );
    return undefined;
  }
  if (size !== undefined && offset + length > size) {
    const sh = short.get(file);
    if (sh) {
      sh.count++;
      sh.need = Math.max(sh.need, offset + length);
    } else {
      short.set(file, {
        location,
        size,
        first: { name: t.name ?? '', from: offset, to: offset + length, loc },
        count: 1,
        need: offset + length,
      });
    }
    return { location, file, offset, length, exists: false };
  }
  return { location, file, offset, length, exists: size !== undefined };
}

function parseField(v: string | undefined, dflt: number | undefined): number | undefined {
  if (v === undefined || v === '') return dflt;
  return /^\d+$/.test(v) ? Number(v) : NaN;
}

/** True when `file` (or, if absent, its nearest existing ancestor) really lies under `dir`. */
function insideRealDir(dir: string, file: string): boolean {
  const realDir = fs.realpathSync(dir);
  let probe = file;
  let rest = '';
  for (;;) {
    try {
      const real = path.join(fs.realpathSync(probe), rest);
      const rel = path.relative(realDir, real);
      return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    } catch {
      const parent = path.dirname(probe);
      if (parent === probe) return false;
      rest = path.join(path.basename(probe), rest);
      probe = parent;
    }
  }
}

/**
 * The bytes of one tensor's data as stored (raw little-endian), reading external
 * data on demand; logs PD1006/PD1007 when they cannot be had. Typed-field
 * tensors return undefined: their values are in the proto.
 */
export function readTensorBytes(model: OnnxModel, t: TensorProto, log: DiagnosticLog): Uint8Array | undefined {
  const d = model.data.get(t);
  if (d?.kind === 'external' && !d.ref.exists) {
    log.error(
      Code.ExternalMissing,
      `weights file '${d.ref.location}' is missing (needed for tensor '${t.name}'); this model holds its graph only`,
      { file: model.path, node: t.name ?? undefined },
    );
    return undefined;
  }
  const bytes = d && readData(d);
  if (d?.kind === 'external' && !bytes) {
    log.error(Code.ExternalTruncated, `weights file '${d.ref.location}' ended early while reading tensor '${t.name}'`, {
      file: model.path,
      node: t.name ?? undefined,
    });
  }
  return bytes;
}

/**
 * The stored bytes behind a data handle, or undefined for typed fields, an
 * absent weights file or a short read. Never logs: callers decide whether
 * missing bytes are an error (saving) or just unknown (shape inference).
 */
export function readData(d: TensorData): Uint8Array | undefined {
  switch (d.kind) {
    case 'typed':
      return undefined;
    case 'raw':
      return d.bytes;
    case 'stream': {
      const out = new Uint8Array(d.length);
      let at = 0;
      d.write((c) => {
        out.set(c, at);
        at += c.length;
      });
      return out;
    }
    case 'external': {
      if (!d.ref.exists) return undefined;
      const buf = Buffer.allocUnsafe(d.ref.length);
      let fd: number;
      try {
        fd = fs.openSync(d.ref.file, 'r');
      } catch {
        return undefined;
      }
      try {
        let done = 0;
        while (done < d.ref.length) {
          const n = fs.readSync(fd, buf, done, d.ref.length - done, d.ref.offset + done);
          if (n === 0) return undefined;
          done += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      return buf;
    }
  }
}

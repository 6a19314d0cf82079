// onnx-proto's generated codec, made lossless: the generated decoders skip
// fields they do not know (a newer ONNX's additions), which would silently drop
// them on re-save. Every message class is wrapped so skipped fields are kept in
// `$unknown` and written back by the encoder, and each one is reported.
import onnxProto from 'onnx-proto';
import protobuf from 'protobufjs';
import LongImpl from 'long';

export const onnx = onnxProto.onnx;
export type onnx = typeof onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type TypeProto = onnxProto.onnx.ITypeProto;

// protobufjs decodes int64 fields as Long once `long` is loaded; make sure it is.
protobuf.util.Long = LongImpl as never;
type Long = protobuf.Long;
protobuf.configure();

/** A wire field the generated decoder did not know, kept verbatim. */
export interface UnknownField {
  field: number;
  wireType: number;
  value: Long | Uint8Array | number;
}

/** What the decoder skipped: which message type and field number. */
export interface SkippedField {
  message: string;
  field: number;
}

const stack: UnknownField[][] = [];
let skipped: SkippedField[] = [];
const typeStack: string[] = [];

class TrackingReader extends protobuf.Reader {
  private tagPos = 0;
  override uint32(): number {
    this.tagPos = this.pos;
    return super.uint32();
  }
  override skipType(wireType: number): this {
    const top = stack[stack.length - 1];
    const tagStart = this.tagPos;
    // Re-read the tag to learn the field number; the decoder already consumed it.
    const save = this.pos;
    this.pos = tagStart;
    const tag = super.uint32();
    this.pos = save;
    const field = tag >>> 3;
    let value: UnknownField['value'];
    switch (wireType) {
      case 0:
        value = this.uint64();
        break;
      case 1:
        value = this.fixed64();
        break;
      case 2:
        value = this.bytes();
        break;
      case 5:
        value = this.fixed32();
        break;
      default:
        // Groups are deprecated and absent from onnx.proto; refuse rather than guess.
        throw new Error(`unsupported protobuf group field ${field} in ${typeStack[typeStack.length - 1]}`);
    }
    top?.push({ field, wireType, value });
    skipped.push({ message: typeStack[typeStack.length - 1] ?? '?', field });
    return this;
  }
}

function writeUnknown(w: protobuf.Writer, f: UnknownField): void {
  w.uint32(((f.field << 3) | f.wireType) >>> 0);
  switch (f.wireType) {
    case 0:
      w.uint64(f.value as Long);
      break;
    case 1:
      w.fixed64(f.value as Long);
      break;
    case 2:
      w.bytes(f.value as Uint8Array);
      break;
    case 5:
      w.fixed32(f.value as number);
      break;
  }
}

type MessageClass = {
  decode: (r: protobuf.Reader | Uint8Array, len?: number) => object;
  encode: (m: object, w?: protobuf.Writer) => protobuf.Writer;
};

function wrapAll(ns: Record<string, unknown>, prefix: string): void {
  for (const [name, v] of Object.entries(ns)) {
    if (typeof v !== 'function') continue;
    const cls = v as unknown as MessageClass & Record<string, unknown>;
    if (typeof cls.decode !== 'function' || typeof cls.encode !== 'function') continue;
    const fullName = `${prefix}.${name}`;
    const decode = cls.decode;
    const encode = cls.encode;
    cls.decode = function (r, len) {
      stack.push([]);
      typeStack.push(fullName);
      try {
        const m = decode.call(this, r, len) as { $unknown?: UnknownField[] };
        const unknown = stack[stack.length - 1];
        if (unknown.length) Object.defineProperty(m, '$unknown', { value: unknown, enumerable: false, writable: true });
        return m;
      } finally {
        stack.pop();
        typeStack.pop();
      }
    };
    cls.encode = function (m, w) {
      const writer = encode.call(this, m, w);
      const unknown = (m as { $unknown?: UnknownField[] }).$unknown;
      if (unknown) for (const f of unknown) writeUnknown(writer, f);
      return writer;
    };
    wrapAll(cls as Record<string, unknown>, fullName);
  }
}
wrapAll(onnx as unknown as Record<string, unknown>, 'onnx');

/** Decodes a ModelProto; returns the fields that onnx-proto did not know (kept, not dropped). */
export function decodeModel(bytes: Uint8Array): { model: ModelProto; skipped: SkippedField[] } {
  skipped = [];
  const reader = new TrackingReader(bytes);
  const model = onnx.ModelProto.decode(reader) as ModelProto;
  const out = skipped;
  skipped = [];
  return { model, skipped: out };
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** int64 fields arrive as Long; dims and offsets fit in a double. */
export function toNumber(v: number | Long | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : LongImpl.fromValue(v as never).toNumber();
}

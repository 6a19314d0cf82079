// ONNX TensorProto.DataType codes with their element sizes. Sizes are in bits
// so that the 4-bit types (added after onnx 1.12) size correctly.
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
} as const;
export type DataTypeCode = number;

const BITS: Record<number, number> = {
  1: 32,
  2: 8,
  3: 8,
  4: 16,
  5: 16,
  6: 32,
  7: 64,
  9: 8,
  10: 16,
  11: 64,
  12: 32,
  13: 64,
  14: 64,
  15: 128,
  16: 16,
  17: 8,
  18: 8,
  19: 8,
  20: 8,
  21: 4,
  22: 4,
};

// numpy-style names: users write float32, not ONNX's FLOAT.
const NAMES: Record<number, string> = {
  ...Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()])),
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
};

/** Every data type this build knows how to size; others are reported, not guessed. */
export function isKnownDataType(t: number): boolean {
  return t in BITS || t === DataType.STRING;
}

/** Bits per element, or undefined for strings and unknown types. */
export function elementBits(t: number): number | undefined {
  return BITS[t];
}

const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

/** The floating-point types weights and activations come in (not float8, which nothing here computes in). */
export function isFloat(t: number): boolean {
  return FLOATS.has(t);
}

/** Byte size of `count` elements, or undefined for strings and unknown types. */
export function byteSize(t: number, count: number): number | undefined {
  const bits = BITS[t];
  return bits === undefined ? undefined : Math.ceil((bits * count) / 8);
}

export function dataTypeName(t: number): string {
  return NAMES[t] ?? `dtype(${t})`;
}

export function dataTypeFromName(name: string): number | undefined {
  const entry = Object.entries(NAMES).find(([, n]) => n === name.toLowerCase());
  return entry ? Number(entry[0]) : (DataType as Record<string, number>)[name.toUpperCase()];
}

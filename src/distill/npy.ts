// NumPy's .npy format (version 1.0), the tensors of webdataset shards:
//
//   \x93NUMPY 1 0 <u16 header length> {'descr': '<f4', 'fortran_order': False, 'shape': (4, 64, 64), }␣…\n <data, C order>
//
// numpy.load reads what this writes; this reads what numpy.save writes for the
// dtypes shards carry (little-endian float32, float16 as raw bits, int64, int32).

export type NpyDtype = 'float32' | 'float16' | 'int64' | 'int32';

const DESCR: Record<NpyDtype, string> = { float32: '<f4', float16: '<f2', int64: '<i8', int32: '<i4' };
const SIZE: Record<NpyDtype, number> = { float32: 4, float16: 2, int64: 8, int32: 4 };
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** Little-endian bytes in C order. */
  data: Uint8Array;
}

export function encodeNpy(a: NpyArray): Buffer {
  const count = a.shape.reduce((x, y) => x * y, 1);
  if (a.data.byteLength !== count * SIZE[a.dtype])
    throw new Error(`npy: ${a.data.byteLength} bytes for ${a.dtype} [${a.shape.join(', ')}]`);
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${DESCR[a.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads so the data starts at a multiple of 64 bytes, ending the header with \n.
  const used = MAGIC.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (used % 64)) % 64) + '\n';
  const head = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(head);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), a.data]);
}

/** Parses a .npy file; throws with the reason when it is not one this reads. */
export function decodeNpy(bytes: Uint8Array): NpyArray {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new Error('not a .npy file (no \\x93NUMPY magic)');
  const major = b[6]!;
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = b.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  // '=' is native order, little-endian on every machine pocketdiff runs on.
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((k) => DESCR[k] === descr?.replace(/^=/, '<'));
  if (!dtype) throw new Error(`dtype ${descr} (this reads ${Object.values(DESCR).join(', ')})`);
  if (fortran !== 'False') throw new Error('Fortran-ordered arrays are not read');
  const shape = (shapeText ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((x, y) => x * y, 1);
  const data = b.subarray(start + headerLen);
  if (data.length !== count * SIZE[dtype])
    throw new Error(`${data.length} data bytes for ${dtype} [${shape.join(', ')}]`);
  return { dtype, shape, data: new Uint8Array(data) };
}

export const float32Npy = (values: Float32Array, shape: number[]): NpyArray => ({
  dtype: 'float32',
  shape,
  data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
});

export function npyFloat32(a: NpyArray): Float32Array {
  if (a.dtype !== 'float32') throw new Error(`expected float32, not ${a.dtype}`);
  return new Float32Array(a.data.slice().buffer);
}

/** Integer values (int64 or int32) as numbers: token ids. */
export function npyInts(a: NpyArray): number[] {
  if (a.dtype === 'int64') return Array.from(new BigInt64Array(a.data.slice().buffer), Number);
  if (a.dtype === 'int32') return Array.from(new Int32Array(a.data.slice().buffer));
  throw new Error(`expected int64 or int32, not ${a.dtype}`);
}

// Host arrays to onnxruntime tensors and back, in the dtypes SD exports use
// (fp32 and fp16 activations, int64 or int32 ids and timesteps).
import * as ort from 'onnxruntime-node';
import { fromHalf, toHalf } from '../onnx/half.ts';

export type Data = Float32Array | number[];

export function tensor(dtype: string, data: Data, dims: number[]): ort.Tensor {
  switch (dtype) {
    case 'float32':
      return new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
    case 'float16':
      return new ort.Tensor('float16', Uint16Array.from(data, toHalf), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(data, (x) => BigInt(Math.round(x))), dims);
    case 'int32':
      return new ort.Tensor('int32', Int32Array.from(data, Math.round), dims);
    default:
      throw new Error(`unsupported input dtype ${dtype}`);
  }
}

export function floats(t: ort.Tensor): Float32Array {
  // A copy: an output's buffer can go with its session.
  if (t.type === 'float32') return (t.data as Float32Array).slice();
  if (t.type === 'float16') return Float32Array.from(t.data as Uint16Array, fromHalf);
  throw new Error(`unsupported output dtype ${t.type}`);
}


// The recipe's baked unconditional embedding (guidance.uncond.baked): a
// TensorProto .pb of float32 [1, 77, C], read by compile (fold-cfg bakes it
// into the UNet) and by evolve (its sampling loop guides with it).
import fs from 'node:fs';
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import { dataTypeName } from '../onnx/dtype.ts';
import { onnx, toNumber } from '../onnx/proto.ts';

/** A TensorProto .pb file holding float32 data (the unconditional embedding). */
export function readEmbedding(
  file: string,
  log: DiagnosticLog,
  at: Location,
): { data: Float32Array; dims: number[] } | undefined {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    log.error(Code.RecipeFileMissing, `baked unconditional embedding not found: ${file}`, at);
    return undefined;
  }
  try {
    const t = onnx.TensorProto.decode(bytes);
    const dims = (t.dims ?? []).map(toNumber);
    const raw = t.rawData?.length ? t.rawData : undefined;
    const data = raw
      ? new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
      : Float32Array.from(t.floatData ?? []);
    if (t.dataType !== 1 || dims.length !== 3 || data.length !== dims.reduce((a, b) => a * b, 1)) {
      log.error(
        Code.RecipeValue,
        `${file} must hold a float32 tensor [1, 77, C], not ${dataTypeName(t.dataType ?? 0)} [${dims.join(', ')}]`,
        at,
      );
      return undefined;
    }
    return { data, dims };
  } catch (e) {
    log.error(Code.RecipeValue, `${file} is not a TensorProto (.pb): ${(e as Error).message}`, at);
    return undefined;
  }
}

// quantize: the recipe's `quantize:`, per model and per block selector.
//
//   fp16    float16 compute and weights; normalization and softmax stay float32
//           (blocklist); keep_io_types keeps inputs and outputs float32
//   int8    weight-only, per output channel, symmetric, through DequantizeLinear
//   int4    weight-only, blocks of block_size along the reduction axis: opset-21
//           blocked DequantizeLinear ('dq', Conv and MatMul), or MatMulNBits for
//           MatMul ('matmulnbits'; Conv still takes the blocked DequantizeLinear).
//           The model's first and last weighted layers stay int8 per channel
//           (keep_int8, default [first, last]; ends.ts says which and why): the
//           stats count them (int8_kept) and the scheme reads 'int4+int8'
//   w8a16   int8 per-channel weights and 16-bit activations (QDQ, uint16 at
//           opset 21), with ranges calibrated in onnxruntime-node
//   w8a8    int8 per-channel weights and 8-bit activations (QDQ, uint8), likewise
//
// Where selectors overlap, the narrowest decides a node's scheme. w8a16 and
// w8a8 need their ranges before the pass runs, because calibration is
// asynchronous:
//
//   const prepared = await prepareQuantize(g, specs, log);   // runs the model (w8a16, w8a8)
//   runPasses(g, [quantize(specs, prepared)], log);
import { findBlocks } from '../../blocks/find.ts';
import { Code } from '../../codes.ts';
import type { DiagnosticLog, Location } from '../../diagnostics.ts';
import type { Graph, Node, Value } from '../../ir/graph.ts';
import { QUANTIZE_SCHEMES, type QuantizeScheme } from '../../precision.ts';
import type { Pass } from '../pass.ts';
import { narrowest, resolveSelector, type NodeSelector } from '../../blocks/selector.ts';
import { hasBytes } from '../../ir/weight-io.ts';
import { activationTargets, insertQdq, type ActivationBits, type ActivationRanges } from './activations.ts';
import { calibrate, type CalibrationOptions } from './calibrate.ts';
import { modelEnds, type ModelEnd } from './ends.ts';
import { convertToFloat16, DEFAULT_FP16_BLOCKLIST } from './fp16.ts';
import { upgradeToOpset21 } from './opset.ts';
import { matMulNBits, quantizeInt4Blocked, quantizeInt8, weightSlot, type Quantized } from './weights.ts';

export type QuantScheme = QuantizeScheme;
export const QUANT_SCHEMES: readonly QuantScheme[] = QUANTIZE_SCHEMES;
/** Schemes with integer activations (QDQ pairs calibrated in onnxruntime-node), and their bits. */
const ACTIVATION_BITS: Partial<Record<QuantScheme, ActivationBits>> = { w8a16: 16, w8a8: 8 };

export interface QuantizeSpec {
  scheme: QuantScheme;
  /** Block names or module paths with globs; default '*' (the whole model). */
  selector?: string;
  /** fp16: op types kept float32 (default DEFAULT_FP16_BLOCKLIST); other schemes: op types left unquantized (default none). */
  blocklist?: string[];
  /** fp16: inputs and outputs stay float32 (default true). */
  keepIoTypes?: boolean;
  /** int4: elements per block along the reduction axis, a power of two from 16 to 256 (default 32). */
  blockSize?: number;
  /** int4: 'dq' (opset-21 blocked DequantizeLinear, default) or 'matmulnbits' (com.microsoft.MatMulNBits for MatMul). */
  int4Format?: 'dq' | 'matmulnbits';
  /** int4: the model's ends whose layers (within this spec's selection) stay int8 per channel (default DEFAULT_KEEP_INT8; [] for int4 throughout). */
  keepInt8?: ModelEnd[];
  /** w8a16, w8a8: where calibration samples come from (default 4 seeded random samples). */
  calibration?: CalibrationOptions;
  at?: Location;
}

/** What prepareQuantize computed: activation ranges for w8a16 and w8a8 (absent for other schemes). */
export interface QuantizePrepared {
  ranges?: ActivationRanges;
}

export type { ActivationRanges, CalibrationOptions, ModelEnd };
export { DEFAULT_FP16_BLOCKLIST };

/**
 * int4 keeps the layers reading the model inputs and the one writing its output
 * at int8: on the fixtures they are among the most sensitive layers and the
 * smallest (ends.ts).
 */
export const DEFAULT_KEEP_INT8: readonly ModelEnd[] = ['first', 'last'];

/**
 * The scheme string a manifest records: 'fp16', 'int4', or a '+'-joined mix
 * ('int4+fp16'). `int8Kept`: int4 layers were kept at int8 (keep_int8), so
 * the mix names int8 too ('int4+int8'), as the quantize pass's stats do.
 */
export function quantizationScheme(specs: readonly QuantizeSpec[], int8Kept = false): string | undefined {
  const s = [...new Set([...specs.map((x) => x.scheme), ...(int8Kept ? ['int8' as const] : [])])];
  return s.length ? s.join('+') : undefined;
}

interface Plan {
  selectors: (NodeSelector | undefined)[];
  specOf: (n: Node) => QuantizeSpec | undefined;
  /** The scheme a node's weight gets: its spec's, or int8 for an int4 layer at a kept model end. */
  schemeOf: (n: Node) => QuantScheme | undefined;
}

function plan(g: Graph, specs: QuantizeSpec[], log: DiagnosticLog): Plan | undefined {
  const before = log.errors().length;
  for (const s of specs) {
    if (!QUANT_SCHEMES.includes(s.scheme))
      log.error(
        Code.QuantizeScheme,
        `unknown quantization scheme '${s.scheme}'; use one of ${QUANT_SCHEMES.join(', ')}`,
        s.at,
      );
    const bs = s.blockSize ?? 32;
    if (s.scheme === 'int4' && !(bs >= 16 && bs <= 256 && (bs & (bs - 1)) === 0))
      log.error(Code.QuantizeBlockSize, `int4 block_size ${bs} must be a power of two from 16 to 256`, s.at);
    for (const e of s.keepInt8 ?? [])
      if (e !== 'first' && e !== 'last')
        log.error(Code.QuantizeScheme, `keep_int8 takes 'first' and 'last', not '${e}'`, s.at);
  }
  const integer = specs.filter((s) => ACTIVATION_BITS[s.scheme]);
  if (integer.length && specs.some((s) => s.scheme === 'fp16')) {
    log.error(
      Code.QuantizeScheme,
      `${integer[0].scheme} and fp16 cannot be mixed in one model: ${integer[0].scheme} keeps float32 between its QDQ pairs`,
      specs.find((s) => s.scheme === 'fp16')!.at,
    );
  }
  if (new Set(integer.map((s) => s.scheme)).size > 1) {
    log.error(
      Code.QuantizeScheme,
      'w8a16 and w8a8 cannot be mixed in one model: its activations are quantized at one width',
      integer[1].at,
    );
  }
  if (log.errors().length > before) return undefined;
  const map = findBlocks(g);
  const selectors = specs.map((s) => resolveSelector(g, s.selector ?? '*', log, s.at, map));
  if (selectors.some((s) => !s)) return undefined;
  const memo = new Map<Node, QuantizeSpec | undefined>();
  const specOf = (n: Node) => {
    if (!memo.has(n)) {
      const i = narrowest(selectors, [n]);
      memo.set(n, i < 0 ? undefined : specs[i]);
    }
    return memo.get(n);
  };
  // Found now, on the graph as given: the pass's own DequantizeLinear nodes must not move the ends.
  const ends = specs.some((s) => s.scheme === 'int4') ? modelEnds(g) : undefined;
  const schemeOf = (n: Node) => {
    const s = specOf(n);
    if (s?.scheme !== 'int4') return s?.scheme;
    return (s.keepInt8 ?? DEFAULT_KEEP_INT8).some((e) => ends![e].has(n)) ? 'int8' : 'int4';
  };
  return { selectors, specOf, schemeOf };
}

const blocked = (spec: QuantizeSpec | undefined, n: Node) =>
  !!spec && (spec.blocklist ?? (spec.scheme === 'fp16' ? DEFAULT_FP16_BLOCKLIST : [])).includes(n.op);

/** Ops whose float activations get QDQ pairs: those under a w8a16 or w8a8 spec. */
function activationCovered(p: Plan): (n: Node) => boolean {
  return (n) => {
    const s = p.specOf(n);
    return !!s && !!ACTIVATION_BITS[s.scheme] && !blocked(s, n);
  };
}

/**
 * The asynchronous step before the pass: for w8a16 and w8a8, runs the model
 * in onnxruntime-node on the calibration samples and records activation
 * ranges. Call it on the graph exactly as the quantize pass will see it.
 */
export async function prepareQuantize(
  g: Graph,
  specs: QuantizeSpec[],
  log: DiagnosticLog,
): Promise<QuantizePrepared | undefined> {
  const w = specs.find((s) => ACTIVATION_BITS[s.scheme]);
  if (!w) return {};
  const p = plan(g, specs, log);
  if (!p) return undefined;
  const ranges = await calibrate(g, activationTargets(g, activationCovered(p)), w.calibration ?? {}, log, w.at);
  return ranges ? { ranges } : undefined;
}

export function quantize(specs: QuantizeSpec[], prepared: QuantizePrepared = {}): Pass {
  return {
    name: 'quantize',
    run(g, log) {
      const p = plan(g, specs, log);
      if (!p) return undefined;
      const covered = activationCovered(p);
      const act = specs.find((s) => ACTIVATION_BITS[s.scheme]);
      const bits = act && ACTIVATION_BITS[act.scheme]!;
      const targets = act ? activationTargets(g, covered) : [];
      if (targets.length && !prepared.ranges) {
        log.error(
          Code.CalibrationMissing,
          `${act!.scheme} needs activation ranges: run prepareQuantize (it calibrates in onnxruntime-node) before the quantize pass`,
          act!.at,
        );
        return undefined;
      }
      // Blocked int4 and uint16 activations are opset-21 DequantizeLinear; uint8 QDQ is opset 13.
      const needs21 = g.nodes().some((n) => {
        const s = p.specOf(n);
        return (
          (p.schemeOf(n) === 'int4' &&
            weightSlot(n) &&
            !blocked(s, n) &&
            !(s!.int4Format === 'matmulnbits' && n.op === 'MatMul')) ||
          (s?.scheme === 'w8a16' && targets.length > 0)
        );
      });
      if (needs21 && !upgradeToOpset21(g, log, specs.find((s) => s.scheme === 'int4' || s.scheme === 'w8a16')?.at))
        return undefined;

      const stats = { weights_quantized: 0, int8_kept: 0, weight_bytes_before: 0, weight_bytes_after: 0, absent: 0 };
      const done = new Map<string, Value>();
      for (const n of [...g.nodes()]) {
        const s = p.specOf(n);
        if (!s || s.scheme === 'fp16' || blocked(s, n)) continue;
        const slot = weightSlot(n);
        if (!slot) continue;
        const v = n.inputs[slot.index]!;
        if (!hasBytes(v.weight!)) stats.absent++;
        const scheme = p.schemeOf(n)!;
        let q: Quantized | undefined;
        if (scheme === 'int4' && s.int4Format === 'matmulnbits' && n.op === 'MatMul') {
          q = matMulNBits(g, n, s.blockSize ?? 32);
        } else {
          const key = `${v.id}:${scheme}:${slot.out}:${slot.reduce}`;
          const hit = done.get(key);
          if (hit) {
            g.setInput(n, slot.index, hit);
            continue;
          }
          q = scheme === 'int4' ? quantizeInt4Blocked(g, v, slot, s.blockSize ?? 32) : quantizeInt8(g, v, slot);
          done.set(key, q.value);
          g.setInput(n, slot.index, q.value);
        }
        if (scheme !== s.scheme) stats.int8_kept++;
        stats.weights_quantized++;
        stats.weight_bytes_before += q.bytesBefore;
        stats.weight_bytes_after += q.bytesAfter;
      }
      if (stats.absent) {
        log.warn(
          Code.QuantizeAbsentWeights,
          `${stats.absent} weight${stats.absent > 1 ? 's are' : ' is'} absent (graph-only model): the quantized graph is written, its weights stay absent`,
        );
      }

      let qdq = 0;
      if (targets.length) {
        const r = insertQdq(g, targets, prepared.ranges!, covered, bits!);
        if (r.missing.length) {
          log.error(
            Code.CalibrationMissing,
            `calibration has no range for ${r.missing.length} activation${r.missing.length > 1 ? 's' : ''} (first '${r.missing[0]}'): was it run on this graph?`,
            act!.at,
          );
          return undefined;
        }
        qdq = r.pairs;
      }

      const fp16Specs = specs.filter((s) => s.scheme === 'fp16');
      const half = fp16Specs.length
        ? convertToFloat16(
            g,
            (n) => {
              const s = p.specOf(n);
              return s?.scheme === 'fp16' && !blocked(s, n);
            },
            fp16Specs.every((s) => s.keepIoTypes ?? true),
          )
        : undefined;
      if (!stats.weights_quantized && !qdq && !half?.nodes) {
        log.warn(
          Code.QuantizeNothing,
          `quantize (${quantizationScheme(specs)}) found nothing to quantize in the selection`,
          specs[0]?.at,
        );
      }
      return {
        stats: {
          scheme: quantizationScheme(specs, stats.int8_kept > 0) ?? 'none',
          weights_quantized: stats.weights_quantized,
          ...(stats.int8_kept ? { int8_kept: stats.int8_kept } : {}),
          weight_bytes_before: stats.weight_bytes_before + (half?.bytesBefore ?? 0),
          weight_bytes_after: stats.weight_bytes_after + (half?.bytesAfter ?? 0),
          ...(half ? { fp16_nodes: half.nodes, fp16_casts: half.casts, fp16_weights: half.weights } : {}),
          ...(qdq
            ? {
                activation_qdq_pairs: qdq,
                calibration_samples: prepared.ranges!.samples,
                calibration_source: prepared.ranges!.source,
              }
            : {}),
          opset: g.opset('') ?? 0,
        },
      };
    },
  };
}

// Comparing built models with the real torch.onnx exports in test/fixtures.
//
// canonicalLines: one line per node (name, op, attributes, inputs), where an
// input names the node that produced it (or the graph input / named weight),
// an anonymous weight (`onnx::MatMul_3666`) shows as its shape and an
// exporter-made Constant (`Constant_167`) as its value. Equal lines mean the
// same graph up to those anonymous numbers.
import fs from 'node:fs';
import path from 'node:path';
import { findBlocks } from '../../src/blocks/find.ts';
import { DEFAULT_BUILD, planModel, writeModel } from '../../src/builder/build.ts';
import { DiagnosticLog, formatDiagnostic } from '../../src/diagnostics.ts';
import type { Graph, Node, Value } from '../../src/ir/graph.ts';
import { toNumber, type AttributeProto } from '../../src/onnx/proto.ts';
import { floats, runOnce, type Feeds, type Tensor } from '../../src/runtime/ort.ts';
import { loadGraph } from './ort.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const TEST_CONFIGS = path.join(ROOT, 'models', 'test');

export function fixtureJson(name: string): Record<string, any> {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'fixture.json'), 'utf8'));
}

export { loadGraph };

const anonymous = (name: string) => name.startsWith('onnx::') || /^Constant_\d+$/.test(name);

export function canonicalLines(g: Graph): string[] {
  return g
    .nodes()
    .map(
      (n) =>
        `${anonymous(n.name) ? 'Constant_#' : n.name} ${n.op}(${n.inputs.map(ref).join(', ')}) ${n.attrs.map(attrText).join(' ')}`,
    );
}

/** Line pairs that differ beyond float rounding (numbers compared to 1e-5 relative). */
export function lineDiffs(a: string[], b: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (!sameLine(a[i] ?? '', b[i] ?? ''))
      out.push(`#${i}\n  built:   ${a[i]?.slice(0, 300)}\n  fixture: ${b[i]?.slice(0, 300)}`);
    if (out.length >= 5) break;
  }
  return out;
}

const NUM = /-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g;

function sameLine(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.replace(NUM, '#') !== b.replace(NUM, '#')) return false;
  const x = a.match(NUM) ?? [];
  const y = b.match(NUM) ?? [];
  return (
    x.length === y.length &&
    x.every((s, i) => {
      const p = Number(s);
      const q = Number(y[i]);
      return p === q || Math.abs(p - q) <= 1e-5 * Math.max(Math.abs(p), Math.abs(q));
    })
  );
}

function ref(v: Value | undefined): string {
  if (!v) return "''";
  if (v.weight) return anonymous(v.name) ? `W[${v.weight.dims.join('x')}]` : `${v.name}[${v.weight.dims.join('x')}]`;
  const p: Node | undefined = v.producer;
  if (!p) return v.name;
  if (anonymous(p.name)) return `K(${p.attrs.map(attrText).join(' ')})`;
  return `${p.name}#${p.outputs.indexOf(v)}`;
}

const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(7));

function attrText(a: AttributeProto): string {
  const name = a.name ?? '';
  switch (a.type) {
    case 1:
      return `${name}=${num(a.f ?? 0)}`;
    case 2:
      return `${name}=${toNumber(a.i as never)}`;
    case 3:
      return `${name}="${Buffer.from(a.s ?? []).toString()}"`;
    case 7:
      return `${name}=[${(a.ints ?? []).map((x) => toNumber(x as never)).join(',')}]`;
    case 4: {
      const t = a.t!;
      const raw = Buffer.from(t.rawData ?? []);
      const vals: string[] = [];
      if (t.dataType === 7) for (let i = 0; i + 8 <= raw.length; i += 8) vals.push(String(raw.readBigInt64LE(i)));
      else if (t.dataType === 1) for (let i = 0; i + 4 <= raw.length; i += 4) vals.push(num(raw.readFloatLE(i)));
      else vals.push(...[...raw].map(String));
      return `${name}=T${t.dataType}[${(t.dims ?? []).map((d) => toNumber(d as never)).join('x')}]{${vals.join(',')}}`;
    }
    default:
      return `${name}:?`;
  }
}

/** Bookkeeping ops left out of the per-block compute histogram. */
export const BOOKKEEPING = new Set(['Constant', 'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Cast']);

/** Per block (findBlocks: the block whose path prefixes a node's scope), op type → count of compute ops. */
export function blockHistograms(g: Graph): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const b of findBlocks(g).blocks) {
    const h: Record<string, number> = {};
    for (const n of b.nodes) if (!BOOKKEEPING.has(n.op)) h[n.op] = (h[n.op] ?? 0) + 1;
    out[b.name] = Object.fromEntries(Object.entries(h).sort(([a], [b]) => a.localeCompare(b)));
  }
  return out;
}

export type { Feeds };

export function runModel(file: string, feeds: Feeds, optimize = false): Promise<Record<string, Tensor>> {
  return runOnce(file, feeds, { graphOptimizationLevel: optimize ? 'all' : 'disabled' });
}

/** Deterministic inputs in [-1, 1). */
export function uniform(n: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647) * 2 - 1;
  });
}

/** Output values as numbers (float32 or float16 tensors). */
export function values(t: Tensor): number[] {
  return Array.from(floats(t));
}

/** The tiny CLIP text encoder (models/test/text-encoder-tiny.json) built with weights into `dir`: its model.onnx. */
export function tinyTextEncoder(dir: string): string {
  return buildTestConfig('text-encoder-tiny', dir);
}

/**
 * The tiny CLIP towers (models/test/clip-text-tiny.json, clip-vision-tiny.json: CLIPTextModelWithProjection
 * and CLIPVisionModelWithProjection with one projection_dim) built with weights into `dir`: their model.onnx.
 */
export function tinyClipTowers(dir: string): { text: string; vision: string } {
  return { text: buildTestConfig('clip-text-tiny', dir), vision: buildTestConfig('clip-vision-tiny', dir) };
}

/** models/test/<name>.json built with the default options (random weights, seed 0) into `dir/<name>`. */
export function buildTestConfig(name: string, dir: string): string {
  return buildConfigFile(path.join(TEST_CONFIGS, `${name}.json`), path.join(dir, name));
}

/** A config.json built with the default options (random weights, seed 0) into `dir`: its model.onnx. */
export function buildConfigFile(config: string, dir: string): string {
  const log = new DiagnosticLog();
  const plan = planModel(config, log);
  const file = plan && writeModel(plan, dir, { ...DEFAULT_BUILD }, log);
  if (!file) throw new Error(log.items.map(formatDiagnostic).join('\n'));
  return file;
}

// npm run bench — `pocketdiff convert` of a model with 1.25 GiB of external weights
// (BENCH_TENSORS=13 gives 3.25 GiB, the size of the fp32 SD-v1.5 UNet's),
// against a plain copy of its weights file (fs.copyFileSync and cp), in the same run.
//
//   targets: convert ≤ 1.5 × copy time; convert's peak RSS ≤ 1 GiB above an idle node.
//
// The model is generated once into $POCKETDIFF_BENCH_DIR (default: <tmpdir>/pocketdiff-bench)
// and reused: five float32 initializers of 256 MiB of pseudo-random bytes (AES-CTR
// keystream, so every run benchmarks the same bytes) packed back to back in weights.pb at
// unaligned offsets, the way onnx's own writer leaves them, so convert has to re-lay them out.
//
// The page cache is not dropped (that is a machine-wide write to /proc/sys/vm/drop_caches,
// not something a benchmark may do to a shared machine). Instead every method gets one
// untimed warm-up run, then the methods alternate (copyFileSync, cp, convert, a node read/write loop, and
// `pocketdiff convert --help` for convert's startup cost) for BENCH_ROUNDS rounds (default 3), so all read
// a warm source and write into the cache alike. Each output is deleted right after its run.
// Timings on a busy 2-core machine are noisy: the load average is printed and recorded, and
// CPU seconds (user + sys) are reported beside wall time.
//
// Then, one after the other, the benches in bench/*.ts: fold-cfg, evolve, queue, cost,
// recipe-check, local-cpu, distill-targets. `npm run bench -- NAME…` runs only the named ones (convert is this one).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeModel, encodeModel, onnx } from '../src/onnx/proto.ts';
import { benchFoldCfg } from './fold-cfg.ts';
import { benchCost } from './cost.ts';
import { benchDistillTargets } from './distill-targets.ts';
import { benchEvolve } from './evolve.ts';
import { benchLocalCpu } from './local-cpu.ts';
import { benchQueue } from './queue.ts';
import { benchRecipeCheck } from './recipe-check.ts';
import { median } from './stats.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'pocketdiff.js');
const DIR = process.env.POCKETDIFF_BENCH_DIR ?? path.join(os.tmpdir(), 'pocketdiff-bench');
const RESULTS = path.join(ROOT, 'bench', 'results.json');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TENSORS = Number(process.env.BENCH_TENSORS ?? 5);
const TENSOR_BYTES = 256 << 20;
const GAP = 3; // bytes between tensors in the source file: offsets are deliberately unaligned
const TIME = '/usr/bin/time';
const RATIO_TARGET = 1.5;
const RSS_TARGET_BYTES = 1 << 30;

const SPEC = { version: 1, tensors: TENSORS, tensorBytes: TENSOR_BYTES, gap: GAP };
const MODEL = path.join(DIR, 'src', 'model.onnx');
const WEIGHTS = path.join(DIR, 'src', 'weights.pb');
const OUT = path.join(DIR, 'out');

function log(s = ''): void {
  process.stdout.write(s + '\n');
}

// ------------------------------------------------------------------ the model

function generate(): void {
  const marker = path.join(DIR, 'src', 'spec.json');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === JSON.stringify(SPEC) && fs.existsSync(WEIGHTS)) {
    log(`model: reusing ${path.dirname(MODEL)}`);
    return;
  }
  fs.rmSync(path.join(DIR, 'src'), { recursive: true, force: true });
  fs.mkdirSync(path.join(DIR, 'src'), { recursive: true });
  const t0 = performance.now();
  const n = TENSOR_BYTES / 4;
  const cipher = crypto.createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(16 << 20);
  const fd = fs.openSync(WEIGHTS, 'w');
  const initializer = [];
  let offset = 0;
  for (let i = 0; i < TENSORS; i++) {
    fs.writeSync(fd, Buffer.alloc(GAP, 0xee));
    offset += GAP;
    for (let done = 0; done < TENSOR_BYTES; done += zeros.length) fs.writeSync(fd, cipher.update(zeros));
    initializer.push({
      name: `W${i}`,
      dims: [n],
      dataType: 1,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: 'weights.pb' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(TENSOR_BYTES) },
      ],
    });
    offset += TENSOR_BYTES;
  }
  fs.closeSync(fd);
  // Y = X + W0 + W1 + … : a valid graph, small inline tensors included.
  const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: n }] } } } });
  const node = initializer.map((t, i) => ({
    name: `add${i}`,
    opType: 'Add',
    input: [i ? `Y${i - 1}` : 'X', t.name],
    output: [i === TENSORS - 1 ? 'Y' : `Y${i}`],
  }));
  const small = { name: 'bias', dims: [16], dataType: 1, rawData: new Uint8Array(64) };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'pocketdiff-bench',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'bench', node, input: [vi('X')], output: [vi('Y')], initializer: [...initializer, small] },
  } as never);
  fs.writeFileSync(MODEL, encodeModel(model as never));
  fs.writeFileSync(marker, JSON.stringify(SPEC));
  log(
    `model: generated ${fmtBytes(fs.statSync(WEIGHTS).size)} of weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

// ------------------------------------------------------------------ methods

/** Wall seconds, CPU seconds (user + sys, of the child where there is one) and peak RSS. */
interface Run {
  seconds: number;
  cpuSeconds: number;
  maxRssBytes?: number;
}
interface ChildUsage {
  cpuSeconds: number;
  maxRssBytes: number;
}

/** Times fn; its CPU time is the child's when fn reports one, else this process's. */
function timed(fn: () => ChildUsage | undefined): Run {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const child = fn();
  const seconds = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(c0);
  return { seconds, cpuSeconds: child?.cpuSeconds ?? (own.user + own.system) / 1e6, maxRssBytes: child?.maxRssBytes };
}

const hasTime = fs.existsSync(TIME);

/**
 * Runs CMD ARGS as a child and returns its CPU time and peak RSS, read from /usr/bin/time -v;
 * without /usr/bin/time, node children run under bench/rss-child.mjs, which reports its own
 * process.resourceUsage() (other commands then report nothing).
 */
function child(cmd: string, args: string[]): ChildUsage | undefined {
  if (hasTime) {
    const r = spawnSync(TIME, ['-v', cmd, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
    const field = (name: string) => {
      const m = new RegExp(`${name}: ([\\d.]+)`).exec(r.stderr);
      if (!m) throw new Error(`no '${name}' in /usr/bin/time output:\n${r.stderr}`);
      return Number(m[1]);
    };
    return {
      cpuSeconds: field('User time \\(seconds\\)') + field('System time \\(seconds\\)'),
      maxRssBytes: field('Maximum resident set size \\(kbytes\\)') * 1024,
    };
  }
  const viaWrapper = cmd === process.execPath;
  const r = viaWrapper
    ? spawnSync(process.execPath, [path.join(ROOT, 'bench', 'rss-child.mjs'), ...args], { encoding: 'utf8' })
    : spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  if (!viaWrapper) return undefined;
  const m = /^rusage (\d+) (\d+) (\d+)$/m.exec(r.stderr);
  if (!m) throw new Error(`no rusage report from rss-child.mjs:\n${r.stderr}`);
  return { cpuSeconds: (Number(m[1]) + Number(m[2])) / 1e6, maxRssBytes: Number(m[3]) * 1024 };
}
const nodeChild = (args: string[]) => child(process.execPath, args)!;

const METHODS: Record<string, () => Run> = {
  copyFileSync: () =>
    timed(() => {
      fs.copyFileSync(WEIGHTS, path.join(OUT, 'copy.pb'));
      return undefined;
    }),
  cp: () => timed(() => child('cp', [WEIGHTS, path.join(OUT, 'cp.pb')])),
  convert: () =>
    timed(() => nodeChild([BIN, 'convert', MODEL, path.join(OUT, 'model.onnx'), '--external-data', 'weights.bin'])),
  // Not a copy the target is measured against: the user-space floor convert's copying sits on.
  nodeLoop: () =>
    timed(() => nodeChild([path.join(ROOT, 'bench', 'copy-loop.mjs'), WEIGHTS, path.join(OUT, 'loop.pb')])),
};

function clearOut(): void {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
}

/** The converted model must hold the same bytes, at 64-aligned offsets. Checked once. */
function verifyConvert(): void {
  const proto = decodeModel(fs.readFileSync(path.join(OUT, 'model.onnx'))).model;
  const src = fs.openSync(WEIGHTS, 'r');
  const dst = fs.openSync(path.join(OUT, 'weights.bin'), 'r');
  const a = Buffer.allocUnsafe(16 << 20);
  const b = Buffer.allocUnsafe(16 << 20);
  try {
    proto.graph!.initializer!.slice(0, TENSORS).forEach((t, i) => {
      const e = new Map(t.externalData!.map((x) => [x.key, x.value]));
      const offset = Number(e.get('offset'));
      if (e.get('location') !== 'weights.bin' || offset % 64 || Number(e.get('length')) !== TENSOR_BYTES) {
        throw new Error(`converted tensor ${t.name}: unexpected external entry ${JSON.stringify([...e])}`);
      }
      const srcOffset = GAP + i * (TENSOR_BYTES + GAP);
      for (let done = 0; done < TENSOR_BYTES; done += a.length) {
        fs.readSync(src, a, 0, a.length, srcOffset + done);
        fs.readSync(dst, b, 0, b.length, offset + done);
        if (!a.equals(b)) throw new Error(`converted tensor ${t.name} differs near byte ${done}`);
      }
    });
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
}

// ------------------------------------------------------------------ report

function fmtBytes(n: number): string {
  return n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

function main(): void {
  fs.mkdirSync(DIR, { recursive: true });
  generate();
  const weightBytes = fs.statSync(WEIGHTS).size;
  const load0 = os.loadavg();
  log(
    `weights: ${fmtBytes(weightBytes)} (${weightBytes} bytes) in ${TENSORS} tensors; ${os.cpus().length} CPUs, node ${process.version}; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`,
  );
  log(`CPU time and peak RSS from: ${hasTime ? '/usr/bin/time -v' : 'process.resourceUsage() (bench/rss-child.mjs)'}`);

  // Baseline RSS: a node that does nothing.
  const idleNode = median([0, 1, 2].map(() => nodeChild(['-e', '']).maxRssBytes));

  // Warm-up: one untimed run of each, so the source is in the page cache for all of them.
  clearOut();
  for (const m of Object.values(METHODS)) m();
  verifyConvert();
  clearOut();

  // `pocketdiff convert --help` runs in every round too: the fixed cost of starting pocketdiff
  // (node, loading the bundled modules) under the same conditions as the convert beside it.
  const rounds: Record<string, () => Run> = {
    ...METHODS,
    startup: () => timed(() => nodeChild([BIN, 'convert', '--help'])),
  };
  const runs: Record<string, Run[]> = Object.fromEntries(Object.keys(rounds).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, m] of Object.entries(rounds)) {
      runs[name].push(m());
      clearOut();
    }
  }
  fs.rmSync(OUT, { recursive: true, force: true });
  const load1 = os.loadavg();

  const med = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v.map((r) => r.seconds))]));
  const cpu = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v.map((r) => r.cpuSeconds))]));
  const peak = Math.max(...runs.convert.map((r) => r.maxRssBytes!));
  const copy = Math.min(med.copyFileSync, med.cp);
  const ratio = med.convert / copy;
  const ratioNoStartup = (med.convert - med.startup) / copy;
  const overIdle = peak - idleNode;
  const gbps = (sec: number) => `${(weightBytes / sec / 1e9).toFixed(2)} GB/s`;

  log('');
  log(`| method | wall, ${ROUNDS} runs (s) | median (s) | throughput | × fastest copy | CPU median (s) |`);
  log('| --- | --- | --- | --- | --- | --- |');
  for (const [name, v] of Object.entries(runs)) {
    const label =
      name === 'startup'
        ? 'startup (pocketdiff convert --help)'
        : name === 'nodeLoop'
          ? 'node read/write loop (bench/copy-loop.mjs)'
          : name;
    const tp = name === 'startup' ? '' : gbps(med[name]);
    const x = name === 'startup' ? '' : (med[name] / copy).toFixed(2);
    log(
      `| ${label} | ${v.map((r) => r.seconds.toFixed(3)).join(', ')} | ${med[name].toFixed(3)} | ${tp} | ${x} | ${cpu[name].toFixed(3)} |`,
    );
  }
  log('');
  log('| peak RSS | |');
  log('| --- | --- |');
  log(`| idle node (node -e '') | ${fmtBytes(idleNode)} |`);
  log(`| pocketdiff convert --help | ${fmtBytes(median(runs.startup.map((r) => r.maxRssBytes!)))} |`);
  log(`| convert (max of ${ROUNDS}) | ${fmtBytes(peak)} |`);
  log(`| convert − idle node | ${fmtBytes(overIdle)} |`);
  log('');
  const ratioOk = ratio <= RATIO_TARGET;
  const rssOk = overIdle <= RSS_TARGET_BYTES;
  log(
    `convert / fastest copy = ${ratio.toFixed(2)} (target ≤ ${RATIO_TARGET}): ${ratioOk ? 'PASS' : 'FAIL'}` +
      `; less pocketdiff's startup: ${ratioNoStartup.toFixed(2)}; convert / node read/write loop = ${(med.convert / med.nodeLoop).toFixed(2)}`,
  );
  log(
    `peak RSS over idle node = ${fmtBytes(overIdle)} (target ≤ ${fmtBytes(RSS_TARGET_BYTES)}): ${rssOk ? 'PASS' : 'FAIL'}`,
  );
  log(
    `page cache: warm for every method (not dropped; one warm-up run each, then ${ROUNDS} alternating rounds); load average ${load0[0].toFixed(2)} → ${load1[0].toFixed(2)}`,
  );

  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memBytes: os.totalmem(),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAverageBefore: load0,
      loadAverageAfter: load1,
    },
    model: {
      weightBytes,
      tensors: TENSORS,
      tensorBytes: TENSOR_BYTES,
      sourceOffsets: `unaligned (${GAP}-byte gaps)`,
      dir: DIR,
    },
    pageCache:
      'warm for every method: not dropped; one untimed warm-up run each, then rounds alternate copyFileSync, cp, convert, node read/write loop, startup',
    rounds: ROUNDS,
    wallSeconds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((r) => r.seconds)])),
    cpuSeconds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((r) => r.cpuSeconds)])),
    medianWallSeconds: med,
    medianCpuSeconds: cpu,
    ratio: {
      convertOverFastestCopy: ratio,
      convertOverCopyFileSync: med.convert / med.copyFileSync,
      convertOverCp: med.convert / med.cp,
      convertLessStartupOverFastestCopy: ratioNoStartup,
      convertOverNodeLoop: med.convert / med.nodeLoop,
      target: RATIO_TARGET,
      pass: ratioOk,
    },
    rss: {
      source: hasTime ? '/usr/bin/time -v' : 'process.resourceUsage().maxRSS',
      idleNodeBytes: idleNode,
      pocketdiffHelpBytes: runs.startup.map((r) => r.maxRssBytes),
      convertPeakBytes: runs.convert.map((r) => r.maxRssBytes),
      overIdleNodeBytes: overIdle,
      targetBytes: RSS_TARGET_BYTES,
      pass: rssOk,
    },
  };
  fs.writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${path.relative(process.cwd(), RESULTS) || RESULTS}`);
  process.exitCode = ratioOk && rssOk ? 0 : 1;
}

// One after the other: benchmarks that share the machine would time each other.
const PARTS: Record<string, () => Promise<unknown>> = {
  convert: async () => main(),
  'fold-cfg': benchFoldCfg,
  evolve: benchEvolve,
  queue: benchQueue,
  cost: async () => {
    if (!(await benchCost()).pass) process.exitCode = 1;
  },
  'recipe-check': benchRecipeCheck,
  'local-cpu': async () => {
    if (!(await benchLocalCpu()).pass) process.exitCode = 1;
  },
  'distill-targets': async () => {
    if (!(await benchDistillTargets()).pass) process.exitCode = 1;
  },
};
const only = process.argv.slice(2);
const unknown = only.filter((name) => !(name in PARTS));
if (unknown.length) {
  console.error(`bench: no part named ${unknown.join(', ')}; the parts: ${Object.keys(PARTS).join(', ')}`);
  process.exit(2);
}
for (const [name, run] of Object.entries(PARTS)) if (!only.length || only.includes(name)) await run();

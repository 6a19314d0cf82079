// pocketdiff models build CONFIG.json --out DIR [--weights random|none] [--seed N]
//                        [--dtype float32|float16] [--opset 14|17] [--external-data FILE] [--json]
// pocketdiff models build-default [--force] [--weights random|none] [--json]
import path from 'node:path';
import { ensureDefaultModel } from '../builder/default-model.ts';
import { DEFAULT_BUILD, planModel, writeModel, type BuildOptions } from '../builder/build.ts';
import { MODEL_CLASSES } from '../builder/config/detect.ts';
import { ProgressBar } from '../builder/progress.ts';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { parse, usageError } from './args.ts';
import { Exit, type Command } from './command.ts';
import { MODEL_NAMES } from '../model-names.ts';

const usage = [
  'pocketdiff models build CONFIG.json --out DIR [--weights random|none] [--seed N] [--dtype float32|float16] [--opset 14|17] [--external-data FILE] [--json]',
  '       pocketdiff models build-default [--force] [--weights random|none] [--json]',
].join('\n');

const buildFlags = {
  out: { type: 'string' },
  weights: { type: 'string' },
  seed: { type: 'string' },
  dtype: { type: 'string' },
  opset: { type: 'string' },
  'external-data': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const models: Command = {
  name: 'models',
  usage,
  summary:
    'build SD-architecture ONNX models (UNet, VAE decoder, CLIP text encoder) from diffusers/transformers configs',
  run(argv, ctx) {
    const [sub, ...rest] = argv;
    if (sub === 'build') return build(rest, ctx.log, ctx.stdout);
    if (sub === 'build-default') return buildDefault(rest, ctx.log, ctx.stdout);
    ctx.log.error(Code.Usage, `${sub ? `unknown subcommand '${sub}'` : 'expected a subcommand'}\nusage: ${usage}`);
    return Exit.Usage;
  },
};

function build(argv: string[], log: DiagnosticLog, stdout: (t: string) => void): number {
  const args = parse(argv, buildFlags, usage, log);
  if (!args) return Exit.Usage;
  const [config, ...extra] = args.positionals;
  if (!config || extra.length) {
    log.error(Code.Usage, `expected one CONFIG.json\nusage: ${usage}`);
    return Exit.Usage;
  }
  const out = args.values.out;
  if (!out) {
    log.error(Code.Usage, `--out DIR is required: the folder that receives model.onnx\nusage: ${usage}`);
    return Exit.Usage;
  }
  const opts = buildOptions(args.values, log);
  if (!opts) return Exit.Usage;
  const planned = planModel(config, log);
  if (!planned) return Exit.Error;
  const bar = new ProgressBar(`building ${path.basename(config)}`);
  const started = Date.now();
  let file: string | undefined;
  try {
    file = writeModel(planned, out, { ...opts, onProgress: bar.update }, log);
  } finally {
    bar.finish();
  }
  if (!file) return Exit.Error;
  const seconds = (Date.now() - started) / 1000;
  if (args.values.json)
    stdout(
      JSON.stringify(
        {
          file,
          class: MODEL_CLASSES[planned.model.kind],
          weights: opts.weights,
          seconds: Math.round(seconds * 10) / 10,
        },
        null,
        2,
      ),
    );
  else stdout(`wrote ${file} (${MODEL_CLASSES[planned.model.kind]}, weights ${opts.weights}, ${seconds.toFixed(1)} s)`);
  return Exit.Ok;
}

function buildDefault(argv: string[], log: DiagnosticLog, stdout: (t: string) => void): number {
  const args = parse(
    argv,
    { force: { type: 'boolean' }, weights: { type: 'string' }, json: { type: 'boolean' } },
    usage,
    log,
  );
  if (!args) return Exit.Usage;
  if (args.positionals.length) {
    log.error(Code.Usage, `build-default takes no arguments\nusage: ${usage}`);
    return Exit.Usage;
  }
  const opts = buildOptions({ weights: args.values.weights }, log);
  if (!opts) return Exit.Usage;
  const parts: { part: string; file: string; status: 'built' | 'up to date' }[] = [];
  for (const part of MODEL_NAMES) {
    const r = ensureDefaultModel(part, log, { build: opts, force: args.values.force });
    if (!r) return Exit.Error;
    parts.push({ part, file: r.file, status: r.built ? 'built' : 'up to date' });
    if (!args.values.json) stdout(`${r.built ? 'built' : 'up to date'}: ${r.file}`);
  }
  if (args.values.json) stdout(JSON.stringify({ parts }, null, 2));
  return Exit.Ok;
}

type Flags = { weights?: string; seed?: string; dtype?: string; opset?: string; 'external-data'?: string };

function buildOptions(v: Flags, log: DiagnosticLog): BuildOptions | undefined {
  const bad = usageError(log, usage, undefined);
  const weights = v.weights ?? DEFAULT_BUILD.weights;
  if (weights !== 'random' && weights !== 'none') return bad(`--weights must be 'random' or 'none', not '${weights}'`);
  const seed = v.seed === undefined ? DEFAULT_BUILD.seed : Number(v.seed);
  if (!/^\d+$/.test(v.seed ?? '0') || !Number.isSafeInteger(seed))
    return bad(`--seed must be a non-negative integer, not '${v.seed}'`);
  const dtype = v.dtype ?? DEFAULT_BUILD.dtype;
  if (dtype !== 'float32' && dtype !== 'float16') return bad(`--dtype must be 'float32' or 'float16', not '${dtype}'`);
  const opset = v.opset === undefined ? DEFAULT_BUILD.opset : Number(v.opset);
  if (opset !== 14 && opset !== 17) return bad(`--opset must be 14 or 17, not '${v.opset}'`);
  const ext = v['external-data'];
  if (ext !== undefined && (ext === '' || path.basename(ext) === 'model.onnx' || ext.endsWith('.partial')))
    return bad(`--external-data '${ext}' would overwrite the model itself; name another file`);
  return { weights, seed, dtype, opset, externalData: ext };
}

// pocketdiff predict MODEL.onnx --device D [--precision P] [--input NAME=d0,d1,…]… [--json]
// One model's latency on a device, per block, with its 80% interval. Needs
// shapes, never weights.
import * as api from '../api.ts';
import { Code } from '../codes.ts';
import type { PredictReport } from '../cost/predict-model.ts';
import { fmt, fmtInterval } from '../text/numbers.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff predict MODEL.onnx --device D [--precision P] [--input NAME=d0,d1,…]… [--json]';

export const predict: Command = {
  name: 'predict',
  usage,
  summary: "a model's latency on a device, per block, with its 80% interval (weights not needed)",
  async run(argv, { log, stdout }) {
    const args = parse(
      argv,
      {
        device: { type: 'string' },
        precision: { type: 'string' },
        input: { type: 'string', multiple: true },
        json: { type: 'boolean' },
      },
      usage,
      log,
    );
    if (!args) return Exit.Usage;
    const [file, ...rest] = args.positionals;
    if (!file || rest.length || !args.values.device) {
      log.error(Code.Usage, `expected one MODEL.onnx and --device\nusage: ${usage}`);
      return Exit.Usage;
    }
    const out = await api.predict(file, {
      device: args.values.device,
      precision: args.values.precision,
      inputs: args.values.input,
    });
    log.items.push(...out.diagnostics);
    if (!out.result) return Exit.Error;
    stdout(args.values.json ? JSON.stringify(out.result, null, 2) : formatPrediction(file, out.result));
    return Exit.Ok;
  },
};

export function formatPrediction(file: string, r: PredictReport): string {
  const rows = [...r.by_block].sort((a, b) => b.ms - a.ms);
  const width = Math.max(...rows.map((b) => b.name.length));
  const top = rows[0]?.ms || 1;
  return [
    `${file} on ${r.device}${r.precision ? ` at ${r.precision}` : ''}: ${fmt(r.ms)} ms${r.interval_80 ? ` (80%: ${fmtInterval(r.interval_80)})` : ''}`,
    '',
    ...rows.map(
      (b) =>
        `  ${b.name.padEnd(width)}  ${fmt(b.ms).padStart(10)} ms  ${(((b.ms / r.ms) * 100).toFixed(1) + '%').padStart(6)}  ${'█'.repeat(Math.round((b.ms / top) * 24))}`,
    ),
  ].join('\n');
}

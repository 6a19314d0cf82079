// pocketdiff convert IN.onnx OUT.onnx [--external-data FILE | --inline] [--json]
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import { loadModel } from '../onnx/model.ts';
import { saveModel } from '../onnx/save.ts';
import { parse } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff convert IN.onnx OUT.onnx [--external-data FILE | --inline] [--json]';

export const convert: Command = {
  name: 'convert',
  usage,
  summary: 're-save a model with its weights in one external file (default OUT.data) or inline',
  run(argv, { log, stdout }) {
    const args = parse(
      argv,
      { 'external-data': { type: 'string' }, inline: { type: 'boolean' }, json: { type: 'boolean' } },
      usage,
      log,
    );
    if (!args) return Exit.Usage;
    const [input, output, ...rest] = args.positionals;
    if (!input || !output || rest.length) {
      log.error(Code.Usage, `expected IN.onnx and OUT.onnx\nusage: ${usage}`);
      return Exit.Usage;
    }
    if (args.values.inline && args.values['external-data'] !== undefined) {
      log.error(Code.Usage, `--inline and --external-data exclude each other\nusage: ${usage}`);
      return Exit.Usage;
    }
    const model = loadModel(input, log);
    if (!model) return Exit.Error;
    const externalData = args.values.inline ? null : (args.values['external-data'] ?? `${path.basename(output)}.data`);
    if (!saveModel(model, output, { externalData }, log)) return Exit.Error;
    // What was written: the model, and its weights file when a tensor went there.
    const data = externalData === null ? undefined : path.resolve(path.dirname(output), externalData);
    const files = [output, ...(data && fs.existsSync(data) ? [data] : [])].map((f) => ({
      file: f,
      bytes: fs.statSync(f).size,
    }));
    if (args.values.json)
      stdout(JSON.stringify({ input, output, external_data: files.length > 1 ? externalData : null, files }, null, 2));
    return Exit.Ok;
  },
};

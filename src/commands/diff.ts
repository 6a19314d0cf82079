// pocketdiff diff OLD NEW [--json | --markdown] [--fail-over-ms N]
// What a change did to an artifact: per model, and the predicted latency.
import * as api from '../api.ts';
import { diffMarkdown, diffText } from '../artifact/diff-render.ts';
import { parse, usageError } from './args.ts';
import { Exit, type Command } from './command.ts';

const usage = 'pocketdiff diff OLD NEW [--json | --markdown] [--fail-over-ms N]';

export const diff: Command = {
  name: 'diff',
  usage,
  summary:
    'what changed between two artifacts: params, MACs, size and predicted ms per model, passes, blocks and files',
  async run(argv, { log, stdout }) {
    const args = parse(
      argv,
      { json: { type: 'boolean' }, markdown: { type: 'boolean' }, 'fail-over-ms': { type: 'string' } },
      usage,
      log,
    );
    if (!args) return Exit.Usage;
    const bad = usageError(log, usage, Exit.Usage);
    const [a, b, ...extra] = args.positionals;
    if (!a || !b || extra.length)
      return bad('expected OLD and NEW: two artifact folders (out/<recipe>/<device>) or their manifest.json');
    const v = args.values;
    if (v.json && v.markdown) return bad('--json and --markdown: choose one');
    const limit = v['fail-over-ms'] === undefined ? undefined : Number(v['fail-over-ms']);
    if (limit !== undefined && !(Number.isFinite(limit) && limit >= 0))
      return bad(`--fail-over-ms must be a number of milliseconds ≥ 0, not '${v['fail-over-ms']}'`);
    const out = await api.diff(a, b, { failOverMs: limit });
    log.items.push(...out.diagnostics);
    if (!out.result) return Exit.Error;
    const d = out.result;
    stdout(v.json ? JSON.stringify(d, null, 2) : v.markdown ? diffMarkdown(d) : diffText(d));
    return d.exceeded ? Exit.Budget : Exit.Ok;
  },
};

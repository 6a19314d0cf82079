// `import { compile, check, whatif, predict, diff } from 'pocketdiff'`: the library
// (src/api.ts, typed by types/pocketdiff.d.ts), from the same bundled copy of the
// sources the CLI runs (lib/bundle.js).
import { load } from './bundle.js';

export const { compile, check, whatif, predict, diff, diffMarkdown, diffText, formatDiagnostic, version } =
  await load('api');

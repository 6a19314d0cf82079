// `import { compile, check, whatif, predict, diff } from 'pocketdiff'`: the library
// (src/api.ts, typed by types/pocketdiff.d.ts), from the same bundled copy of the
// sources the CLI runs (lib/bundle.js).
import { pathToFileURL } from 'node:url';
import { bundled } from './bundle.js';

const entry = await bundled('api');
let api;
if (entry) {
  process.setSourceMapsEnabled(true);
  api = await import(pathToFileURL(entry).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  api = await import('../src/api.ts');
}

export const { compile, check, whatif, predict, diff, diffMarkdown, diffText, formatDiagnostic, version } = api;

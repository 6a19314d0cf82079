#!/usr/bin/env node
// Starts the CLI, so `npx pocketdiff` works right after `npm ci` with no build step
// (lib/bundle.js says how the TypeScript sources are run).
import { pathToFileURL } from 'node:url';
import { bundled } from '../lib/bundle.js';

const entry = await bundled('cli');
let main;
if (entry) {
  // Stack traces of internal errors then name src/*.ts lines, not the bundle's.
  process.setSourceMapsEnabled(true);
  ({ main } = await import(pathToFileURL(entry).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env node
// Starts the CLI, so `npx pocketdiff` works right after `npm ci` with no build step
// (lib/bundle.js says how the TypeScript sources are run).
import { fileURLToPath } from 'node:url';
import { load } from '../lib/bundle.js';

// Commands that write big files run in a child this process supervises, so Ctrl-C stops
// them at once and what they half-wrote is removed (lib/supervise.js says why).
const SUPERVISED = new Set(['compile', 'convert', 'models']);
const argv = process.argv.slice(2);
if (
  SUPERVISED.has(argv[0]) &&
  !argv.includes('--help') &&
  !argv.includes('-h') &&
  !process.env.POCKETDIFF_SCRATCH_JOURNAL
) {
  const { supervise } = await import('../lib/supervise.js');
  process.exitCode = await supervise(fileURLToPath(import.meta.url), argv);
} else {
  const { main } = await load('cli');
  process.exitCode = await main(argv);
}

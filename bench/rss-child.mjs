// Used by bench/run.ts where /usr/bin/time is missing: `node rss-child.mjs SCRIPT ARGS…`
// runs SCRIPT in this process as `node SCRIPT ARGS…` would (`-e ''` runs nothing: an idle
// node), then reports this process's resource usage on stderr as
// `rusage USER_µs SYSTEM_µs MAXRSS_KiB`, what /usr/bin/time -v would print.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [script, ...rest] = process.argv.slice(2);
if (script !== '-e') {
  process.argv = [process.argv[0], path.resolve(script), ...rest];
  await import(pathToFileURL(path.resolve(script)).href); // bin/pocketdiff.js awaits main() at top level
}
const u = process.resourceUsage();
process.stderr.write(`rusage ${u.userCPUTime} ${u.systemCPUTime} ${u.maxRSS}\n`);

// Runs the test files as uvu's CLI does, then makes sure the process ends.
// uvu sets the exit code and returns; a test that leaves a socket open (a
// Redis client whose close an assertion skipped) would then keep Node, and
// CI's pipe, waiting for ever. Whatever is still open after the summary is
// named, and the process exits with uvu's code.
import { parse } from 'uvu/parse';
import { run } from 'uvu/run';

const pattern = process.argv[2] ?? '\\.test\\.ts$';
// stdout and stderr are handles too: only what the tests added counts.
const before = process.getActiveResourcesInfo();
process.env.FORCE_COLOR = '1';
const ctx = await parse('test', pattern, { cwd: '.' });
await run(ctx.suites, { bail: false });

setTimeout(() => {
  const open = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
  for (const r of before) open.splice(open.indexOf(r), open.includes(r) ? 1 : 0);
  if (open.length)
    console.error(
      `\ntest/run.ts: still open after the last test: ${open.join(', ')} (a test did not close what it opened); exiting`,
    );
  process.exit();
}, 2000).unref();

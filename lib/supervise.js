// Ctrl-C during a compile. A compile is mostly synchronous work (tracing, passes,
// writing gigabytes of weights), and Node runs a signal handler only between
// pieces of work, so a process cannot both write for minutes and stop within a
// second of SIGINT. The commands that write big files therefore run in a child
// process, and this parent stays idle: on SIGINT, SIGTERM or SIGHUP the child
// stops at once (the terminal signals both; a signal sent to the parent alone
// is passed on), and the parent removes what the child had half-written (the
// paths src/scratch.ts journals, synchronously, as it creates them), says so,
// and exits 130 (143 for SIGTERM, 129 for SIGHUP).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const STATUS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
/** A child killed by something else (the kernel's OOM killer) is still cleaned up after. */
const OTHER = { SIGKILL: 137 };

/** Runs `bin/pocketdiff.js argv` in a child; resolves to the exit status to use. */
export function supervise(bin, argv) {
  // Named as src/scratch.ts names temp folders, so one a killed supervisor leaves is swept later.
  const journal = path.join(
    os.tmpdir(),
    `pocketdiff-journal-p${process.pid}-${crypto.randomBytes(6).toString('base64url').slice(0, 6).replace(/[-_]/g, 'x')}`,
  );
  fs.writeFileSync(journal, '');
  const child = spawn(process.execPath, [bin, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, POCKETDIFF_SCRATCH_JOURNAL: journal },
  });
  let caught;
  const stop = (signal) => {
    caught ??= signal;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of Object.keys(STATUS)) process.on(s, stop);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const by = caught ?? signal;
      const live = liveScratch(journal);
      fs.rmSync(journal, { force: true });
      if (!by) return resolve(code ?? 1);
      let bytes = 0;
      for (const p of live) {
        bytes += sizeOf(p);
        fs.rmSync(p, { recursive: true, force: true });
      }
      const shown = live.map(shownPath);
      process.stderr.write(
        `interrupted (${by}): ${live.length ? `removed ${shown.join(', ')} (${gb(bytes)}), which the run had half-written` : 'nothing was half-written'}; nothing else was changed\n`,
      );
      resolve(STATUS[by] ?? OTHER[by] ?? 1);
    });
  });
}

/** Paths the journal tracks and never released: `+path` when made, `-path` when renamed into place or removed. */
function liveScratch(journal) {
  const live = new Set();
  let text = '';
  try {
    text = fs.readFileSync(journal, 'utf8');
  } catch {
    return [];
  }
  for (const line of text.split('\n')) {
    if (line.startsWith('+')) live.add(line.slice(1));
    else if (line.startsWith('-')) live.delete(line.slice(1));
  }
  // A file inside a live folder goes with the folder: say the folder once.
  const paths = [...live].filter((p) => fs.existsSync(p));
  return paths.filter((p) => !paths.some((q) => q !== p && p.startsWith(q + path.sep)));
}

/** Relative under the working directory, absolute elsewhere (as src/text/paths.ts prints paths). */
function shownPath(p) {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

function sizeOf(p) {
  try {
    const st = fs.statSync(p);
    if (!st.isDirectory()) return st.size;
    return fs.readdirSync(p).reduce((n, f) => n + sizeOf(path.join(p, f)), 0);
  } catch {
    return 0;
  }
}

const gb = (b) =>
  b >= 2 ** 30
    ? `${(b / 2 ** 30).toFixed(2)} GiB`
    : b >= 2 ** 20
      ? `${(b / 2 ** 20).toFixed(1)} MiB`
      : `${(b / 1024).toFixed(1)} KiB`;

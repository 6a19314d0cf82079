// Paths that exist only while a step writes them: staging folders, partial
// files, models saved for a measurement. Each is tracked from creation until
// it is renamed into place or deleted; whatever is still tracked goes when the
// process exits, also on an uncaught error.
//
// A signal is different: listening for SIGINT would defer it until the
// synchronous work in progress ends (a compile is mostly synchronous), so
// Ctrl-C would wait for the whole compile. Signals keep their default action
// instead. The commands that write big files run under lib/supervise.js,
// which removes what the journal below says was half-written; elsewhere what
// a killed process leaves is swept later: a staging folder by the next write
// to the same place, and a temp folder (its name carries its process id) by
// the next pocketdiff process that makes one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const live = new Set<string>();
// Under lib/supervise.js (compile, convert, models), every tracked path is also
// written to a journal at once, synchronously: a Ctrl-C mid-write kills this
// process before any handler could run, and the supervisor removes what the
// journal says is still live.
const JOURNAL = process.env.POCKETDIFF_SCRATCH_JOURNAL;

function journal(mark: '+' | '-', p: string): void {
  if (!JOURNAL) return;
  try {
    fs.appendFileSync(JOURNAL, `${mark}${p}\n`);
  } catch {
    // The supervisor is gone: nobody will read it.
  }
}
let installed = false;
let swept = false;

function removeAll(): void {
  for (const p of live) {
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // Exiting anyway: a path that cannot go stays, as it would without us.
    }
  }
  live.clear();
}

/** Tracks a path until `release`: it is removed if the process ends first. */
export function track(p: string): string {
  if (!installed) {
    installed = true;
    process.on('exit', removeAll);
  }
  live.add(path.resolve(p));
  journal('+', path.resolve(p));
  return p;
}

/** The path was renamed into place or deleted: no longer ours to remove. */
export function release(p: string): void {
  live.delete(path.resolve(p));
  journal('-', path.resolve(p));
}

/** Deletes a tracked path now. */
export function removeScratch(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
  release(p);
}

const NAME = /^pocketdiff-[a-z0-9-]+?-p(\d+)-[A-Za-z0-9]{6}$/;

/** A fresh folder under the OS temp folder (pocketdiff-<prefix>-p<pid>-XXXXXX), tracked until `removeScratch`. */
export function scratchDir(prefix: string, tmp = os.tmpdir()): string {
  if (!swept) {
    swept = true;
    sweepStale(tmp);
  }
  const tag = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-') || 'tmp';
  return track(fs.mkdtempSync(path.join(tmp, `pocketdiff-${tag}-p${process.pid}-`)));
}

/**
 * Removes temp folders of pocketdiff processes that no longer run (killed
 * mid-measurement). A folder younger than a minute is left alone: its owner
 * may run in another process namespace that shares this temp folder.
 */
export function sweepStale(tmp = os.tmpdir(), now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(tmp);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const p = path.join(tmp, name);
    try {
      if (now - fs.statSync(p).mtimeMs < 60_000) continue;
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      // Another sweeper got there first, or it is not ours to remove.
    }
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs, as another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes several files as one: each to a partial file first, renamed into
 * place only once all are written, so a reader never sees a mix of old and
 * new. Returns the error message when a write failed (nothing is renamed then).
 */
export function writeTogether(files: readonly [file: string, text: string][]): string | undefined {
  const partial = files.map(([f]) => track(`${f}.${process.pid}.partial`));
  try {
    for (const [f] of files) fs.mkdirSync(path.dirname(path.resolve(f)), { recursive: true });
    files.forEach(([, text], i) => fs.writeFileSync(partial[i]!, text));
  } catch (e) {
    for (const p of partial) removeScratch(p);
    return (e as Error).message;
  }
  files.forEach(([f], i) => {
    fs.renameSync(partial[i]!, f);
    release(partial[i]!);
  });
  return undefined;
}

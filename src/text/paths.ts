// Paths as pocketdiff prints them: relative to the working directory when
// they are under it, absolute otherwise (a model in /tmp is not ../../tmp/…).
import path from 'node:path';

export function shownPath(p: string, cwd = process.cwd()): string {
  const abs = path.resolve(cwd, p);
  const rel = path.relative(cwd, abs);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : abs;
}

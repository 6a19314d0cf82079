// The project's root folder (where package.json, models/ and src/ live). Found by
// walking up to pocketdiff's own package.json rather than from this file's place:
// the CLI also runs from a transpiled copy of src/ under node_modules/.cache
// (bin/pocketdiff.js), where `import.meta.dirname/..` is not the root.
import fs from 'node:fs';
import path from 'node:path';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'pocketdiff') return dir;
    if (path.dirname(dir) === dir) throw new Error(`pocketdiff's package.json not found above ${from}`);
  }
}

export const PROJECT_ROOT = findRoot(import.meta.dirname);

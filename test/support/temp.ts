// Test scratch folders, removed when the test process exits (src/scratch.ts),
// so repeated runs do not pile folders up in /tmp.
import { scratchDir } from '../../src/scratch.ts';

export function tempDir(prefix = 'test-'): string {
  return scratchDir(prefix.replace(/^pocketdiff-/, '').replace(/-$/, ''));
}

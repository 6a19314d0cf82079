// Golden text files (test/goldens/): what a reader reviews as a diff. With
// UPDATE_GOLDENS=1 a test rewrites its golden; without it a missing or stale
// golden fails with the changed lines.
import fs from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';

export const GOLDENS = 'test/goldens';
const UPDATE = process.env.UPDATE_GOLDENS === '1';

export function checkGolden(file: string, text: string): void {
  if (UPDATE) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    return;
  }
  if (!fs.existsSync(file)) assert.unreachable(`${file} is missing; write it with UPDATE_GOLDENS=1 and review it`);
  const diff = lineDiff(fs.readFileSync(file, 'utf8'), text);
  assert.ok(
    !diff,
    `${file} is stale (- golden, + now); if the change is intended, rewrite it with UPDATE_GOLDENS=1 and review it\n${diff}`,
  );
}

/**
 * The changed lines of `b` against `a`, as hunks of a unified diff with two
 * lines of context ('' when equal): uvu's fixture diff prints every line.
 */
function lineDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  // lcs[i][j]: the longest common subsequence of x[i..] and y[j..].
  const lcs = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--)
    for (let j = y.length - 1; j >= 0; j--)
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: { mark: ' ' | '-' | '+'; line: string; at: number }[] = [];
  let [i, j] = [0, 0];
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) ops.push({ mark: ' ', line: x[i++], at: j++ });
    else if (i < x.length && (j === y.length || lcs[i + 1][j] >= lcs[i][j + 1]))
      ops.push({ mark: '-', line: x[i++], at: j });
    else ops.push({ mark: '+', line: y[j++], at: j });
  }
  const near = (k: number) => ops.slice(Math.max(0, k - 2), k + 3).some((o) => o.mark !== ' ');
  const out: string[] = [];
  ops.forEach((o, k) => {
    if (!near(k)) return;
    if (!near(k - 1) || k === 0) out.push(`@@ line ${o.at + 1}`);
    out.push(`${o.mark} ${o.line}`);
  });
  return ops.some((o) => o.mark !== ' ') ? out.join('\n') : '';
}

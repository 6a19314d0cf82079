// Renders an artifact's report.html in headless Chromium (Debian's `chromium`
// package: apt-get install -y chromium) and writes a PNG screenshot under out/,
// which git ignores.
//
//   node --import tsx scripts/screenshot-report.ts out/<recipe>/<device> [--out FILE.png] [--size 1200,1600]
//
// The page needs no network; Chromium runs with a throwaway profile and with
// background networking, component updates and the GPU turned off.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');

export function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('which', [name], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

/** Screenshots `html` into `png`; returns Chromium's output on failure. */
export function screenshot(
  html: string,
  png: string,
  size = '1200,1600',
  chromium = findChromium(),
): { ok: boolean; log: string } {
  if (!chromium) return { ok: false, log: 'chromium not found: apt-get install -y chromium' };
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pocketdiff-chromium-'));
  fs.mkdirSync(path.dirname(path.resolve(png)), { recursive: true });
  try {
    const r = spawnSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--hide-scrollbars',
        `--user-data-dir=${profile}`,
        `--screenshot=${path.resolve(png)}`,
        `--window-size=${size}`,
        pathToFileURL(path.resolve(html)).href,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    return {
      ok: r.status === 0 && fs.existsSync(png),
      log: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`,
    };
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

function main(): number {
  const { values, positionals } = parseArgs({
    options: { out: { type: 'string' }, size: { type: 'string' } },
    allowPositionals: true,
  });
  const [target] = positionals;
  if (!target) {
    console.error(
      'usage: node --import tsx scripts/screenshot-report.ts ARTIFACT_DIR|report.html [--out FILE.png] [--size W,H]',
    );
    return 2;
  }
  const html = target.endsWith('.html') ? target : path.join(target, 'report.html');
  if (!fs.existsSync(html)) {
    console.error(`no ${html}: compile the recipe first`);
    return 2;
  }
  const artifact = path.dirname(path.resolve(html));
  const png =
    values.out ??
    path.join(ROOT, 'out', 'screenshots', `${path.basename(path.dirname(artifact))}-${path.basename(artifact)}.png`);
  const r = screenshot(html, png, values.size);
  if (!r.ok) {
    console.error(r.log.trim());
    return 1;
  }
  console.log(`wrote ${path.relative(process.cwd(), png)}`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main();

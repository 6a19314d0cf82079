// Reading an artifact's manifest.json, from the folder or the file itself,
// validated against the published schema. `run` and `diff` start here.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { MANIFEST_SCHEMA, type Manifest } from './manifest.ts';
import { validateAgainst } from '../schema/validate.ts';

export function readManifest(
  where: string,
  log: DiagnosticLog,
): { dir: string; file: string; manifest: Manifest } | undefined {
  const dir = path.basename(where) === 'manifest.json' ? path.dirname(where) : where;
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(dir)) {
    log.error(
      Code.FileNotFound,
      `no artifact folder at ${dir}: \`pocketdiff compile RECIPE.yaml\` writes one per target, out/<recipe>/<device>/`,
      { file: dir },
    );
    return undefined;
  }
  if (!fs.existsSync(file)) {
    log.error(
      Code.FileNotFound,
      `no manifest.json in ${dir}: an artifact folder is out/<recipe>/<device>/, written by \`pocketdiff compile\``,
      { file: dir },
    );
    return undefined;
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    log.error(Code.ArtifactInvalid, `manifest.json is not JSON: ${(e as Error).message}`, { file });
    return undefined;
  }
  if (!validateAgainst(MANIFEST_SCHEMA, manifest, log, file)) return undefined;
  return { dir, file, manifest };
}

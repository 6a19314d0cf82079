// Writing one artifact folder, atomically: everything goes into
// `out/<recipe>/.<device>.partial/`, is hashed and validated, and only then is
// renamed to `out/<recipe>/<device>/`. A compile killed midway leaves a
// `.partial` folder (cleared by the next compile), never one that looks complete.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { hashFile } from '../artifact/hash.ts';
import { MANIFEST_SCHEMA, type Manifest } from '../artifact/manifest.ts';
import { validateAgainst } from '../schema/validate.ts';
import type { Graph } from '../ir/graph.ts';
import { exportGraph } from '../ir/export.ts';
import { saveModel } from '../onnx/save.ts';
import { renderPipelineTs } from '../codegen/pipeline.ts';
import { release, removeScratch, track } from '../scratch.ts';

export interface ArtifactModel {
  /** `unet.onnx`; its weights go to `unet.onnx.data`. */
  file: string;
  graph: Graph;
  /** Called right before export, to put the target's static shapes in place. */
  prepare?: () => void;
  /** Called right after, to take them away again. */
  finish?: () => void;
}

export interface ArtifactPlan {
  dir: string;
  models: ArtifactModel[];
  graphOnly: boolean;
  manifest: Omit<Manifest, 'files'>;
  report: (manifest: Manifest) => string;
  /** report.html, beside report.md. */
  html?: (manifest: Manifest) => string;
  /** More files for the folder (the tokenizer's), by name. */
  files?: Record<string, string>;
  onProgress?: (file: string, done: number, total: number) => void;
}

export function emitArtifact(plan: ArtifactPlan, log: DiagnosticLog): Manifest | undefined {
  const parent = path.dirname(plan.dir);
  const tmp = path.join(parent, `.${path.basename(plan.dir)}.partial`);
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    track(tmp);
  } catch (e) {
    log.error(Code.OutputNotWritable, `cannot create ${tmp}: ${(e as Error).message}`);
    return undefined;
  }
  const fail = () => {
    removeScratch(tmp);
    return undefined;
  };
  for (const m of plan.models) {
    m.prepare?.();
    const exported = exportGraph(m.graph);
    m.finish?.();
    const ok = saveModel(
      exported,
      path.join(tmp, m.file),
      {
        externalData: `${m.file}.data`,
        sizeThreshold: plan.graphOnly ? 0 : undefined,
        graphOnly: plan.graphOnly,
        onProgress: plan.onProgress && ((d, t) => plan.onProgress!(m.file, d, t)),
      },
      log,
    );
    if (!ok) return fail();
  }
  for (const [f, text] of Object.entries(plan.files ?? {})) fs.writeFileSync(path.join(tmp, f), text);
  // The typed runner for apps (generated from the manifest).
  fs.writeFileSync(path.join(tmp, 'pipeline.ts'), renderPipelineTs(plan.manifest));
  const files: Manifest['files'] = {};
  for (const f of fs.readdirSync(tmp).sort()) files[f] = hashFile(path.join(tmp, f));
  // The report describes the model files; the manifest then covers the report too.
  fs.writeFileSync(path.join(tmp, 'report.md'), plan.report({ ...plan.manifest, files }));
  if (plan.html) fs.writeFileSync(path.join(tmp, 'report.html'), plan.html({ ...plan.manifest, files }));
  for (const f of ['report.md', ...(plan.html ? ['report.html'] : [])]) files[f] = hashFile(path.join(tmp, f));
  const manifest: Manifest = { ...plan.manifest, files };
  if (!validateAgainst(MANIFEST_SCHEMA, manifest, log, 'manifest.json')) return fail();
  fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const old = path.join(parent, `.${path.basename(plan.dir)}.old`);
  try {
    fs.rmSync(old, { recursive: true, force: true });
    if (fs.existsSync(plan.dir)) fs.renameSync(plan.dir, old);
    fs.renameSync(tmp, plan.dir);
    release(tmp);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    log.error(Code.OutputNotWritable, `cannot move the artifact into ${plan.dir}: ${(e as Error).message}`);
    return fail();
  }
  return manifest;
}

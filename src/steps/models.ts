// The three models a recipe compiles. `default` is the embedded SD-v1.5
// model, built on first use from models/sd15/*.json into the git-ignored
// models/.built/ (ensureDefaultModel rebuilds a part only when its config or
// build options changed). With `graphOnly`, the default is built without
// weights, which is all a structural compile or a cost question needs.
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '../codes.ts';
import type { DiagnosticLog, Location } from '../diagnostics.ts';
import { modelFiles } from '../artifact/inputs.ts';
import { shownPath } from '../text/paths.ts';
import { defaultConfig, ensureDefaultModel, MODELS_DIR } from '../builder/default-model.ts';
import type { ProgressStream } from '../builder/progress.ts';
import type { Graph } from '../ir/graph.ts';
import { importGraph } from '../ir/import.ts';
import { loadModel } from '../onnx/model.ts';
import type { ModelName } from '../model-names.ts';

export interface LoadedModel {
  graph: Graph;
  /** Where it came from, for the report. */
  source: string;
  /** True when its weights are absent (a graph-only model). */
  graphOnly: boolean;
  /** The files it was made from (the model and its weights files, or the default's config): an artifact's inputs. */
  inputs: string[];
}

export interface LoadOptions {
  /** Build the default without weights (into models/.built/graph-only). */
  graphOnly?: boolean;
  progress?: ProgressStream;
}

export function loadRecipeModel(
  c: ModelName,
  ref: string,
  log: DiagnosticLog,
  at: Location | undefined,
  opts: LoadOptions = {},
): LoadedModel | undefined {
  if (ref === 'default') {
    const built = ensureDefaultModel(c, log, {
      progress: opts.progress,
      ...(opts.graphOnly ? { build: { weights: 'none' }, root: path.join(MODELS_DIR, '.built', 'graph-only') } : {}),
    });
    const m = built && fromFile(built.file, log);
    return m && { ...m, inputs: [defaultConfig(c)] };
  }
  if (!fs.existsSync(ref)) {
    log.error(Code.RecipeModelMissing, `model file not found: ${ref}`, at);
    return undefined;
  }
  const before = log.items.length;
  const loaded = fromFile(ref, log);
  // Errors about the file point at the file; say which recipe line named it.
  const where = at ? `${at.file}:${at.line}:${at.col}` : 'the recipe';
  for (const d of log.items.slice(before))
    if (d.severity === 'error') d.notes = [...(d.notes ?? []), `named as model.${c} at ${where}`];
  if (!loaded || !hasRole(c, loaded.graph, ref, log, at)) return undefined;
  return loaded;
}

/**
 * A recipe's model checked for its role, reading no more than its graph: for
 * whatif, which prices the recipe's models without compiling them.
 */
export function checkRole(c: ModelName, ref: string, log: DiagnosticLog, at: Location | undefined): boolean {
  if (ref === 'default') return true;
  if (!fs.existsSync(ref)) {
    log.error(Code.RecipeModelMissing, `model file not found: ${ref}`, at);
    return false;
  }
  const m = loadModel(ref, log, { weights: 'optional' });
  const g = m && importGraph(m, log);
  return !!g && hasRole(c, g, ref, log, at);
}

// The inputs each component must have (the names diffusers/optimum exports use).
const ROLE_INPUTS: Record<ModelName, string[]> = {
  unet: ['sample', 'timestep', 'encoder_hidden_states'],
  vae_decoder: ['latent_sample'],
  text_encoder: ['input_ids'],
};

function hasRole(c: ModelName, g: Graph, file: string, log: DiagnosticLog, at?: Location): boolean {
  const names = new Set(g.inputs.map((v) => v.name));
  const missing = ROLE_INPUTS[c].filter((n) => !names.has(n));
  if (!missing.length) return true;
  const role = c === 'unet' ? 'UNet' : c === 'vae_decoder' ? 'VAE decoder' : 'text encoder';
  log.error(
    Code.WrongModelRole,
    `model.${c} (${path.basename(file)}) is not a ${role}: it lacks input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} (its inputs: ${[...names].map((n) => `'${n}'`).join(', ')})`,
    at,
  );
  return false;
}

function fromFile(file: string, log: DiagnosticLog): LoadedModel | undefined {
  const m = loadModel(file, log);
  if (!m) return undefined;
  const g = importGraph(m, log);
  if (!g) return undefined;
  const graphOnly = [...m.data.values()].some((d) => d.kind === 'external' && !d.ref.exists);
  return { graph: g, source: shownPath(file), graphOnly, inputs: modelFiles(path.resolve(file), g) };
}

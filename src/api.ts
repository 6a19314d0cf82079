// pocketdiff as a library: `import { compile, check, whatif, predict, diff } from 'pocketdiff'`.
// Each call returns what its command's --json prints (`result`) with the
// diagnostics it collected; nothing is printed, nothing exits. `ok` is false
// when any diagnostic is an error, and `result` is then absent. The CLI's
// commands are these calls plus argument parsing and printing.
import { diffArtifacts, latencyGrewPast, type ArtifactDiff } from './artifact/diff.ts';
import type { ProgressStream } from './builder/progress.ts';
import { Code } from './codes.ts';
import { checkRecipe, compile as runCompile, type CheckedTarget, type CompiledArtifact } from './compile.ts';
import { predictModel, type PredictReport } from './cost/predict-model.ts';
import { whatIf, type WhatIfReport, type WhatIfRequest } from './steps/whatif.ts';
import { DiagnosticLog, type Diagnostic } from './diagnostics.ts';
import { parseInputBindings } from './ir/bind.ts';
import { fmt } from './text/numbers.ts';

export type { ArtifactDiff, Change, DiffSide, ModelDiff } from './artifact/diff.ts';
export { diffMarkdown, diffText } from './artifact/diff-render.ts';
export type { Manifest } from './artifact/manifest.ts';
export type { CheckedTarget, CompiledArtifact } from './compile.ts';
export type { PredictReport } from './cost/predict-model.ts';
export type { WhatIfReport, WhatIfRequest } from './steps/whatif.ts';
export type { Diagnostic, Location, Severity } from './diagnostics.ts';
export { formatDiagnostic } from './diagnostics.ts';
export { TOOL_VERSION as version } from './version.ts';

export interface Outcome<T> {
  ok: boolean;
  result?: T;
  diagnostics: Diagnostic[];
}

export interface CompileApiOptions {
  /** Artifact root (default `out`): artifacts go to `<out>/<recipe>/<device>/`. */
  out?: string;
  /** Rebuild artifacts that are up to date. */
  force?: boolean;
  /** Artifacts hold graphs only (the embedded default is built without weights). */
  graphOnly?: boolean;
  /** Progress of each file written: `<device>/<file>`, bytes done, bytes in all. */
  onProgress?: (what: string, done: number, total: number) => void;
  /** Where building the embedded default model draws its progress bar (nowhere by default). */
  progress?: ProgressStream;
}

export interface CompileResult {
  artifacts: CompiledArtifact[];
  /** Devices whose prediction exceeds the target's budget_ms (the CLI exits 3). */
  budget_exceeded: string[];
}

export async function compile(recipe: string, options: CompileApiOptions = {}): Promise<Outcome<CompileResult>> {
  return collect(async (log) => {
    const artifacts = await runCompile(
      recipe,
      {
        out: options.out,
        force: options.force,
        graphOnly: options.graphOnly,
        onProgress: options.onProgress,
        progress: options.progress ?? quiet,
      },
      log,
    );
    return artifacts && { artifacts, budget_exceeded: overBudget(artifacts, log) };
  });
}

export interface CheckResult {
  recipe: string;
  /** Each target's prediction against its budget (no artifact is written). */
  targets: CheckedTarget[];
  /** Devices whose prediction exceeds the target's budget_ms (the CLI exits 3). */
  budget_exceeded: string[];
}

/** compile without the writing: the recipe against its models (read without weights), targets and budgets. */
export async function check(recipe: string): Promise<Outcome<CheckResult>> {
  return collect(async (log) => {
    const targets = await checkRecipe(recipe, log);
    return targets && { recipe, targets, budget_exceeded: overBudget(targets, log) };
  });
}

/** The targets over budget, each said as a coded warning. */
function overBudget(targets: (CheckedTarget & { dir?: string })[], log: DiagnosticLog): string[] {
  const over = targets.filter((a) => a.within_budget === false);
  for (const a of over) {
    log.warn(
      Code.BudgetExceeded,
      `${a.device}: predicted ${fmt(a.predicted_ms!)} ms exceeds budget_ms ${a.budget_ms}${a.dir ? `; see ${a.dir}/report.md for the top offenders` : ''}`,
    );
  }
  return over.map((a) => a.device);
}

export async function whatif(recipe: string, request: WhatIfRequest): Promise<Outcome<WhatIfReport>> {
  return collect(async (log) => (await whatIf(recipe, request, log))?.report);
}

export interface PredictOptions {
  device: string;
  /** A precision scheme (fp16, int8, int4, w8a16, w8a8); otherwise the graph as the profile runs a float graph. */
  precision?: string;
  /** Dims for the model's dynamic inputs, as `NAME=d0,d1,…` (the CLI's --input). */
  inputs?: string[];
}

export async function predict(model: string, options: PredictOptions): Promise<Outcome<PredictReport>> {
  return collect(async (log) => {
    const bindings = parseInputBindings(options.inputs ?? [], log);
    return bindings && predictModel(model, options.device, bindings, log, options.precision);
  });
}

export interface DiffOptions {
  /** A warning (PD7020) when the predicted latency grew by more than this; `exceeded` says so. */
  failOverMs?: number;
}

export async function diff(
  oldArtifact: string,
  newArtifact: string,
  options: DiffOptions = {},
): Promise<Outcome<ArtifactDiff & { exceeded: boolean }>> {
  return collect(async (log) => {
    const d = diffArtifacts(oldArtifact, newArtifact, log);
    return d && { ...d, exceeded: options.failOverMs !== undefined && latencyGrewPast(d, options.failOverMs, log) };
  });
}

/** Building the default model prints a bar; a library call stays silent unless asked. */
const quiet: ProgressStream = { write: () => true };

async function collect<T>(work: (log: DiagnosticLog) => Promise<T | undefined>): Promise<Outcome<T>> {
  const log = new DiagnosticLog();
  const result = await work(log);
  const ok = result !== undefined && !log.hasErrors;
  return { ok, ...(ok ? { result } : {}), diagnostics: log.items };
}

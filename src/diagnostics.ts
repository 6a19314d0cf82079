// Diagnostics are data: passes and loaders collect them in a DiagnosticLog and
// keep going where they can, so a user sees every root cause in one run.
// Only the CLI boundary turns an error-bearing log into an exit status.

import { shownPath } from './text/paths.ts';

export type Severity = 'error' | 'warning' | 'note';

/** Where a diagnostic points: a source position, a graph node, or both. */
export interface Location {
  file?: string;
  line?: number;
  col?: number;
  /** ONNX node name (or tensor name) inside the file. */
  node?: string;
}

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  location?: Location;
  notes?: string[];
}

export class DiagnosticLog {
  readonly items: Diagnostic[] = [];

  error(code: string, message: string, location?: Location, notes?: string[]): void {
    this.items.push({ code, severity: 'error', message, location, notes });
  }

  warn(code: string, message: string, location?: Location, notes?: string[]): void {
    this.items.push({ code, severity: 'warning', message, location, notes });
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }

  errors(): Diagnostic[] {
    return this.items.filter((d) => d.severity === 'error');
  }

  codes(): string[] {
    return this.items.map((d) => d.code);
  }
}

export function formatLocation(loc: Location | undefined): string {
  if (!loc) return '';
  // Relative under the working directory (recipes/x.yaml:3:5), absolute elsewhere.
  let s = loc.file ? shownPath(loc.file) : '';
  if (loc.line !== undefined) s += `:${loc.line}${loc.col !== undefined ? `:${loc.col}` : ''}`;
  if (loc.node !== undefined) s += `${s ? ' ' : ''}(node '${loc.node}')`;
  return s;
}

/** `file:line:col: error PD1003: message` — the shape editors and CI logs understand. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = formatLocation(d.location);
  const head = `${where ? where + ': ' : ''}${d.severity} ${d.code}: ${d.message}`;
  return [head, ...(d.notes ?? []).map((n) => `  note: ${n}`)].join('\n');
}

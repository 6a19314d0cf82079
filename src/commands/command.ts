// The shape every CLI command has. Commands report through a DiagnosticLog;
// the CLI prints it and picks the exit status.
import type { DiagnosticLog } from '../diagnostics.ts';

export interface CommandContext {
  log: DiagnosticLog;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** Returns the exit status: 0 ok, 1 errors reported, 2 usage, 3 budget exceeded. */
  run(argv: string[], ctx: CommandContext): Promise<number> | number;
}

export const Exit = { Ok: 0, Error: 1, Usage: 2, Budget: 3 } as const;

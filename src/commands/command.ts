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
  /** Returns the exit status (see Exit). */
  run(argv: string[], ctx: CommandContext): Promise<number> | number;
}

/**
 * Exit statuses, the same for every command: a user's mistake (bad arguments,
 * recipe, model or file) is 2 and comes with coded diagnostics; 1 is reserved
 * for pocketdiff's own bugs; 3 means a target's latency budget is exceeded.
 */
export const Exit = { Ok: 0, Internal: 1, Error: 2, Usage: 2, Budget: 3 } as const;

// The `pocketdiff` command line: one table of commands, one place that prints
// diagnostics and chooses the exit status.
import { DiagnosticLog, formatDiagnostic, type Diagnostic } from './diagnostics.ts';
import { Exit, type Command, type CommandContext } from './commands/command.ts';
import { closest } from './text/did-you-mean.ts';
import { TOOL_VERSION } from './version.ts';
// Commands load on demand: `convert` should not pay for ts-morph or the cost model.
const commands: { name: string; load: () => Promise<Command> }[] = [
  { name: 'compile', load: async () => (await import('./commands/compile.ts')).compile },
  { name: 'check', load: async () => (await import('./commands/compile.ts')).check },
  { name: 'diff', load: async () => (await import('./commands/diff.ts')).diff },
  { name: 'run', load: async () => (await import('./commands/run.ts')).run },
  { name: 'inspect', load: async () => (await import('./commands/inspect.ts')).inspect },
  { name: 'convert', load: async () => (await import('./commands/convert.ts')).convert },
  { name: 'models', load: async () => (await import('./commands/models.ts')).models },
  { name: 'predict', load: async () => (await import('./commands/predict.ts')).predict },
  { name: 'whatif', load: async () => (await import('./commands/whatif.ts')).whatif },
  { name: 'evolve', load: async () => (await import('./commands/evolve.ts')).evolveCommand },
  { name: 'distill', load: async () => (await import('./commands/distill.ts')).distill },
  { name: 'worker', load: async () => (await import('./commands/worker.ts')).workerCommand },
  { name: 'calibrate', load: async () => (await import('./commands/calibrate.ts')).calibrateCommand },
  { name: 'devices', load: async () => (await import('./commands/devices.ts')).devices },
];

/** The overview loads every command for its summary; running one loads only that one. */
async function help(): Promise<string> {
  const loaded = await Promise.all(commands.map((c) => c.load()));
  const width = Math.max(...loaded.map((c) => c.name.length));
  return [
    'pocketdiff — compress Stable Diffusion models for phones',
    '',
    'usage: pocketdiff <command> [options]',
    '',
    ...loaded.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `pocketdiff help <command>` (or `pocketdiff <command> --help`) for a command's usage; `pocketdiff --version` for the version.",
  ].join('\n');
}

/** A diagnostic as --json prints it: code, severity, message, where (file, line, col, node) and notes. */
function jsonDiagnostic(d: Diagnostic): Record<string, unknown> {
  return {
    code: d.code,
    severity: d.severity,
    message: d.message,
    ...(d.location ? { location: d.location } : {}),
    ...(d.notes?.length ? { notes: d.notes } : {}),
  };
}

export async function main(argv: string[], io: Partial<CommandContext> = {}): Promise<number> {
  const log = io.log ?? new DiagnosticLog();
  const ctx: CommandContext = {
    log,
    stdout: io.stdout ?? ((t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n')),
    stderr: io.stderr ?? ((t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n')),
  };
  const [first, ...more] = argv;
  if (first === '--version' || first === '-v' || first === 'version') {
    ctx.stdout(`pocketdiff ${TOOL_VERSION}`);
    return Exit.Ok;
  }
  // `pocketdiff help <command>` is `pocketdiff <command> --help`.
  const [name, ...rest] = first === 'help' && more.length ? [more[0], '--help'] : argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    ctx.stdout(await help());
    return name ? Exit.Ok : Exit.Usage;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    const guess = closest(
      name,
      commands.map((c) => c.name),
    );
    ctx.stderr(
      `error PD3001: unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ''}\n\n${await help()}`,
    );
    return Exit.Usage;
  }
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    const { DETAILS, wrap } = await import('./commands/help-text.ts');
    const details = DETAILS[cmd.name] && wrap(DETAILS[cmd.name]());
    ctx.stdout(`usage: ${cmd.usage}\n\n${wrap(cmd.summary)}${details ? `\n\n${details}` : ''}`);
    return Exit.Ok;
  }
  let status: number;
  try {
    status = await cmd.run(rest, ctx);
  } catch (e) {
    // A thrown error is a bug in pocketdiff, not a user mistake: say so plainly.
    ctx.stderr(`internal error: ${(e as Error).stack ?? e}`);
    return Exit.Internal;
  }
  // Under --json a script reads the diagnostics too: one JSON object on stderr, beside the result on stdout.
  if (rest.includes('--json')) {
    if (log.items.length) ctx.stderr(JSON.stringify({ diagnostics: log.items.map(jsonDiagnostic) }, null, 2));
  } else for (const d of log.items) ctx.stderr(formatDiagnostic(d));
  if (status === Exit.Ok && log.hasErrors) status = Exit.Error;
  return status;
}

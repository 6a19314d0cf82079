// The `pocketdiff` command line: one table of commands, one place that prints
// diagnostics and chooses the exit status.
import { DiagnosticLog, formatDiagnostic } from './diagnostics.ts';
import { Exit, type Command, type CommandContext } from './commands/command.ts';
import { check, compile } from './commands/compile.ts';
import { convert } from './commands/convert.ts';
import { inspect } from './commands/inspect.ts';
import { models } from './commands/models.ts';

const commands: Command[] = [compile, check, inspect, convert, models];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'pocketdiff — compress Stable Diffusion models for phones',
    '',
    'usage: pocketdiff <command> [options]',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `pocketdiff <command> --help` for a command\'s usage.',
  ].join('\n');
}

export async function main(argv: string[], io: Partial<CommandContext> = {}): Promise<number> {
  const log = io.log ?? new DiagnosticLog();
  const ctx: CommandContext = {
    log,
    stdout: io.stdout ?? ((t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n')),
    stderr: io.stderr ?? ((t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n')),
  };
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    ctx.stdout(help());
    return name ? Exit.Ok : Exit.Usage;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    ctx.stderr(`error PD3001: unknown command '${name}'\n\n${help()}`);
    return Exit.Usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    ctx.stdout(`usage: ${cmd.usage}\n\n${cmd.summary}`);
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
  for (const d of log.items) ctx.stderr(formatDiagnostic(d));
  if (status === Exit.Ok && log.hasErrors) status = Exit.Error;
  return status;
}

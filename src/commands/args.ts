// Argument parsing shared by the commands: node's parseArgs, with usage
// errors turned into a coded diagnostic instead of an exception.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';
import { closest } from '../text/did-you-mean.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(argv: string[], options: O, usage: string, log: DiagnosticLog) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    log.error(Code.Usage, `${explain(e as Error & { code?: string }, Object.keys(options))}\nusage: ${usage}`);
    return undefined;
  }
}

/** parseArgs' messages in the CLI's words: an unknown flag gets a did-you-mean among the command's own. */
function explain(e: Error & { code?: string }, flags: string[]): string {
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'(-[^']*)'/.exec(e.message)?.[1] ?? '';
    const name = flag.replace(/^-+/, '').replace(/=.*$/, '');
    const guess = closest(name, flags);
    return `unknown option '${flag}'${guess ? `; did you mean '--${guess}'?` : ''} (options: ${flags.map((f) => `--${f}`).join(', ')})`;
  }
  const missing = /^Option '(--[^' ]+)[^']*' argument missing/.exec(e.message);
  if (missing) return `${missing[1]} needs a value`;
  const noValue = /^Option '(--[^' ]+)' does not take an argument/.exec(e.message);
  if (noValue) return `${noValue[1]} is a switch and takes no value`;
  return e.message;
}

/** A usage error: the message, then the usage line, as a coded diagnostic; returns `ret`. */
export function usageError<T>(log: DiagnosticLog, usage: string, ret: T): (msg: string) => T {
  return (msg) => {
    log.error(Code.Usage, `${msg}\nusage: ${usage}`);
    return ret;
  };
}

// Argument parsing shared by the commands: node's parseArgs, with usage
// errors turned into a coded diagnostic instead of an exception.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Code } from '../codes.ts';
import type { DiagnosticLog } from '../diagnostics.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export function parse<O extends Options>(argv: string[], options: O, usage: string, log: DiagnosticLog) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    log.error(Code.Usage, `${(e as Error).message}\nusage: ${usage}`);
    return undefined;
  }
}

/** A usage error: the message, then the usage line, as a coded diagnostic; returns `ret`. */
export function usageError<T>(log: DiagnosticLog, usage: string, ret: T): (msg: string) => T {
  return (msg) => {
    log.error(Code.Usage, `${msg}\nusage: ${usage}`);
    return ret;
  };
}

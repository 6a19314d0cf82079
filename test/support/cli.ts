// The CLI in-process: what `pocketdiff ARGV…` prints and returns, without a
// child process (main() prints the diagnostics to stderr as the binary does).
import { main } from '../../src/cli.ts';
import { DiagnosticLog } from '../../src/diagnostics.ts';

export async function cli(
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string; log: DiagnosticLog }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = new DiagnosticLog();
  const code = await main(argv, { log, stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n'), log };
}

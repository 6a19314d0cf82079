// A progress bar for long weight writes, on stderr. On a terminal it redraws
// one line (at most ten times a second); elsewhere (CI logs, pipes) it prints a
// line at each quarter, so logs stay short. Short writes show nothing.
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const MIN_BYTES = 64 * 2 ** 20;

export class ProgressBar {
  private start = Date.now();
  private lastDraw = 0;
  private lastQuarter = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly out: ProgressStream = process.stderr,
  ) {}

  /** The callback saveModel calls after each tensor. */
  readonly update = (done: number, total: number): void => {
    if (total < MIN_BYTES) return;
    const now = Date.now();
    if (this.out.isTTY) {
      if (now - this.lastDraw < 100 && done < total) return;
      this.lastDraw = now;
      this.drawn = true;
      this.out.write(`\r${this.line(done, total, Math.max(10, Math.min(40, (this.out.columns ?? 80) - 60)))}`);
      return;
    }
    const quarter = Math.floor((4 * done) / total);
    if (quarter > this.lastQuarter) {
      this.lastQuarter = quarter;
      this.out.write(
        `${this.label}: ${Math.floor((100 * done) / total)}% (${gb(done)}/${gb(total)} GB, ${seconds(now - this.start)})\n`,
      );
    }
  };

  /** Ends the bar's line (on a terminal). */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  line(done: number, total: number, width: number): string {
    const frac = total ? done / total : 1;
    const fill = Math.round(frac * width);
    return `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${gb(done)}/${gb(total)} GB ${seconds(Date.now() - this.start)}`;
  }
}

const gb = (n: number) => (n / 1e9).toFixed(2);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// Finished scores on disk, so a killed evolve run started again reuses them.
// One JSON line per sample score, appended as soon as it is known and
// flushed; a line cut short by a kill is ignored on the next read. A score's
// key hashes everything it depends on: the models' bytes, the gate request
// that shaped the scoring UNet, the gate vector, the prompt, the seed, the
// metric and the sampling (schedule, guidance, resolution).
import fs from 'node:fs';
import path from 'node:path';

export class ScoreCache {
  private readonly scores = new Map<string, number>();
  private fd: number | undefined;
  private readonly fresh = new Set<string>();
  /** Scores read back from disk (reused), and scores computed in this run. */
  reused = 0;
  computed = 0;

  constructor(readonly file: string | undefined) {
    if (!file) return;
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      // no cache yet
    }
    for (const line of text.split('\n')) {
      try {
        const e = JSON.parse(line) as { k: string; v: number };
        if (typeof e.k === 'string' && typeof e.v === 'number') this.scores.set(e.k, e.v);
      } catch {
        // an unfinished last line
      }
    }
  }

  get(key: string): number | undefined {
    const v = this.scores.get(key);
    // A score put by this run (a worker's result) was computed, not reused.
    if (v !== undefined && !this.fresh.has(key)) this.reused++;
    return v;
  }

  has(key: string): boolean {
    return this.scores.has(key);
  }

  put(key: string, value: number): void {
    this.scores.set(key, value);
    this.fresh.add(key);
    this.computed++;
    if (!this.file) return;
    if (this.fd === undefined) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      this.fd = fs.openSync(this.file, 'a');
      // A kill between two writes can leave a partial line: start on a fresh one.
      fs.writeSync(this.fd, '\n');
    }
    fs.writeSync(this.fd, JSON.stringify({ k: key, v: value }) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

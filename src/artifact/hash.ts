// sha256 and size of files, streamed (artifact weights can be gigabytes).
import crypto from 'node:crypto';
import fs from 'node:fs';

export function hashFile(file: string): { bytes: number; sha256: string } {
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = fs.openSync(file, 'r');
  let bytes = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { bytes, sha256: h.digest('hex') };
}

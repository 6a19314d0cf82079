// `node copy-loop.mjs SRC DST`: the plainest copy a JavaScript program can make, a
// read/write loop through one 1 MiB buffer (convert's chunk size). bench/run.ts times it
// beside cp and copyFileSync, which copy inside the kernel (copy_file_range) and never
// move the bytes through user memory: where that costs much more, this row shows it.
import fs from 'node:fs';

const [src, dst] = process.argv.slice(2);
const buf = Buffer.allocUnsafe(1 << 20);
const a = fs.openSync(src, 'r');
const b = fs.openSync(dst, 'w');
for (let pos = 0, n; (n = fs.readSync(a, buf, 0, buf.length, pos)) > 0; pos += n) {
  for (let off = 0; off < n; ) off += fs.writeSync(b, buf, off, n - off, pos + off);
}
fs.closeSync(a);
fs.closeSync(b);

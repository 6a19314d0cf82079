// webdataset shards: plain tar files whose members are `<key>.<field>`, the
// fields of one sample next to each other (`000017.latent.npy`,
// `000017.json`). Written through tar-stream with every header field fixed
// (mtime 0, owner 0, mode 0644), so the same samples give the same bytes, to a
// `.partial` file renamed when complete: a killed writer leaves only that.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { release, track } from '../scratch.ts';

export interface Sample {
  key: string;
  /** field (`latent.npy`, `json`, `png`) → bytes */
  fields: Record<string, Uint8Array>;
}

/** Writes one shard; returns its sha256 and size. Fields are written in the order given. */
export async function writeShard(file: string, samples: Iterable<Sample>): Promise<{ sha256: string; bytes: number }> {
  const partial = track(`${file}.partial`);
  const pack = tar.pack();
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const out = fs.createWriteStream(partial);
  const done = pipeline(
    pack,
    async function* (chunks: AsyncIterable<unknown>) {
      for await (const c of chunks) {
        const b = c as Buffer;
        hash.update(b);
        bytes += b.length;
        yield b;
      }
    },
    out,
  );
  for (const s of samples) {
    for (const [field, data] of Object.entries(s.fields)) {
      await new Promise<void>((resolve, reject) =>
        pack.entry(
          {
            name: `${s.key}.${field}`,
            size: data.byteLength,
            mtime: new Date(0),
            mode: 0o644,
            uid: 0,
            gid: 0,
            uname: '',
            gname: '',
          },
          Buffer.from(data.buffer, data.byteOffset, data.byteLength),
          (e) => (e ? reject(e) : resolve()),
        ),
      );
    }
  }
  pack.finalize();
  await done;
  fs.renameSync(partial, file);
  release(partial);
  return { sha256: hash.digest('hex'), bytes };
}

/** The samples of a shard, grouped by key in the order they appear. */
export async function readShard(file: string): Promise<Sample[]> {
  const extract = tar.extract();
  const samples: Sample[] = [];
  const byKey = new Map<string, Sample>();
  const reading = pipeline(fs.createReadStream(file), extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const name = entry.header.name;
    // webdataset: the key is everything before the first dot of the base name.
    const slash = name.lastIndexOf('/') + 1;
    const dot = name.indexOf('.', slash);
    const [key, field] = dot < 0 ? [name, ''] : [name.slice(0, dot), name.slice(dot + 1)];
    let s = byKey.get(key);
    if (!s) {
      s = { key, fields: {} };
      byKey.set(key, s);
      samples.push(s);
    }
    s.fields[field] = new Uint8Array(Buffer.concat(chunks));
  }
  await reading;
  return samples;
}

// webdataset shards: plain tar files whose members are `<key>.<field>`, the
// fields of one sample next to each other (`000017.latent.npy`,
// `000017.json`). Written through tar-stream with every header field fixed
// (mtime 0, owner 0, mode 0644), so the same samples give the same bytes, to a
// `.partial` file renamed when complete: a killed writer leaves only that.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { release, removeScratch, track } from '../scratch.ts';

export interface Sample {
  key: string;
  /** field (`latent.npy`, `json`, `png`) → bytes */
  fields: Record<string, Uint8Array>;
}

/**
 * Writes one shard; returns its sha256 and size. Fields are written in the
 * order given. Throws when the file cannot be written (the partial is removed).
 */
export async function writeShard(file: string, samples: Iterable<Sample>): Promise<{ sha256: string; bytes: number }> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const partial = track(`${file}.partial`);
  try {
    // Opened here, so a folder that cannot be written fails before any stream runs.
    const written = await packInto(fs.createWriteStream('', { fd: fs.openSync(partial, 'w') }), samples);
    fs.renameSync(partial, file);
    release(partial);
    return written;
  } catch (e) {
    removeScratch(partial);
    throw e;
  }
}

async function packInto(out: fs.WriteStream, samples: Iterable<Sample>): Promise<{ sha256: string; bytes: number }> {
  const tarball = tar.pack();
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const piped = pipeline(
    tarball,
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
      const header = {
        name: `${s.key}.${field}`,
        size: data.byteLength,
        mtime: new Date(0),
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
      };
      const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      await new Promise<void>((resolve, reject) => tarball.entry(header, body, (e) => (e ? reject(e) : resolve())));
    }
  }
  tarball.finalize();
  await piped;
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

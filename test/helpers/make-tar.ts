// Builds tar archives in memory for tests, with OUR header encoder and without the writer's
// path checks, so hostile names ("../x", "/etc/x", PAX paths that disagree with the header)
// can be written on purpose. Also small helpers to read archives back and to make temp dirs.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { encodePaxRecords } from '../../src/archive/pax.js';
import {
  encodeHeader,
  paddingFor,
  type TarEntryMeta,
  type TarEntryType,
  type UstarFields,
} from '../../src/archive/tar-header.js';
import { readTar, type TarReaderEntry } from '../../src/archive/tar-reader.js';
import { END_OF_ARCHIVE, encodeEntryHeader } from '../../src/archive/tar-writer.js';

export interface TarSpec {
  path: string;
  /** Default: 'dir' when the path ends in '/', else 'file'. */
  type?: TarEntryType;
  body?: string | Uint8Array;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Uint8Array | string>;
}

/** One entry: header blocks (with PAX when needed), body, padding. Paths are written as given. */
export function tarEntry(spec: TarSpec): Buffer {
  const type = spec.type ?? (spec.path.endsWith('/') ? 'dir' : 'file');
  const body = spec.body === undefined ? Buffer.alloc(0) : Buffer.from(spec.body);
  const meta: TarEntryMeta = {
    path: spec.path,
    type,
    mode: spec.mode ?? (type === 'dir' ? 0o755 : 0o644),
    uid: spec.uid ?? 0,
    gid: spec.gid ?? 0,
    size: type === 'file' ? body.length : 0,
    mtime: spec.mtime ?? 1_700_000_000,
    ...(spec.linkname === undefined ? {} : { linkname: spec.linkname }),
    ...(spec.devmajor === undefined ? {} : { devmajor: spec.devmajor }),
    ...(spec.devminor === undefined ? {} : { devminor: spec.devminor }),
    ...(spec.xattrs === undefined ? {} : { xattrs: spec.xattrs }),
  };
  const parts = [encodeEntryHeader(meta)];
  if (type === 'file' && body.length > 0) parts.push(body, Buffer.alloc(paddingFor(body.length)));
  return Buffer.concat(parts);
}

/** A raw header block (any typeflag, any name) followed by `data` and its padding. */
export function rawEntry(
  fields: Partial<UstarFields> & { name: string },
  data: Uint8Array = Buffer.alloc(0),
): Buffer {
  const header = encodeHeader({
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1_700_000_000,
    typeflag: '0',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    ...fields,
    size: fields.size ?? data.length,
  });
  return Buffer.concat([header, Buffer.from(data), Buffer.alloc(paddingFor(data.length))]);
}

/** A PAX extended header entry ('x' local or 'g' global) with the given records. */
export function paxEntry(records: Array<[string, string | Uint8Array]>, typeflag: 'x' | 'g' = 'x'): Buffer {
  return rawEntry({ name: 'PaxHeaders/x', typeflag }, encodePaxRecords(records));
}

/** A GNU long name ('L') or long link ('K') entry, as GNU tar writes them. */
export function gnuLongEntry(typeflag: 'L' | 'K', value: string): Buffer {
  return rawEntry({ name: '././@LongLink', typeflag }, Buffer.concat([Buffer.from(value), Buffer.alloc(1)]));
}

export function makeTar(specs: Array<TarSpec | Buffer>, options: { end?: boolean } = {}): Buffer {
  const parts = specs.map((s) => (Buffer.isBuffer(s) ? s : tarEntry(s)));
  if (options.end !== false) parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/** A byte stream over `buf`, in chunks of `chunkSize` (small sizes exercise block boundaries). */
export function bytesOf(buf: Uint8Array, chunkSize = 4096): Readable {
  function* chunks(): Generator<Buffer> {
    for (let i = 0; i < buf.length; i += chunkSize) yield Buffer.from(buf.subarray(i, i + chunkSize));
  }
  return Readable.from(chunks(), { objectMode: false });
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

export type ReadBackEntry = Omit<TarReaderEntry, 'body'> & { content: Buffer };

/** Every entry of an archive with its content in memory (for small archives only). */
export async function readBack(
  tar: Uint8Array | AsyncIterable<Uint8Array>,
  chunkSize?: number,
): Promise<ReadBackEntry[]> {
  const source = tar instanceof Uint8Array ? bytesOf(tar, chunkSize) : tar;
  const out: ReadBackEntry[] = [];
  for await (const entry of readTar(source)) {
    const { body, ...rest } = entry;
    out.push({ ...rest, content: await collect(body) });
  }
  return out;
}

export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix = 'strata-archive-',
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

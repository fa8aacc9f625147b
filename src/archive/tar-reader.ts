// A streaming tar parser: an async iterator over entries, each with a body Readable that yields
// exactly the entry's content. Memory is bounded by one input chunk plus the metadata entries
// (PAX / GNU long names, capped).
//
// Formats: ustar, GNU (magic "ustar  ", base-256 numbers, `L`/`K` long name and link), PAX
// (`x` per entry, `g` global), v7. A bad checksum is EINVAL; input that ends inside a header,
// a body or before the end-of-archive marker is EINVAL ("truncated"), never a hang. After the
// marker the rest of the input is read and discarded, so that whatever verifies the stream
// upstream (a digest check) sees its end.

import { Readable } from 'node:stream';
import { BuilderError } from '../errors.js';
import { decodePaxRecords, interpretPaxRecords, type PaxRecords } from './pax.js';
import {
  BLOCK_SIZE,
  bytesToString,
  decodeHeader,
  type HeaderFormat,
  paddingFor,
  type TarEntryType,
} from './tar-header.js';

/** One entry as read. Every optional field of TarEntryMeta is filled in. */
export interface TarReaderEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content (0 for header-only types, whatever their size field says). */
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
  uname: string;
  gname: string;
  /** The raw typeflag character ('0', '\0', '7', ... for files). */
  typeflag: string;
  format: HeaderFormat;
  /** Merged global and local PAX records, raw. */
  pax: ReadonlyMap<string, Buffer>;
  /** Offset of the entry's own (ustar) header in the archive. */
  offset: number;
  /**
   * The content. Consume it (or ignore it) before asking the iterator for the next entry:
   * advancing discards whatever is left and destroys this stream.
   */
  body: Readable;
}

export interface ReadTarOptions {
  signal?: AbortSignal;
  /** Accept input that ends cleanly between entries without the end-of-archive marker. */
  allowMissingEnd?: boolean;
  /** Cap on PAX and GNU long-name content per entry (default 16 MiB). */
  maxMetadataSize?: number;
}

const DEFAULT_MAX_METADATA = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

function truncated(offset: number, what: string): BuilderError {
  return new BuilderError('EINVAL', `tar archive is truncated: input ended ${what} (offset ${offset})`);
}

/** Pulls bytes from an async iterable of chunks without copying more than a header's worth. */
class ByteSource {
  readonly #it: AsyncIterator<Uint8Array>;
  #head: Buffer = EMPTY;
  #ended = false;
  /** Bytes handed out so far. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (!this.#ended) {
      const r = await this.#it.next();
      if (r.done) {
        this.#ended = true;
        return false;
      }
      const chunk = r.value;
      if (typeof chunk === 'string') throw new BuilderError('EINVAL', 'tar input must be bytes, not strings');
      if (chunk.byteLength === 0) continue;
      const buf = Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.#head = this.#head.length === 0 ? buf : Buffer.concat([this.#head, buf]);
      return true;
    }
    return false;
  }

  /** Up to `n` bytes; fewer only at end of input. */
  async read(n: number): Promise<Buffer> {
    while (this.#head.length < n) {
      if (!(await this.#fill())) break;
    }
    const out = this.#head.subarray(0, Math.min(n, this.#head.length));
    this.#head = this.#head.subarray(out.length);
    this.offset += out.length;
    return out;
  }

  /** Between 1 and `max` bytes, or undefined at end of input. */
  async chunk(max: number): Promise<Buffer | undefined> {
    if (this.#head.length === 0 && !(await this.#fill())) return undefined;
    const out = this.#head.subarray(0, Math.min(max, this.#head.length));
    this.#head = this.#head.subarray(out.length);
    this.offset += out.length;
    return out;
  }

  /** Discards `n` bytes; false if the input ended first. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const c = await this.chunk(n);
      if (!c) return false;
      n -= c.length;
    }
    return true;
  }

  async close(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      await this.#it.return?.();
    }
  }
}

/** Reads one body in chunks as its consumer pulls, and skips what the consumer leaves. */
class BodyReader {
  readonly stream: Readable;
  #remaining: number;
  #pumping: Promise<void> | undefined;
  #wanted = false;
  #error: Error | undefined;

  constructor(
    private readonly src: ByteSource,
    size: number,
  ) {
    this.#remaining = size;
    this.stream = new Readable({
      highWaterMark: 64 * 1024,
      read: () => {
        this.#wanted = true;
        if (!this.#pumping) this.#pumping = this.#pump().finally(() => (this.#pumping = undefined));
      },
    });
    if (size === 0) this.stream.push(null);
  }

  async #pump(): Promise<void> {
    while (this.#wanted && !this.stream.destroyed) {
      if (this.#remaining === 0) {
        this.stream.push(null);
        return;
      }
      let c: Buffer | undefined;
      try {
        c = await this.src.chunk(this.#remaining);
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
      if (!c) {
        this.#fail(truncated(this.src.offset, 'inside an entry body'));
        return;
      }
      this.#remaining -= c.length;
      this.#wanted = false;
      // push() may call read() synchronously, which sets #wanted again.
      if (this.stream.push(c)) this.#wanted = true;
    }
  }

  #fail(err: Error): void {
    this.#error = err;
    this.stream.destroy(err);
  }

  /** Waits for a pull in flight, then discards the unread rest. Throws if the input was cut. */
  async finish(): Promise<void> {
    this.#wanted = false;
    await this.#pumping;
    if (this.#error) throw this.#error;
    if (this.#remaining > 0) {
      const n = this.#remaining;
      this.#remaining = 0;
      if (!this.stream.destroyed && !this.stream.readableEnded) this.stream.destroy();
      if (!(await this.src.skip(n))) throw truncated(this.src.offset, 'inside an entry body');
    }
  }
}

function typeOf(typeflag: string, name: string): TarEntryType | undefined {
  switch (typeflag) {
    case '0':
    case '\0':
    case '7': // contiguous file
      // Pre-POSIX archives mark directories with a trailing slash on a regular entry.
      return name.endsWith('/') ? 'dir' : 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
    case 'D': // GNU dumpdir: a directory followed by a listing we ignore
      return 'dir';
    case '6':
      return 'fifo';
    case 'S':
    case 'M':
    case 'N':
      throw new BuilderError(
        'EINVAL',
        `tar entry ${name}: GNU typeflag ${typeflag} (sparse/multivolume/old long names) is not supported`,
      );
    case 'V':
      return undefined; // volume label: skipped
    default:
      // POSIX: an unrecognized type is read as a regular file.
      return 'file';
  }
}

const HEADER_ONLY: ReadonlySet<TarEntryType> = new Set([
  'hardlink',
  'symlink',
  'char',
  'block',
  'dir',
  'fifo',
]);

function mergeRecords(into: Map<string, Buffer>, records: PaxRecords): void {
  for (const [key, value] of records) {
    // An empty value removes the keyword (it then falls back to the header field), except for
    // xattrs, where an empty value is a real, empty attribute.
    if (value.length === 0 && !key.startsWith('SCHILY.xattr.')) into.delete(key);
    else into.set(key, value);
  }
}

/**
 * Parses a tar stream. The body of each entry must be consumed before the next iteration or it
 * is skipped; breaking out of the loop stops reading (and closes a Readable source).
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarReaderEntry, void, undefined> {
  const src = new ByteSource(source);
  const maxMeta = options.maxMetadataSize ?? DEFAULT_MAX_METADATA;
  const globals = new Map<string, Buffer>();
  let local: PaxRecords | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let sawAnything = false;
  let finished = false;
  let current: BodyReader | undefined;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const offset = src.offset;
      const block = await src.read(BLOCK_SIZE);
      if (block.length === 0) {
        if (!sawAnything || options.allowMissingEnd) break; // empty input is an empty archive
        throw truncated(offset, 'before the end-of-archive marker');
      }
      if (block.length < BLOCK_SIZE) throw truncated(src.offset, 'inside a header');
      sawAnything = true;
      const raw = decodeHeader(block, offset);
      if (!raw) {
        // End of archive. A lone zero block is accepted, as GNU tar does; drain the rest.
        if (local || longName !== undefined || longLink !== undefined) {
          throw new BuilderError('EINVAL', `tar archive ends after an extended header (offset ${offset})`);
        }
        while (await src.chunk(1 << 20)) {}
        finished = true;
        break;
      }

      if (raw.typeflag === 'x' || raw.typeflag === 'g' || raw.typeflag === 'L' || raw.typeflag === 'K') {
        if (raw.size > maxMeta) {
          throw new BuilderError(
            'EINVAL',
            `tar extended header at offset ${offset} is too large (${raw.size} bytes)`,
          );
        }
        const data = await src.read(raw.size);
        if (data.length < raw.size || !(await src.skip(paddingFor(raw.size)))) {
          throw truncated(src.offset, 'inside an extended header');
        }
        if (raw.typeflag === 'x') {
          local = local ?? new Map();
          for (const [k, v] of decodePaxRecords(data)) local.set(k, v);
        } else if (raw.typeflag === 'g') mergeRecords(globals, decodePaxRecords(data));
        else {
          const end = data.indexOf(0);
          const text = bytesToString(end < 0 ? data : data.subarray(0, end));
          if (raw.typeflag === 'L') longName = text;
          else longLink = text;
        }
        continue;
      }

      const records = new Map(globals);
      if (local) mergeRecords(records, local);
      local = undefined;
      const pax = interpretPaxRecords(records);
      const path = pax.path ?? longName ?? raw.name;
      const linkname = pax.linkpath ?? longLink ?? raw.linkname;
      longName = undefined;
      longLink = undefined;
      const declaredSize = pax.size ?? raw.size;
      const type = typeOf(raw.typeflag, path);
      const size = type === undefined || HEADER_ONLY.has(type) ? 0 : declaredSize;
      // Volume labels and GNU dumpdir listings carry data nobody extracts.
      const skipped = type === undefined || raw.typeflag === 'D' ? declaredSize : 0;
      if (skipped > 0 && !(await src.skip(skipped + paddingFor(skipped)))) {
        throw truncated(src.offset, 'inside an entry body');
      }
      if (type === undefined) continue;
      if (path.includes('\0') || linkname.includes('\0')) {
        throw new BuilderError('EINVAL', `tar entry at offset ${offset}: name contains NUL`);
      }
      const body = new BodyReader(src, size);
      current = body;
      const entry: TarReaderEntry = {
        path,
        type,
        mode: raw.mode & 0o7777,
        uid: pax.uid ?? raw.uid,
        gid: pax.gid ?? raw.gid,
        size,
        mtime: pax.mtime ?? raw.mtime,
        linkname,
        devmajor: raw.devmajor,
        devminor: raw.devminor,
        xattrs: pax.xattrs,
        uname: pax.uname ?? raw.uname,
        gname: pax.gname ?? raw.gname,
        typeflag: raw.typeflag,
        format: raw.format,
        pax: records,
        offset,
        body: body.stream,
      };
      yield entry;
      await body.finish();
      current = undefined;
      if (!(await src.skip(paddingFor(size)))) throw truncated(src.offset, 'inside entry padding');
    }
  } finally {
    if (current && !current.stream.readableEnded) current.stream.destroy();
    if (!finished) await src.close();
  }
}

// The 512-byte tar header block: ustar layout (POSIX.1-1988), GNU's variant magic, octal and
// base-256 numeric fields, and the checksum. PAX records (pax.ts) carry what a ustar header
// cannot hold; this file only encodes and decodes the fixed fields.
//
// Layout (offset, length):       name 0,100   mode 100,8   uid 108,8   gid 116,8
// size 124,12   mtime 136,12     chksum 148,8 typeflag 156,1   linkname 157,100
// magic 257,6   version 263,2    uname 265,32 gname 297,32  devmajor 329,8  devminor 337,8
// prefix 345,155 (ustar only; GNU stores atime/ctime/... there)

import { BuilderError } from '../errors.js';

export const BLOCK_SIZE = 512;

/** The entry kinds a layer can hold. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** What an entry is, independent of how it is encoded (used by the writer, the reader and extraction). */
export interface TarEntryMeta {
  /** '/'-separated, relative. Directories may end in '/'. */
  path: string;
  type: TarEntryType;
  /** Permission bits plus setuid/setgid/sticky (07777); file-type bits are ignored. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content; 0 for everything but 'file'. */
  size: number;
  /** Seconds since the epoch; may be fractional (written as a PAX `mtime` record then). */
  mtime: number;
  /** Target of a symlink (verbatim) or of a hardlink (a path in the archive). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, Uint8Array | string>;
}

export const TYPEFLAG: Readonly<Record<TarEntryType, string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** The fixed fields of one header block, as stored (strings may be truncated, numbers fit their fields). */
export interface UstarFields {
  /** The full path; split into prefix + name on encode when it is longer than 100 bytes. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Whole seconds. */
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

export interface DecodedHeader extends UstarFields {
  format: HeaderFormat;
}

const USTAR_MAGIC = Buffer.from('ustar\x0000', 'latin1'); // magic "ustar\0" + version "00"
const GNU_MAGIC = Buffer.from('ustar  \x00', 'latin1'); // magic "ustar " + version " \0"

const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** Largest value an octal field of `length` bytes holds (length-1 digits and a NUL). */
export function maxOctal(length: number): number {
  return 8 ** (length - 1) - 1;
}

export const MAX_OCTAL_ID = maxOctal(8); // uid, gid, mode, devmajor, devminor: 2097151
export const MAX_OCTAL_SIZE = maxOctal(12); // size, mtime: 8 GiB - 1

/**
 * Writes `value` into `buf[offset, offset+length)`: zero-padded octal and a NUL when it fits,
 * otherwise GNU base-256 (first byte 0x80 for positive, 0xff for negative two's complement).
 */
export function encodeNumeric(buf: Buffer, offset: number, length: number, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new BuilderError('EINVAL', `tar numeric field: ${value} is not a safe integer`);
  }
  if (value >= 0 && value <= maxOctal(length)) {
    buf.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'latin1');
    buf[offset + length - 1] = 0;
    return;
  }
  const bits = BigInt(length * 8);
  let v = BigInt(value);
  // One bit is the base-256 marker, and a sign bit must remain after it.
  const limit = 1n << (bits - 2n);
  if (v >= limit || v < -limit) {
    throw new BuilderError('EINVAL', `tar numeric field: ${value} does not fit in ${length} bytes`);
  }
  if (v < 0n) v += 1n << bits; // two's complement over the whole field
  for (let i = length - 1; i >= 0; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = value < 0 ? 0xff : 0x80;
}

/** Reads an octal or base-256 numeric field. Empty (all NUL/space) reads as 0. */
export function decodeNumeric(buf: Buffer, offset: number, length: number, field = 'numeric'): number {
  const first = buf[offset] as number;
  if (first & 0x80) {
    let v = 0n;
    for (let i = 0; i < length; i++) v = (v << 8n) | BigInt(buf[offset + i] as number);
    const bits = BigInt(length * 8);
    if (first & 0x40)
      v -= 1n << bits; // negative: the whole field is two's complement
    else v &= (1n << (bits - 1n)) - 1n; // positive: drop the marker bit
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new BuilderError('EINVAL', `tar header: ${field} field is too large`);
    }
    return Number(v);
  }
  let start = offset;
  let end = offset + length;
  while (start < end && (buf[start] === 0x20 || buf[start] === 0)) start++;
  // The value ends at the first NUL or space after the digits.
  let stop = start;
  while (stop < end && buf[stop] !== 0 && buf[stop] !== 0x20) stop++;
  end = stop;
  if (start === end) return 0;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x37) {
      throw new BuilderError('EINVAL', `tar header: ${field} field is not octal`);
    }
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function decodeString(buf: Buffer, offset: number, length: number): string {
  let end = buf.indexOf(0, offset);
  if (end < 0 || end > offset + length) end = offset + length;
  return bytesToString(buf.subarray(offset, end));
}

/**
 * Header strings are bytes: UTF-8 when they decode cleanly, otherwise Latin-1, so that two
 * different byte strings never collapse onto the same U+FFFD-mangled name.
 */
export function bytesToString(bytes: Buffer): string {
  const s = bytes.toString('utf8');
  if (!s.includes('\ufffd') || Buffer.from(s, 'utf8').equals(bytes)) return s;
  return bytes.toString('latin1');
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  bytes.copy(buf, offset, 0, Math.min(bytes.length, length));
}

/** The checksum: the unsigned sum of all bytes with the checksum field counted as spaces. */
export function computeChecksum(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false;
  return true;
}

export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/**
 * Splits a path into ustar prefix (≤155 bytes) and name (≤100 bytes) at a '/', or returns
 * undefined when it cannot (then the writer needs a PAX `path` record).
 */
export function splitUstarPath(path: string): { prefix: string; name: string } | undefined {
  const length = Buffer.byteLength(path, 'utf8');
  if (length <= 100) return { prefix: '', name: path };
  if (length > 256) return undefined;
  // The prefix is everything before some '/', the name everything after it. Take the
  // longest prefix that fits so the name is as short as possible.
  let cut = path.lastIndexOf('/', path.endsWith('/') ? path.length - 2 : path.length - 1);
  while (cut > 0) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    const pl = Buffer.byteLength(prefix, 'utf8');
    const nl = Buffer.byteLength(name, 'utf8');
    if (nl > 100 || name.length === 0) return undefined;
    if (pl <= 155) return { prefix, name };
    cut = path.lastIndexOf('/', cut - 1);
  }
  return undefined;
}

/**
 * Encodes one header block. Strings that do not fit are truncated and numbers that do not
 * fit in octal use base-256: the caller precedes this block with PAX records when that
 * matters (pax.ts `paxRecordsFor`).
 */
export function encodeHeader(fields: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  const split = splitUstarPath(fields.name);
  if (split) {
    writeString(block, F.name[0], F.name[1], split.name);
    writeString(block, F.prefix[0], F.prefix[1], split.prefix);
  } else {
    writeString(block, F.name[0], F.name[1], fields.name);
  }
  encodeNumeric(block, F.mode[0], F.mode[1], fields.mode & 0o7777);
  encodeNumeric(block, F.uid[0], F.uid[1], fields.uid);
  encodeNumeric(block, F.gid[0], F.gid[1], fields.gid);
  encodeNumeric(block, F.size[0], F.size[1], fields.size);
  encodeNumeric(block, F.mtime[0], F.mtime[1], fields.mtime);
  block.write(fields.typeflag.slice(0, 1) || '0', F.typeflag[0], 1, 'latin1');
  writeString(block, F.linkname[0], F.linkname[1], fields.linkname);
  USTAR_MAGIC.copy(block, F.magic[0]);
  writeString(block, F.uname[0], F.uname[1], fields.uname);
  writeString(block, F.gname[0], F.gname[1], fields.gname);
  encodeNumeric(block, F.devmajor[0], F.devmajor[1], fields.devmajor);
  encodeNumeric(block, F.devminor[0], F.devminor[1], fields.devminor);
  const { unsigned } = computeChecksum(block);
  // Six octal digits, a NUL and a space, as every tar writes it.
  block.write(`${unsigned.toString(8).padStart(6, '0')}\x00 `, F.chksum[0], 8, 'latin1');
  return block;
}

/** Octal digits of a value known to fit, zero-padded to `digits`, then a NUL; their byte sum. */
function writeOctal(buf: Uint8Array, offset: number, digits: number, value: number): number {
  let sum = 0;
  for (let i = offset + digits - 1; i >= offset; i--) {
    const digit = 0x30 + (value % 8);
    buf[i] = digit;
    sum += digit;
    value = Math.floor(value / 8);
  }
  buf[offset + digits] = 0;
  return sum;
}

/** A plain header's constant bytes: zeros, the magic, devices 0, the checksum's closing space. */
const PLAIN_TEMPLATE = (() => {
  const block = new Uint8Array(BLOCK_SIZE);
  block.set(USTAR_MAGIC, 257);
  writeOctal(block, 329, 7, 0);
  writeOctal(block, 337, 7, 0);
  block[155] = 0x20;
  return block;
})();
/** Their byte sum, the checksum field's eight bytes counted as spaces. */
const PLAIN_TEMPLATE_SUM = PLAIN_TEMPLATE.reduce((a, b, i) => a + (i >= 148 && i < 156 ? 0x20 : b), 0);

/**
 * encodeHeader for the common entry, written straight into `buf` at `offset` without a block
 * of its own: an ASCII name of at most 100 bytes, no link name, owner and times that fit in
 * octal, no PAX records, empty uname/gname, devices 0. False (nothing written) for anything
 * else. A big COPY's layer is thousands of such headers; the bytes are encodeHeader's (a test
 * compares them). Typed-array builtins (set), not Buffer's fill and copy: their argument
 * checks cost more than the copy for 512 bytes.
 */
export function encodePlainHeaderInto(
  buf: Buffer,
  offset: number,
  name: string,
  typeflag: '0' | '5',
  mode: number,
  uid: number,
  gid: number,
  size: number,
  mtime: number,
): boolean {
  if (
    name.length > 100 ||
    !(uid >= 0 && uid <= MAX_OCTAL_ID && Number.isInteger(uid)) ||
    !(gid >= 0 && gid <= MAX_OCTAL_ID && Number.isInteger(gid)) ||
    !(size >= 0 && size <= MAX_OCTAL_SIZE && Number.isInteger(size)) ||
    !(mtime >= 0 && mtime <= MAX_OCTAL_SIZE && Number.isInteger(mtime)) ||
    !isAscii(name)
  )
    return false;
  buf.set(PLAIN_TEMPLATE, offset);
  let sum = PLAIN_TEMPLATE_SUM;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    buf[offset + i] = c;
    sum += c;
  }
  sum += writeOctal(buf, offset + 100, 7, mode & 0o7777);
  sum += writeOctal(buf, offset + 108, 7, uid);
  sum += writeOctal(buf, offset + 116, 7, gid);
  sum += writeOctal(buf, offset + 124, 11, size);
  sum += writeOctal(buf, offset + 136, 11, mtime);
  const type = typeflag.charCodeAt(0);
  buf[offset + 156] = type;
  writeOctal(buf, offset + 148, 6, sum + type);
  return true;
}

/**
 * Decodes one header block. Returns undefined for an all-zero block (end of archive).
 * A checksum mismatch is a BuilderError with code EINVAL.
 */
export function decodeHeader(block: Buffer, offset = 0): DecodedHeader | undefined {
  if (block.length < BLOCK_SIZE) {
    throw new BuilderError('EINVAL', `tar header at offset ${offset} is truncated`);
  }
  if (isZeroBlock(block)) return undefined;
  const stored = decodeNumeric(block, F.chksum[0], F.chksum[1], 'checksum');
  const sum = computeChecksum(block);
  if (stored !== sum.unsigned && stored !== sum.signed) {
    throw new BuilderError(
      'EINVAL',
      `tar header at offset ${offset}: checksum mismatch (stored ${stored}, computed ${sum.unsigned}); not a tar archive or corrupt`,
    );
  }
  const magic = block.subarray(F.magic[0], F.magic[0] + F.magic[1]);
  const format: HeaderFormat = magic.subarray(0, 6).equals(USTAR_MAGIC.subarray(0, 6))
    ? 'ustar'
    : magic.equals(GNU_MAGIC)
      ? 'gnu'
      : 'v7';
  let name = decodeString(block, F.name[0], F.name[1]);
  if (format === 'ustar') {
    const prefix = decodeString(block, F.prefix[0], F.prefix[1]);
    if (prefix.length > 0) name = `${prefix}/${name}`;
  }
  const hasIds = format !== 'v7';
  return {
    format,
    name,
    mode: decodeNumeric(block, F.mode[0], F.mode[1], 'mode'),
    uid: decodeNumeric(block, F.uid[0], F.uid[1], 'uid'),
    gid: decodeNumeric(block, F.gid[0], F.gid[1], 'gid'),
    size: decodeNumeric(block, F.size[0], F.size[1], 'size'),
    mtime: decodeNumeric(block, F.mtime[0], F.mtime[1], 'mtime'),
    typeflag: String.fromCharCode(block[F.typeflag[0]] as number),
    linkname: decodeString(block, F.linkname[0], F.linkname[1]),
    uname: hasIds ? decodeString(block, F.uname[0], F.uname[1]) : '',
    gname: hasIds ? decodeString(block, F.gname[0], F.gname[1]) : '',
    devmajor: hasIds ? decodeNumeric(block, F.devmajor[0], F.devmajor[1], 'devmajor') : 0,
    devminor: hasIds ? decodeNumeric(block, F.devminor[0], F.devminor[1], 'devminor') : 0,
  };
}

/** Bytes of padding after `size` bytes of content to reach a block boundary. */
export function paddingFor(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? 0 : BLOCK_SIZE - rest;
}

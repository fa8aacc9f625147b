// PAX extended headers (POSIX.1-2001 `x` and `g` entries): "<length> <key>=<value>\n" records
// whose length counts itself. The writer emits them only for what a ustar header cannot say
// (long or non-ASCII names, large numbers, fractional mtimes, xattrs), in a fixed key order so
// that the same entry always encodes to the same bytes.

import { BuilderError } from '../errors.js';
import {
  isAscii,
  MAX_OCTAL_ID,
  MAX_OCTAL_SIZE,
  splitUstarPath,
  type TarEntryMeta,
  type UstarFields,
} from './tar-header.js';

export type PaxRecords = Map<string, Buffer>;

/** The prefix of extended-attribute records, after star (Jörg Schilling) and GNU tar. */
export const XATTR_PREFIX = 'SCHILY.xattr.';
const LIBARCHIVE_XATTR_PREFIX = 'LIBARCHIVE.xattr.';

/** Encodes records in the order given. Keys must not contain '=' or NUL; values are any bytes. */
export function encodePaxRecords(records: ReadonlyArray<readonly [string, string | Uint8Array]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    if (key.length === 0 || key.includes('=') || key.includes('\0')) {
      throw new BuilderError('EINVAL', `invalid PAX key ${JSON.stringify(key)}`);
    }
    const keyBytes = Buffer.from(key, 'utf8');
    const valueBytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    // " " + key + "=" + value + "\n", plus the decimal length, which counts its own digits.
    const rest = keyBytes.length + valueBytes.length + 3;
    let digits = String(rest).length;
    while (String(rest + digits).length !== digits) digits++;
    parts.push(
      Buffer.from(`${rest + digits} `, 'latin1'),
      keyBytes,
      Buffer.from('='),
      valueBytes,
      Buffer.from('\n'),
    );
  }
  return Buffer.concat(parts);
}

/** Decodes the content of an `x` or `g` entry. Later records with the same key win. */
export function decodePaxRecords(data: Buffer): PaxRecords {
  const records: PaxRecords = new Map();
  let pos = 0;
  while (pos < data.length) {
    // Some writers pad the content with NULs; nothing but NULs may follow the last record.
    if (data[pos] === 0) {
      for (let i = pos; i < data.length; i++) {
        if (data[i] !== 0) throw malformed('garbage after the records');
      }
      break;
    }
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 20) throw malformed('record without a length');
    const lengthText = data.toString('latin1', pos, space);
    if (!/^[0-9]+$/.test(lengthText)) throw malformed(`bad record length ${JSON.stringify(lengthText)}`);
    const length = Number(lengthText);
    const end = pos + length;
    if (length < 5 || end > data.length || data[end - 1] !== 0x0a) throw malformed('bad record length');
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) throw malformed('record without "="');
    const key = data.toString('utf8', space + 1, eq);
    if (key.length === 0) throw malformed('empty key');
    records.set(key, Buffer.from(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return records;
}

function malformed(what: string): BuilderError {
  return new BuilderError('EINVAL', `malformed PAX extended header: ${what}`);
}

/**
 * Formats seconds for a PAX time record: integers as they are, fractions with the shortest
 * decimal that reads back as the same number (at most 9 digits), never in exponent form.
 */
export function formatPaxTime(seconds: number): string {
  if (!Number.isFinite(seconds)) throw new BuilderError('EINVAL', `invalid mtime ${seconds}`);
  if (Number.isInteger(seconds)) return String(seconds);
  const shortest = String(seconds);
  if (!/e/i.test(shortest)) {
    const [whole, fraction = ''] = shortest.split('.');
    return fraction.length <= 9 ? shortest : `${whole}.${fraction.slice(0, 9)}`;
  }
  return seconds.toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
}

export function parsePaxTime(text: string): number {
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(text)) throw malformed(`bad time ${JSON.stringify(text)}`);
  return Number(text);
}

function parsePaxInteger(key: string, text: string): number {
  if (!/^[0-9]+$/.test(text)) throw malformed(`bad ${key} ${JSON.stringify(text)}`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw malformed(`${key} ${text} is too large`);
  return value;
}

/** An ASCII stand-in for a name whose real value travels in a PAX record. */
function asciiFallback(name: string, max: number): string {
  let s = name.replace(/[^\x20-\x7e]/gu, '_');
  if (Buffer.byteLength(s) > max) s = s.slice(0, max);
  return s;
}

/**
 * Decides, for one entry, the PAX records it needs and the ustar fields to put beside them.
 * Key order is fixed: path, linkpath, size, uid, gid, mtime, then xattrs sorted by name
 * (byte order). uname/gname are always empty (numeric ids only).
 */
export function paxRecordsFor(
  entry: Pick<TarEntryMeta, 'path' | 'linkname' | 'size' | 'uid' | 'gid' | 'mtime' | 'xattrs'>,
): { records: Array<[string, string | Uint8Array]>; ustar: Pick<UstarFields, 'name' | 'linkname'> } {
  const records: Array<[string, string | Uint8Array]> = [];
  let name = entry.path;
  if (!isAscii(entry.path) || !splitUstarPath(entry.path)) {
    records.push(['path', entry.path]);
    name = asciiFallback(entry.path, 100);
    if (!splitUstarPath(name)) name = name.slice(0, 100);
  }
  let linkname = entry.linkname ?? '';
  if (linkname.length > 0 && (!isAscii(linkname) || Buffer.byteLength(linkname) > 100)) {
    records.push(['linkpath', linkname]);
    linkname = asciiFallback(linkname, 100);
  }
  if (entry.size > MAX_OCTAL_SIZE) records.push(['size', String(entry.size)]);
  if (entry.uid > MAX_OCTAL_ID) records.push(['uid', String(entry.uid)]);
  if (entry.gid > MAX_OCTAL_ID) records.push(['gid', String(entry.gid)]);
  if (!Number.isInteger(entry.mtime) || entry.mtime < 0 || entry.mtime > MAX_OCTAL_SIZE) {
    records.push(['mtime', formatPaxTime(entry.mtime)]);
  }
  if (entry.xattrs) {
    const names = Object.keys(entry.xattrs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const xattr of names) {
      if (xattr.length === 0 || xattr.includes('=') || xattr.includes('\0')) {
        throw new BuilderError('EINVAL', `${entry.path}: invalid xattr name ${JSON.stringify(xattr)}`);
      }
      records.push([XATTR_PREFIX + xattr, entry.xattrs[xattr] as Uint8Array | string]);
    }
  }
  return { records, ustar: { name, linkname } };
}

/** Header fields after PAX records are applied; the records themselves are kept for callers. */
export interface PaxOverrides {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  uname?: string;
  gname?: string;
  xattrs: Record<string, Buffer>;
}

/**
 * Interprets the records tar readers act on. GNU sparse files (GNU.sparse.*) are refused:
 * their content would come out wrong, and image layers do not use them.
 */
export function interpretPaxRecords(records: PaxRecords): PaxOverrides {
  const out: PaxOverrides = { xattrs: {} };
  for (const [key, raw] of records) {
    const text = () => raw.toString('utf8');
    if (key === 'path') out.path = text();
    else if (key === 'linkpath') out.linkpath = text();
    else if (key === 'size') out.size = parsePaxInteger(key, text());
    else if (key === 'uid') out.uid = parsePaxInteger(key, text());
    else if (key === 'gid') out.gid = parsePaxInteger(key, text());
    else if (key === 'mtime') out.mtime = parsePaxTime(text());
    else if (key === 'uname') out.uname = text();
    else if (key === 'gname') out.gname = text();
    else if (key.startsWith(XATTR_PREFIX)) out.xattrs[key.slice(XATTR_PREFIX.length)] = raw;
    else if (key.startsWith(LIBARCHIVE_XATTR_PREFIX)) {
      // bsdtar: the name is URL-encoded, the value base64.
      let xattr: string;
      try {
        xattr = decodeURIComponent(key.slice(LIBARCHIVE_XATTR_PREFIX.length));
      } catch {
        throw malformed(`bad xattr name in ${key}`);
      }
      if (!(xattr in out.xattrs)) out.xattrs[xattr] = Buffer.from(text(), 'base64');
    } else if (key.startsWith('GNU.sparse.')) {
      throw new BuilderError('EINVAL', 'GNU sparse files in PAX format are not supported');
    }
    // atime, ctime, charset, comment, hdrcharset, vendor records: kept in the raw map only.
  }
  return out;
}

// /proc/self/mountinfo, parsed (proc(5)). Used to find what is mounted under a directory,
// to unmount it deepest first, and to tell whether a snapshot is still in use.

import { readFileSync } from 'node:fs';
import { sep } from 'node:path';

export interface MountInfo {
  mountId: number;
  parentId: number;
  /** "major:minor" of the filesystem. */
  device: string;
  /** The directory of the filesystem mounted here (a bind shows the subtree). */
  root: string;
  /** Where it is mounted, in this process's view. */
  mountPoint: string;
  /** Per-mount options: rw, nosuid, relatime… */
  mountOptions: string[];
  /** Propagation tags: shared:N, master:N, propagate_from:N, unbindable. */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options: for overlay, lowerdir=…, upperdir=…, workdir=…. */
  superOptions: string[];
}

/** Undoes the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * Splits the comma-separated super options. Overlay escapes commas in its paths with a
 * backslash ("lowerdir=/a\,b"), so a backslash-escaped comma does not split.
 */
function splitOptions(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      current += c + (text[i + 1] as string);
      i++;
    } else if (c === ',') {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (current !== '') out.push(current);
  return out;
}

export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 3) continue;
    out.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2] as string,
      root: unescapeOctal(fields[3] as string),
      mountPoint: unescapeOctal(fields[4] as string),
      mountOptions: (fields[5] as string).split(','),
      optionalFields: fields.slice(6, dash),
      fsType: unescapeOctal(fields[dash + 1] as string),
      source: unescapeOctal(fields[dash + 2] as string),
      superOptions: splitOptions(unescapeOctal(fields.slice(dash + 3).join(' '))),
    });
  }
  return out;
}

/** The mount table of this process, in mount order (parents before the mounts on top of them). */
export function readMountInfo(): MountInfo[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/**
 * Mounts at `dir` or below it (dir must be a real path, as mountinfo shows real paths), in
 * mount order. Unmount them in reverse order.
 */
export function mountsUnder(dir: string, table: MountInfo[] = readMountInfo()): MountInfo[] {
  const prefix = dir.endsWith(sep) ? dir : dir + sep;
  return table.filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(prefix));
}

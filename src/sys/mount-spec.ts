// Mounting from data: one {type, source, options} record (containerd's Mount, or an OCI
// runtime-spec mount without its destination) becomes the mount(2) calls it stands for, and
// a directory tree is unmounted deepest first. The snapshotter and the chroot runtime share
// these, so both read options the way runc does.

import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative } from 'node:path';
import { MNT, MS } from './constants.js';
import { mountsUnder, readMountInfo } from './mountinfo.js';
import { isErrno, mount, umount2 } from './native.js';

export interface MountSpec {
  /** Filesystem type: 'overlay', 'tmpfs', 'proc', 'bind' (or any type with a bind/rbind option)… */
  type: string;
  source: string;
  options?: readonly string[];
}

interface FlagOption {
  set: boolean;
  flag: number;
}

const FLAG_OPTIONS: Record<string, FlagOption> = {
  ro: { set: true, flag: MS.RDONLY },
  rw: { set: false, flag: MS.RDONLY },
  nosuid: { set: true, flag: MS.NOSUID },
  suid: { set: false, flag: MS.NOSUID },
  nodev: { set: true, flag: MS.NODEV },
  dev: { set: false, flag: MS.NODEV },
  noexec: { set: true, flag: MS.NOEXEC },
  exec: { set: false, flag: MS.NOEXEC },
  sync: { set: true, flag: MS.SYNCHRONOUS },
  async: { set: false, flag: MS.SYNCHRONOUS },
  dirsync: { set: true, flag: MS.DIRSYNC },
  remount: { set: true, flag: MS.REMOUNT },
  mand: { set: true, flag: MS.MANDLOCK },
  nomand: { set: false, flag: MS.MANDLOCK },
  noatime: { set: true, flag: MS.NOATIME },
  atime: { set: false, flag: MS.NOATIME },
  nodiratime: { set: true, flag: MS.NODIRATIME },
  diratime: { set: false, flag: MS.NODIRATIME },
  relatime: { set: true, flag: MS.RELATIME },
  norelatime: { set: false, flag: MS.RELATIME },
  strictatime: { set: true, flag: MS.STRICTATIME },
  nostrictatime: { set: false, flag: MS.STRICTATIME },
  bind: { set: true, flag: MS.BIND },
  rbind: { set: true, flag: MS.BIND | MS.REC },
};

const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

export interface ParsedMountOptions {
  flags: number;
  /** Propagation changes, applied after the mount, in order. */
  propagation: number[];
  /** Filesystem-specific options, passed as mount(2)'s data. */
  data: string[];
}

/** Splits options into mount(2) flags, propagation changes and filesystem data, as runc does. */
export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const option of options) {
    const flag = FLAG_OPTIONS[option];
    if (flag) {
      flags = flag.set ? flags | flag.flag : flags & ~flag.flag;
      continue;
    }
    const prop = PROPAGATION_OPTIONS[option];
    if (prop !== undefined) {
      propagation.push(prop);
      continue;
    }
    data.push(option);
  }
  return { flags, propagation, data };
}

/** mount(2) copies at most one page of option data; beyond it overlay sees a truncated string. */
const MAX_MOUNT_DATA = 4095;

const PATH_OPTIONS = ['lowerdir=', 'upperdir=', 'workdir='];

/**
 * Overlay options too long for one page are shortened the way containerd does: make every
 * layer path relative to their common parent and mount from there. Returns the rewritten
 * options and the directory to chdir into, or undefined when the options fit already.
 */
export function compactOverlayData(data: readonly string[]): { data: string[]; cwd: string } | undefined {
  if (data.join(',').length <= MAX_MOUNT_DATA) return undefined;
  const paths: string[] = [];
  for (const d of data) {
    const prefix = PATH_OPTIONS.find((p) => d.startsWith(p));
    if (prefix) paths.push(...d.slice(prefix.length).split(':'));
  }
  if (paths.length === 0 || !paths.every((p) => isAbsolute(p))) return undefined;
  let common = dirname(paths[0] as string);
  while (!paths.every((p) => p.startsWith(`${common}/`)) && common !== '/') common = dirname(common);
  const rewritten = data.map((d) => {
    const prefix = PATH_OPTIONS.find((p) => d.startsWith(p));
    if (!prefix) return d;
    const parts = d
      .slice(prefix.length)
      .split(':')
      .map((p) => relative(common, p));
    return prefix + parts.join(':');
  });
  return { data: rewritten, cwd: common };
}

/**
 * Mounts `spec` at `target` (which must exist). Binds take two calls when they carry flags
 * (the kernel ignores flags on the first MS_BIND), propagation one call each.
 */
export function applyMount(spec: MountSpec, target: string): void {
  const { flags, propagation, data } = parseMountOptions(spec.options);
  if (flags & MS.BIND) {
    mount(spec.source, target, null, flags & (MS.BIND | MS.REC), null);
    const extra = flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
    if (extra !== 0) mount(null, target, null, MS.BIND | MS.REMOUNT | extra, null);
  } else {
    const type = spec.type === 'bind' ? null : spec.type;
    const compact = spec.type === 'overlay' ? compactOverlayData(data) : undefined;
    if (compact) {
      // Synchronous: no other JavaScript runs between the two chdir calls.
      const previous = process.cwd();
      process.chdir(compact.cwd);
      try {
        mount(spec.source, target, type, flags, compact.data.join(','));
      } finally {
        process.chdir(previous);
      }
    } else {
      mount(spec.source, target, type, flags, data.length > 0 ? data.join(',') : null);
    }
  }
  for (const p of propagation) mount(null, target, null, p, null);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export interface UnmountTreeOptions {
  /** Tries per busy mount before falling back to a lazy (MNT_DETACH) unmount. Default 5. */
  busyRetries?: number;
  /** Only mounts strictly below `dir`: leave those at `dir` itself alone. */
  belowOnly?: boolean;
}

/**
 * Unmounts everything mounted at `dir` or below it, the most recent mount first, including
 * mounts stacked on one another. A mount still busy after the retries is detached (lazily
 * unmounted) so it cannot outlive the call in this namespace. Returns the mount points
 * unmounted. A directory that does not exist has nothing mounted: returns [].
 */
export function unmountTree(dir: string, options: UnmountTreeOptions = {}): string[] {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
  const retries = options.busyRetries ?? 5;
  const done: string[] = [];
  const busy = new Map<string, number>();
  let guard = 0;
  for (;;) {
    const all = mountsUnder(real, readMountInfo());
    const mounts = options.belowOnly ? all.filter((m) => m.mountPoint !== real) : all;
    const last = mounts[mounts.length - 1];
    if (!last) return done;
    if (++guard > 10_000) throw new Error(`unmounting ${dir}: mounts keep reappearing`);
    const point = last.mountPoint.endsWith(' (deleted)') ? last.mountPoint.slice(0, -10) : last.mountPoint;
    try {
      umount2(point, MNT.UMOUNT_NOFOLLOW);
      done.push(point);
    } catch (err) {
      if (isErrno(err, 'EBUSY')) {
        const tries = (busy.get(point) ?? 0) + 1;
        busy.set(point, tries);
        if (tries <= retries) {
          sleepSync(20 * tries);
          continue;
        }
        umount2(point, MNT.DETACH | MNT.UMOUNT_NOFOLLOW);
        done.push(point);
        continue;
      }
      // Gone meanwhile (another process unmounted it): read the table again.
      if (isErrno(err, 'EINVAL') || isErrno(err, 'ENOENT')) {
        const tries = (busy.get(point) ?? 0) + 1;
        busy.set(point, tries);
        if (tries <= retries) continue;
      }
      throw err;
    }
  }
}

// Linux ABI constants for the calls in ./native.ts. They are the same on every Linux
// architecture Node runs on; a unit test compares them with the values the addon was
// compiled with, so a mistake here cannot hide.

/** mount(2) flags. */
export const MS = Object.freeze({
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
});

/** umount2(2) flags. */
export const MNT = Object.freeze({
  FORCE: 0x1,
  DETACH: 0x2,
  EXPIRE: 0x4,
  UMOUNT_NOFOLLOW: 0x8,
});

/** lsetxattr(2) flags. */
export const XATTR = Object.freeze({
  CREATE: 0x1,
  REPLACE: 0x2,
});

/** File type bits of st_mode, for mknod(2). */
export const S_IF = Object.freeze({
  FIFO: 0o010000,
  CHR: 0o020000,
  BLK: 0o060000,
  REG: 0o100000,
  SOCK: 0o140000,
});

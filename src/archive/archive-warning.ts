// Non-fatal findings of packing and extraction, returned as data (ARCHITECTURE.md §6): the
// caller decides whether to print, count or fail on them.

export type ArchiveWarningCode =
  | 'absolute-path' // a leading '/' was stripped from an entry name
  | 'device-skipped' // a char/block device or FIFO was not created (or not packed)
  | 'socket-skipped' // sockets cannot be archived
  | 'xattr-skipped' // extended attributes were not applied (Node has no xattr API)
  | 'whiteout-meta-skipped'; // a ".wh..wh.*" marker other than the opaque one was ignored

export interface ArchiveWarning {
  code: ArchiveWarningCode;
  /** The entry path as it appears in the archive (or relative to the packed directory). */
  path: string;
  message: string;
}

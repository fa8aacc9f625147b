/* A directory tree's fingerprint: SHA-256 over every entry's relative path and lstat fields
 * (type and mode, owner, size, mtime, ctime, inode, device), in byte order of the names. If it
 * is unchanged, no entry was added, removed, renamed, written to, chmod-ed or replaced since:
 * any of those changes ctime, which no one can set back. Shared by the addon (which records a
 * build's context) and the `strata` front program (which checks it before starting Node). */
#ifndef STRATA_TREE_FINGERPRINT_H
#define STRATA_TREE_FINGERPRINT_H

#include <stdint.h>

struct tree_fingerprint {
  uint8_t digest[32];
  uint64_t entries;
  /* The newest mtime or ctime seen, in ns since the epoch: a change later than the moment a
   * build started reading makes its record unusable (see src/cli/build-memo.ts). */
  int64_t newest_ns;
};

/* 0, or an errno value: the tree could not be read completely, or E2BIG when it has more
 * than `max_entries` entries (a memo is not worth walking that much at every build). */
int tree_fingerprint(const char *root, uint64_t max_entries, struct tree_fingerprint *out);

#endif

/* A directory tree's fingerprint: SHA-256 over every entry's relative path and lstat fields
 * (type and mode, owner, size, mtime, ctime, inode, device), in byte order of the names. If it
 * is unchanged, no entry was added, removed, renamed, written to, chmod-ed or replaced since:
 * any of those changes ctime, which no one can set back. Shared by the addon (which records a
 * build's context) and the `strata` front program (which checks it before starting Node). */
#ifndef STRATA_TREE_FINGERPRINT_H
#define STRATA_TREE_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct tree_fingerprint {
  uint8_t digest[32];
  uint64_t entries;
  /* The newest mtime or ctime seen, in ns since the epoch: a change later than the moment a
   * build started reading makes its record unusable (see src/cli/build-memo.ts). */
  int64_t newest_ns;
};

/* 0, or an errno value: the tree could not be read completely, or E2BIG when it has more
 * than `max_entries` entries (a memo is not worth walking that much at every build).
 * `pruned` (`n_pruned` names, may be NULL): directories directly under the root whose contents
 * do not count (what .dockerignore excludes whole, such as .git): such a directory counts by
 * its name and type only, nothing below it is read. */
int tree_fingerprint(const char *root, const char *const *pruned, size_t n_pruned, uint64_t max_entries,
                     struct tree_fingerprint *out);

/* Files whose content may change without the tree counting as another (the build memo's edit
 * replay, build_memo.c): a second digest of the same walk in which these files count by path,
 * type, mode and owner only, and the directories above them by what a new, removed or renamed
 * entry cannot leave unchanged in a directory that keeps its inode (its path, mode, owner,
 * inode; its entries are walked anyway). Everything else counts as in `digest`. */
struct tree_hot {
  const char *const *paths; /* relative to the root, as the walk names them ("app.py", "src/a.py") */
  size_t n;
  /* may be NULL: paths[i] with whole[i] only have their stats kept, and count whole in `masked`
   * (files the replay copies that another step also read) */
  const bool *whole;
  struct stat *stats; /* out: lstat of each, when found */
  bool *found;        /* out */
  uint8_t masked[32]; /* out */
  /* out: the newest mtime or ctime among the entries `masked` counts whole (neither a hot file
   * nor a directory above one): the racy check of a record that can only replay. */
  int64_t newest_ns;
};

/* tree_fingerprint, and `hot`'s digest from the same walk. */
int tree_fingerprint_hot(const char *root, const char *const *pruned, size_t n_pruned, uint64_t max_entries,
                         struct tree_hot *hot, struct tree_fingerprint *out);

/* The most entries a context may have for a build memo: MAX_CONTEXT_ENTRIES of
 * src/cli/build-memo.ts, which writes no record past it (so the front program stops there too). */
#define MEMO_MAX_CONTEXT_ENTRIES 100000

/* qsort's comparison of two C strings (char * elements), in byte order: directory names here,
 * in the memo's keyed environment and in the addon's lstatDir. */
int compare_strings(const void *a, const void *b);

#endif

#include "tree_fingerprint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

/* The listed paths in byte order, for lookups in a walk of many entries. */
struct sorted_path {
  const char *path;
  size_t index;
};

struct walk {
  struct sha256 hash;
  struct sha256 masked;
  struct tree_hot *hot;
  struct sorted_path *sorted; /* hot->paths in byte order */
  bool any_hot;               /* a listed path is not whole: the root is above it */
  uint64_t max_entries;
  const char *const *pruned;
  size_t n_pruned;
  struct tree_fingerprint *out;
  char path[PATH_MAX];
};

int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int compare_sorted(const void *a, const void *b) {
  return strcmp(((const struct sorted_path *)a)->path, ((const struct sorted_path *)b)->path);
}

/* The first sorted path not below `key` (byte order). */
static size_t lower_bound(const struct walk *w, const char *key) {
  size_t lo = 0, hi = w->hot->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(w->sorted[mid].path, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static bool is_whole(const struct walk *w, size_t index) { return w->hot->whole != NULL && w->hot->whole[index]; }

/* Which listed path `path` is, or -1; *parent: whether a hot one (not whole) is below it. */
static long hot_index(struct walk *w, size_t path_len, bool *parent) {
  size_t at = lower_bound(w, w->path);
  long found = at < w->hot->n && strcmp(w->sorted[at].path, w->path) == 0 ? (long)w->sorted[at].index : -1;
  *parent = path_len == 0 ? w->any_hot : false;
  if (path_len > 0 && path_len + 2 <= sizeof(w->path)) {
    w->path[path_len] = '/';
    w->path[path_len + 1] = '\0';
    for (size_t i = lower_bound(w, w->path); i < w->hot->n && !*parent; i++) {
      if (strncmp(w->sorted[i].path, w->path, path_len + 1) != 0) break;
      *parent = !is_whole(w, w->sorted[i].index);
    }
    w->path[path_len] = '\0';
  }
  return found;
}

static void add_masked(struct walk *w, size_t path_len, const struct stat *st, const uint8_t *fields, size_t n) {
  bool parent;
  long i = hot_index(w, path_len, &parent);
  sha256_update(&w->masked, w->path, path_len + 1);
  if (i >= 0) {
    w->hot->stats[i] = *st;
    w->hot->found[i] = true;
  }
  if (i >= 0 && !is_whole(w, (size_t)i)) {
    sha256_update(&w->masked, "hot", 3);
    sha256_update(&w->masked, fields, 3 * 8); /* mode (with the type), uid, gid */
  } else if (parent) {
    sha256_update(&w->masked, "above", 5);
    sha256_update(&w->masked, fields, 3 * 8);
    sha256_update(&w->masked, fields + 8 * 8, 3 * 8); /* inode, device, rdev */
  } else {
    sha256_update(&w->masked, fields, n);
    int64_t m = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    int64_t c = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
    if (m > w->hot->newest_ns) w->hot->newest_ns = m;
    if (c > w->hot->newest_ns) w->hot->newest_ns = c;
  }
}

static void add_entry(struct walk *w, size_t path_len, const struct stat *st) {
  uint8_t fields[11 * 8];
  const uint64_t values[11] = {
      st->st_mode,          st->st_uid,  st->st_gid,  (uint64_t)st->st_size,
      (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec,
      (uint64_t)st->st_ctim.tv_nsec, st->st_ino, st->st_dev, st->st_rdev,
  };
  for (int i = 0; i < 11; i++) put_u64(fields + 8 * i, values[i]);
  sha256_update(&w->hash, w->path, path_len + 1); /* with its NUL: paths cannot run together */
  sha256_update(&w->hash, fields, sizeof(fields));
  if (w->hot != NULL) add_masked(w, path_len, st, fields, sizeof(fields));
  int64_t m = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  int64_t c = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
  if (m > w->out->newest_ns) w->out->newest_ns = m;
  if (c > w->out->newest_ns) w->out->newest_ns = c;
  w->out->entries++;
}

static bool is_pruned(const struct walk *w, const char *name) {
  for (size_t i = 0; i < w->n_pruned; i++)
    if (strcmp(w->pruned[i], name) == 0) return true;
  return false;
}

/* A pruned directory: its path and type only (its times change with what is inside). */
static void add_pruned(struct walk *w, size_t path_len) {
  uint8_t type[8];
  put_u64(type, S_IFDIR);
  sha256_update(&w->hash, w->path, path_len + 1);
  sha256_update(&w->hash, "pruned", 6);
  sha256_update(&w->hash, type, sizeof(type));
  if (w->hot != NULL) {
    sha256_update(&w->masked, w->path, path_len + 1);
    sha256_update(&w->masked, "pruned", 6);
    sha256_update(&w->masked, type, sizeof(type));
  }
  w->out->entries++;
}

/* Walks the directory open as `fd` (closed here), whose relative path is w->path[0..len). */
static int walk_dir(struct walk *w, int fd, size_t len) {
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    int err = errno;
    close(fd);
    return err;
  }
  char **names = NULL;
  size_t count = 0, cap = 0;
  int err = 0;
  struct dirent *d;
  errno = 0;
  while ((d = readdir(dir)) != NULL) {
    if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
    if (count == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof(*names));
      if (grown == NULL) {
        err = ENOMEM;
        goto done;
      }
      names = grown;
    }
    if ((names[count] = strdup(d->d_name)) == NULL) {
      err = ENOMEM;
      goto done;
    }
    count++;
    errno = 0;
  }
  if (errno != 0) {
    err = errno;
    goto done;
  }
  qsort(names, count, sizeof(*names), compare_strings);
  for (size_t i = 0; i < count && err == 0; i++) {
    size_t name_len = strlen(names[i]);
    size_t child_len = len + (len ? 1 : 0) + name_len;
    if (child_len + 1 > sizeof(w->path)) {
      err = ENAMETOOLONG;
      break;
    }
    if (len) w->path[len] = '/';
    memcpy(w->path + len + (len ? 1 : 0), names[i], name_len + 1);
    struct stat st;
    if (fstatat(dirfd(dir), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
      err = errno;
      break;
    }
    if (len == 0 && S_ISDIR(st.st_mode) && is_pruned(w, names[i])) {
      add_pruned(w, child_len);
      w->path[0] = '\0';
      continue;
    }
    add_entry(w, child_len, &st);
    if (w->out->entries > w->max_entries) {
      err = E2BIG;
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      int child = openat(dirfd(dir), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) {
        err = errno;
        break;
      }
      err = walk_dir(w, child, child_len);
    }
    w->path[len] = '\0';
  }
done:
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  closedir(dir);
  return err;
}

int tree_fingerprint(const char *root, const char *const *pruned, size_t n_pruned, uint64_t max_entries,
                     struct tree_fingerprint *out) {
  return tree_fingerprint_hot(root, pruned, n_pruned, max_entries, NULL, out);
}

int tree_fingerprint_hot(const char *root, const char *const *pruned, size_t n_pruned, uint64_t max_entries,
                         struct tree_hot *hot, struct tree_fingerprint *out) {
  struct walk *w = malloc(sizeof(*w));
  if (w == NULL) return ENOMEM;
  memset(out, 0, sizeof(*out));
  w->out = out;
  w->max_entries = max_entries;
  w->pruned = pruned;
  w->n_pruned = n_pruned;
  w->path[0] = '\0';
  w->hot = hot;
  sha256_init(&w->hash);
  sha256_init(&w->masked);
  w->sorted = NULL;
  w->any_hot = false;
  if (hot != NULL) {
    hot->newest_ns = 0;
    w->sorted = malloc((hot->n ? hot->n : 1) * sizeof(*w->sorted));
    if (w->sorted == NULL) {
      free(w);
      return ENOMEM;
    }
    for (size_t i = 0; i < hot->n; i++) {
      hot->found[i] = false;
      w->sorted[i] = (struct sorted_path){hot->paths[i], i};
      if (hot->whole == NULL || !hot->whole[i]) w->any_hot = true;
    }
    qsort(w->sorted, hot->n, sizeof(*w->sorted), compare_sorted);
  }
  int err = 0;
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
  } else {
    struct stat st;
    if (fstat(fd, &st) != 0) {
      err = errno;
      close(fd);
    } else {
      add_entry(w, 0, &st);
      err = walk_dir(w, fd, 0);
    }
  }
  if (err == 0) sha256_final(&w->hash, out->digest);
  if (err == 0 && hot != NULL) sha256_final(&w->masked, hot->masked);
  free(w->sorted);
  free(w);
  return err;
}

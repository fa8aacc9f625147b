/* The build memo's reader: answers `strata build …` from the record the last identical build
 * left, if nothing it depended on has changed. The record's format and what it pins are
 * described in src/cli/build-memo.ts, which writes it; the key is computed here exactly as
 * there. Anything unexpected (no record, another format, a file that differs or cannot be
 * read) means "not answered": the caller starts the CLI, which builds as usual. */
#include "build_memo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "edit_replay.h"
#include "sha256.h"
#include "tree_fingerprint.h"

#define HEADER "strata-build-memo 1"
#define MAX_RECORD_FILE (64u << 20)

static bool append_field(struct bytes *b, const char *text) { return bytes_append(b, text, strlen(text) + 1); }

/* Same list as keyedEnv() in src/cli/build-memo.ts. */
static bool keyed_env(const char *entry) {
  static const char *const exact[] = {"SOURCE_DATE_EPOCH=", "HOME=", "XDG_DATA_HOME=", "XDG_CACHE_HOME="};
  if (strncmp(entry, "STRATA_BUILD_MEMO=", 18) == 0) return false;
  if (strncmp(entry, "STRATA_", 7) == 0) return strchr(entry, '=') != NULL;
  for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
    if (strncmp(entry, exact[i], strlen(exact[i])) == 0) return true;
  return false;
}

/* buildMemoKey() of src/cli/build-memo.ts. */
static bool memo_key(struct bytes *key, int argc, char **argv, char **envp, const char *entry) {
  char cwd[PATH_MAX], line[64];
  if (getcwd(cwd, sizeof(cwd)) == NULL) return false;
  bool ok = append_field(key, HEADER);
  snprintf(line, sizeof(line), "uid=%u", (unsigned)geteuid());
  ok = ok && append_field(key, line) && bytes_append(key, "cwd=", 4) && append_field(key, cwd) && bytes_append(key, "entry=", 6) &&
       append_field(key, entry);
  snprintf(line, sizeof(line), "argc=%d", argc - 1);
  ok = ok && append_field(key, line);
  for (int i = 1; ok && i < argc; i++) ok = append_field(key, argv[i]);
  ok = ok && append_field(key, "env");
  size_t n = 0;
  for (char **e = envp; *e; e++) n++;
  char **picked = malloc((n ? n : 1) * sizeof(*picked));
  if (picked == NULL) return false;
  size_t count = 0;
  for (char **e = envp; *e; e++)
    if (keyed_env(*e)) picked[count++] = *e;
  /* strcmp orders by unsigned bytes, as Buffer.compare does. */
  qsort(picked, count, sizeof(*picked), compare_strings);
  for (size_t i = 0; ok && i < count; i++) ok = append_field(key, picked[i]);
  free(picked);
  return ok;
}

/* Only a folder and a record this user owns and nobody else may write: the record decides
 * what `strata build` prints. */
static bool private_to_me(const struct stat *st) {
  return st->st_uid == geteuid() && (st->st_mode & 022) == 0;
}

static bool memo_dir(char *out, size_t size) {
  const char *off = getenv("STRATA_BUILD_MEMO");
  if (off != NULL && strcmp(off, "0") == 0) return false;
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int n;
  if (xdg != NULL && *xdg) n = snprintf(out, size, "%s/strata/build-memo", xdg);
  else if (home != NULL && *home) n = snprintf(out, size, "%s/.cache/strata/build-memo", home);
  else return false;
  return n > 0 && (size_t)n < size;
}

static bool read_file(const char *path, int flags, struct bytes *out, struct stat *st) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return false;
  out->len = 0;
  bool ok = fstat(fd, st) == 0 && S_ISREG(st->st_mode) && (size_t)st->st_size <= MAX_RECORD_FILE &&
            bytes_read_fd(out, fd, MAX_RECORD_FILE);
  close(fd);
  return ok;
}

/* A file's bytes equal `want`. */
static bool same_content(const char *path, const char *want, size_t len) {
  struct bytes now = {0};
  struct stat st;
  bool same = read_file(path, 0, &now, &st) && now.len == len && (len == 0 || memcmp(now.data, want, len) == 0);
  free(now.data);
  return same;
}

static bool absent(const char *path) {
  struct stat st;
  return stat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

/* "path\0size\0mtime ns\0inode" against stat(path). */
static bool same_stat(const char *payload, size_t len) {
  const char *fields[4];
  const char *p = payload, *end = payload + len;
  for (int i = 0; i < 4; i++) {
    if (p > end) return false;
    fields[i] = p;
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    p = nul ? nul + 1 : end + 1;
  }
  /* The last field runs to the end of the payload: copy it out to terminate it. */
  char ino[32];
  size_t ino_len = (size_t)(end - fields[3]);
  if (ino_len >= sizeof(ino)) return false;
  memcpy(ino, fields[3], ino_len);
  ino[ino_len] = '\0';
  struct stat st;
  if (stat(fields[0], &st) != 0) return false;
  char size[32], mtime[32], inode[32];
  snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
  snprintf(mtime, sizeof(mtime), "%lld", (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
  snprintf(inode, sizeof(inode), "%llu", (unsigned long long)st.st_ino);
  return strcmp(fields[1], size) == 0 && strcmp(fields[2], mtime) == 0 && strcmp(ino, inode) == 0;
}

#define explain memo_explain

/* Records only the edit replay reads (edit_replay.c; src/cli/edit-replay.ts writes them). */
static bool replay_tag(const char *tag) {
  static const char *const tags[] = {"hot", "cold", "entry", "trailer", "tpl", "tpath", "tbody", "own", "store"};
  for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
    if (strcmp(tag, tags[i]) == 0) return true;
  return false;
}


/* "directory\0digest", then "\0name" for each pruned top-level directory: the tree's
 * fingerprint now equals the digest. */
static bool same_tree(const char *payload, size_t len) {
  const char *nul = memchr(payload, '\0', len);
  if (nul == NULL) return false;
  const char *digest = nul + 1, *end = payload + len;
  if (end - digest < 64 || (end - digest > 64 && digest[64] != '\0')) return false;
  const char *pruned[256];
  char names[PATH_MAX];
  size_t n_pruned = 0, names_len = (size_t)(end - digest) - 64;
  if (names_len > 0) {
    if (names_len >= sizeof(names)) return false;
    memcpy(names, digest + 65, names_len - 1);
    names[names_len - 1] = '\0';
    for (char *q = names; q < names + names_len - 1 && n_pruned < 256; q += strlen(q) + 1) pruned[n_pruned++] = q;
  }
  struct tree_fingerprint fp;
  if (tree_fingerprint(payload, pruned, n_pruned, MEMO_MAX_CONTEXT_ENTRIES, &fp) != 0) {
    explain("the context cannot be read", payload);
    return false;
  }
  char hex[65];
  sha256_hex(fp.digest, hex);
  if (memcmp(hex, digest, 64) != 0) {
    explain("the context changed", payload);
    return false;
  }
  return true;
}

int build_memo_answer(int argc, char **argv, char **envp, const char *entry) {
  char dir[PATH_MAX], path[PATH_MAX + 80];
  if (!memo_dir(dir, sizeof(dir))) return 0;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || !private_to_me(&st)) {
    explain("no private record folder", dir);
    return 0;
  }

  struct bytes key = {0}, memo = {0};
  struct memo_rec *recs = NULL;
  size_t n_recs = 0, cap_recs = 0;
  struct replay *replay = NULL;
  int answered = 0;
  if (!memo_key(&key, argc, argv, envp, entry)) goto out;
  struct sha256 h;
  uint8_t digest[32];
  char hex[65];
  sha256_init(&h);
  sha256_update(&h, key.data, key.len);
  sha256_final(&h, digest);
  sha256_hex(digest, hex);
  snprintf(path, sizeof(path), "%s/%s", dir, hex);
  if (!read_file(path, O_NOFOLLOW, &memo, &st) || !private_to_me(&st)) {
    explain("no record of this invocation", path);
    goto out;
  }

  const char *p = memo.data, *end = memo.data + memo.len;
  size_t header = strlen(HEADER);
  if (memo.len < header + 1 || memcmp(p, HEADER "\n", header + 1) != 0) goto out;
  p += header + 1;
  /* Every record first, then the checks: the tree's needs the replay's records. */
  while (p < end) {
    /* "<tag> <length>\n<payload>\n" */
    const char *space = memchr(p, ' ', (size_t)(end - p));
    if (space == NULL || space - p > 16) goto out;
    if (n_recs == cap_recs) {
      cap_recs = cap_recs ? 2 * cap_recs : 64;
      struct memo_rec *grown = realloc(recs, cap_recs * sizeof(*recs));
      if (grown == NULL) goto out;
      recs = grown;
    }
    struct memo_rec *rec = &recs[n_recs];
    memcpy(rec->tag, p, (size_t)(space - p));
    rec->tag[space - p] = '\0';
    char *after;
    errno = 0;
    unsigned long long len = strtoull(space + 1, &after, 10);
    if (errno != 0 || after == space + 1 || after >= end || *after != '\n') goto out;
    const char *payload = after + 1;
    if (len > (size_t)(end - payload) || (size_t)(end - payload) - len < 1 || payload[len] != '\n') goto out;
    rec->payload = payload;
    rec->len = (size_t)len;
    n_recs++;
    p = payload + len + 1;
    if (strcmp(rec->tag, "end") == 0) break;
  }
  const char *out_data = NULL, *err_data = NULL;
  size_t out_len = 0, err_len = 0;
  /* Files to write once every check passed (--iidfile): at most a few. */
  const char *writes[8];
  size_t write_lens[8], n_writes = 0;
  bool keyed = false, ended = false, replayable = false;
  const struct memo_rec *tree = NULL;
  for (size_t i = 0; i < n_recs; i++) {
    const char *tag = recs[i].tag, *payload = recs[i].payload;
    size_t len = recs[i].len;
    /* Payloads that hold a path start with it, NUL-terminated (or are only it). */
    const char *nul = memchr(payload, '\0', len);
    char lone[PATH_MAX];
    if (strcmp(tag, "key") == 0) {
      if (len != key.len || memcmp(payload, key.data, len) != 0) {
        explain("the record is of another invocation", NULL);
        goto out;
      }
      keyed = true;
    } else if (strcmp(tag, "stat") == 0) {
      if (!same_stat(payload, len)) {
        explain("the CLI changed", payload);
        goto out;
      }
    } else if (strcmp(tag, "file") == 0) {
      if (nul == NULL || !same_content(payload, nul + 1, len - (size_t)(nul + 1 - payload))) {
        explain("changed", payload);
        goto out;
      }
    } else if (strcmp(tag, "absent") == 0 || strcmp(tag, "blob") == 0) {
      if (len == 0 || len >= sizeof(lone) || nul != NULL) goto out;
      memcpy(lone, payload, len);
      lone[len] = '\0';
      if (tag[0] == 'a' ? !absent(lone) : stat(lone, &st) != 0 || !S_ISREG(st.st_mode)) {
        explain(tag[0] == 'a' ? "appeared" : "missing", lone);
        goto out;
      }
    } else if (strcmp(tag, "tree") == 0) {
      tree = &recs[i];
    } else if (strcmp(tag, "write") == 0) {
      if (nul == NULL || n_writes == 8) goto out;
      writes[n_writes] = payload;
      write_lens[n_writes++] = len;
    } else if (strcmp(tag, "stdout") == 0) {
      out_data = payload;
      out_len = len;
    } else if (strcmp(tag, "stderr") == 0) {
      err_data = payload;
      err_len = len;
    } else if (strcmp(tag, "end") == 0) {
      ended = true;
    } else if (strcmp(tag, "masked") == 0) {
      replayable = true;
    } else if (!replay_tag(tag)) {
      explain("the record has a check this program does not know", tag);
      goto out; /* not answered */
    }
  }
  if (!keyed || !ended || tree == NULL) goto out;
  if (replayable && n_writes == 0) {
    /* One walk tells a no-op from an edit of the copied files only. */
    enum tree_state state = replay_check_tree(recs, n_recs, &replay);
    if (state == TREE_CHANGED) goto out;
    if (state == TREE_HOT_CHANGED) {
      answered = edit_replay(recs, n_recs, path, replay);
      goto out;
    }
  } else if (!same_tree(tree->payload, tree->len)) {
    goto out;
  }
  for (size_t i = 0; i < n_writes; i++) {
    /* "path\0content"; a file that cannot be written leaves the build to the CLI, which says why. */
    const char *content = writes[i] + strlen(writes[i]) + 1;
    size_t content_len = write_lens[i] - (size_t)(content - writes[i]);
    int fd = open(writes[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    bool ok = fd >= 0 && memo_write_all(fd, content, content_len);
    if (fd >= 0 && close(fd) != 0) ok = false;
    if (!ok) {
      explain("cannot write", writes[i]);
      goto out;
    }
  }
  answered = 1;
  if (out_data != NULL && !memo_write_all(STDOUT_FILENO, out_data, out_len)) answered = -1;
  if (err_data != NULL && !memo_write_all(STDERR_FILENO, err_data, err_len)) answered = -1;
out:
  free(key.data);
  free(memo.data);
  free(recs);
  replay_free(replay);
  return answered;
}

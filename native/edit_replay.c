/* The build memo's edit replay (edit_replay.h). The record's templates come from the bytes the
 * CLI wrote and were checked there to give them back (src/cli/edit-replay.ts): this file only
 * fills holes, writes a tar of the copied files, hashes, and writes files in the order and with
 * the syncs the store uses (src/store/content/fs-content-store.ts, src/store/meta/atomic-file.ts):
 * a blob's bytes are synced before its name exists, the blobs' folder before the image record,
 * the image record under the gc lock, which a replay never waits for (it leaves the build to
 * the CLI instead). */
#include "edit_replay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "sha256.h"
#include "tree_fingerprint.h"

#define MAX_HOT 4096
#define MAX_FILE (4u << 20) /* the CLI leaves larger layers to itself (MAX_LAYER_BYTES) */

struct replay {
  /* The copied files, in the record's order: hot ones (their content may change) and, marked
   * whole, ones another step read too (they must not). */
  char *hot[MAX_HOT];
  bool whole[MAX_HOT];
  size_t n_hot;
  struct stat hot_stats[MAX_HOT];
  bool hot_found[MAX_HOT];
  char digest[65]; /* the walk's exact digest */
  int64_t newest_ns;      /* the walk's newest change */
  int64_t cold_newest_ns; /* the same, but for the hot files and the directories above them */
  int64_t started_ns;
  const char *context;
};

void memo_explain(const char *why, const char *detail) {
  const char *mode = getenv("STRATA_BUILD_MEMO");
  if (mode != NULL && strcmp(mode, "explain") == 0)
    fprintf(stderr, "build memo: not used: %s%s%s\n", why, detail ? ": " : "", detail ? detail : "");
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct memo_rec *find(const struct memo_rec *recs, size_t n, const char *tag) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(recs[i].tag, tag) == 0) return &recs[i];
  return NULL;
}

void replay_free(struct replay *r) {
  if (r == NULL) return;
  for (size_t i = 0; i < r->n_hot; i++) free(r->hot[i]);
  free((void *)r->context);
  free(r);
}

enum tree_state replay_check_tree(const struct memo_rec *recs, size_t n, struct replay **out) {
  *out = NULL;
  const struct memo_rec *tree = find(recs, n, "tree"), *masked = find(recs, n, "masked");
  if (tree == NULL || masked == NULL || masked->len != 64) return TREE_CHANGED;
  struct replay *r = calloc(1, sizeof(*r));
  if (r == NULL) return TREE_CHANGED;
  r->started_ns = now_ns();
  /* "directory\0digest" then "\0name" per pruned directory */
  const char *nul = memchr(tree->payload, '\0', tree->len);
  const char *end = tree->payload + tree->len;
  const char *pruned[256];
  size_t n_pruned = 0;
  struct bytes names = {0};
  bool ok = nul != NULL && end - (nul + 1) >= 64;
  if (ok) {
    r->context = strndup(tree->payload, (size_t)(nul - tree->payload));
    const char *p = nul + 1 + 64;
    ok = r->context != NULL && (p == end || *p == '\0') && bytes_append(&names, p, (size_t)(end - p));
  }
  /* names.data: "\0a\0b" (terminated by put): each name follows a NUL */
  for (size_t i = 0; ok && i < names.len && n_pruned < 256; i++)
    if (names.data[i] == '\0') pruned[n_pruned++] = names.data + i + 1;
  for (size_t i = 0; ok && i < n; i++) {
    bool whole = strcmp(recs[i].tag, "cold") == 0;
    if (!whole && strcmp(recs[i].tag, "hot") != 0) continue;
    if (r->n_hot == MAX_HOT || recs[i].len == 0 || memchr(recs[i].payload, '\0', recs[i].len)) ok = false;
    else if ((r->hot[r->n_hot] = strndup(recs[i].payload, recs[i].len)) == NULL) ok = false;
    else r->whole[r->n_hot++] = whole;
  }
  enum tree_state state = TREE_CHANGED;
  if (ok && r->n_hot > 0) {
    struct tree_hot hot = {.paths = (const char *const *)r->hot,
                           .n = r->n_hot,
                           .whole = r->whole,
                           .stats = r->hot_stats,
                           .found = r->hot_found};
    struct tree_fingerprint fp;
    if (tree_fingerprint_hot(r->context, pruned, n_pruned, MEMO_MAX_CONTEXT_ENTRIES, &hot, &fp) != 0) {
      memo_explain("the context cannot be read", r->context);
    } else {
      char masked_hex[65];
      sha256_hex(fp.digest, r->digest);
      sha256_hex(hot.masked, masked_hex);
      r->newest_ns = fp.newest_ns;
      r->cold_newest_ns = hot.newest_ns;
      if (memcmp(r->digest, nul + 1, 64) == 0) state = TREE_SAME;
      else if (memcmp(masked_hex, masked->payload, 64) == 0) state = TREE_HOT_CHANGED;
      else memo_explain("the context changed", r->context);
    }
  }
  free(names.data);
  if (state == TREE_CHANGED) replay_free(r);
  else *out = r;
  return state;
}

/* ---- values and templates ------------------------------------------------------------------ */

enum { LAYER, LAYER_SIZE, CONFIG, CONFIG_HEX, CONFIG_SIZE, MANIFEST, MANIFEST_SIZE, NOW_GO, NOW_ISO, N_VALUES };
static const char *const VALUE_NAMES[N_VALUES] = {"LAYER",    "LAYER_SIZE",    "CONFIG", "CONFIG_HEX", "CONFIG_SIZE",
                                                  "MANIFEST", "MANIFEST_SIZE", "NOW_GO", "NOW_ISO"};

struct values {
  char text[N_VALUES][80];
  bool set[N_VALUES];
};

/* The template's text with each "\0NAME\0" hole filled; false for a hole without a value. */
static bool fill(const char *tpl, size_t len, const struct values *v, struct bytes *out) {
  out->len = 0;
  if (!bytes_append(out, "", 0)) return false;
  const char *p = tpl, *end = tpl + len;
  while (p < end) {
    const char *hole = memchr(p, '\0', (size_t)(end - p));
    if (hole == NULL) return bytes_append(out, p, (size_t)(end - p));
    if (!bytes_append(out, p, (size_t)(hole - p))) return false;
    const char *name = hole + 1, *close = memchr(name, '\0', (size_t)(end - name));
    if (close == NULL) return false;
    int found = -1;
    for (int i = 0; i < N_VALUES; i++)
      if (strlen(VALUE_NAMES[i]) == (size_t)(close - name) && memcmp(VALUE_NAMES[i], name, (size_t)(close - name)) == 0)
        found = i;
    if (found < 0 || !v->set[found] || !bytes_append_str(out, v->text[found])) return false;
    p = close + 1;
  }
  return true;
}

static void set_value(struct values *v, int which, const char *text) {
  snprintf(v->text[which], sizeof(v->text[which]), "%s", text);
  v->set[which] = true;
}

static void set_digest(struct values *v, int which, int size_which, const struct bytes *data, char hex_out[65]) {
  struct sha256 h;
  uint8_t d[32];
  char text[80];
  sha256_init(&h);
  sha256_update(&h, data->data, data->len);
  sha256_final(&h, d);
  sha256_hex(d, hex_out);
  snprintf(text, sizeof(text), "sha256:%s", hex_out);
  set_value(v, which, text);
  snprintf(text, sizeof(text), "%zu", data->len);
  set_value(v, size_which, text);
}

/* formatGoTime (src/oci/go-json.ts): RFC 3339, milliseconds without trailing zeros; and
 * Date.prototype.toISOString. */
static void format_times(int64_t ms, struct values *v) {
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char base[40], text[64];
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  int frac = (int)(ms % 1000);
  snprintf(text, sizeof(text), "%s.%03dZ", base, frac);
  set_value(v, NOW_ISO, text);
  if (frac == 0) snprintf(text, sizeof(text), "%sZ", base);
  else {
    char digits[8];
    snprintf(digits, sizeof(digits), "%03d", frac);
    for (int i = 2; i > 0 && digits[i] == '0'; i--) digits[i] = '\0';
    snprintf(text, sizeof(text), "%s.%sZ", base, digits);
  }
  set_value(v, NOW_GO, text);
}

/* ---- the layer ------------------------------------------------------------------------------ */

static void octal_field(char *field, size_t width, uint64_t value) {
  char text[32];
  snprintf(text, sizeof(text), "%0*llo", (int)width - 1, (unsigned long long)value);
  memcpy(field, text, width - 1);
  field[width - 1] = '\0';
}

static void set_checksum(char *h) {
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += (unsigned char)h[i];
  char text[16];
  snprintf(text, sizeof(text), "%06o", sum);
  memcpy(h + 148, text, 6);
  h[154] = '\0';
  h[155] = ' ';
}

/* Reads hot file i whole, if it is still what the walk saw. */
static bool read_hot(const struct replay *r, size_t i, struct bytes *out) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof(path), "%s/%s", r->context, r->hot[i]) >= (int)sizeof(path)) return false;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  const struct stat *w = &r->hot_stats[i];
  struct stat a, b;
  bool ok = fstat(fd, &a) == 0 && S_ISREG(a.st_mode) && a.st_ino == w->st_ino && a.st_size == w->st_size &&
            a.st_mtim.tv_sec == w->st_mtim.tv_sec && a.st_mtim.tv_nsec == w->st_mtim.tv_nsec &&
            a.st_ctim.tv_sec == w->st_ctim.tv_sec && a.st_ctim.tv_nsec == w->st_ctim.tv_nsec &&
            (uint64_t)a.st_size <= MAX_FILE;
  size_t start = out->len;
  ok = ok && bytes_read_fd(out, fd, start + MAX_FILE);
  ok = ok && fstat(fd, &b) == 0 && b.st_size == a.st_size && b.st_ctim.tv_sec == a.st_ctim.tv_sec &&
       b.st_ctim.tv_nsec == a.st_ctim.tv_nsec && out->len - start == (size_t)a.st_size;
  close(fd);
  return ok;
}

static bool make_layer(const struct memo_rec *recs, size_t n, const struct replay *r, int64_t now_ms, struct bytes *tar) {
  static const char zeros[512];
  for (size_t i = 0; i < r->n_hot; i++)
    if (!r->hot_found[i]) return false;
  bool trailer = false;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(recs[i].tag, "trailer") == 0) {
      char text[16];
      if (recs[i].len == 0 || recs[i].len >= sizeof(text)) return false;
      memcpy(text, recs[i].payload, recs[i].len);
      text[recs[i].len] = '\0';
      long zero_bytes = strtol(text, NULL, 10);
      if (zero_bytes < 1024 || zero_bytes > 1 << 20) return false;
      for (long done = 0; done < zero_bytes; done += 512)
        if (!bytes_append(tar, zeros, (size_t)(zero_bytes - done < 512 ? zero_bytes - done : 512))) return false;
      trailer = true;
      continue;
    }
    if (strcmp(recs[i].tag, "entry") != 0) continue;
    /* "D\0" or "F<n>\0", then the 512-byte header */
    const char *nul = memchr(recs[i].payload, '\0', recs[i].len);
    if (nul == NULL || recs[i].len - (size_t)(nul + 1 - recs[i].payload) != 512) return false;
    char h[512];
    memcpy(h, nul + 1, 512);
    if (recs[i].payload[0] == 'D' && nul == recs[i].payload + 1) {
      octal_field(h + 136, 12, (uint64_t)(now_ms / 1000));
      set_checksum(h);
      if (!bytes_append(tar, h, 512)) return false;
    } else if (recs[i].payload[0] == 'K' && nul == recs[i].payload + 1) {
      if (!bytes_append(tar, h, 512)) return false; /* as it was: a directory the copy wrote nothing into */
    } else if (recs[i].payload[0] == 'F') {
      char *after;
      unsigned long which = strtoul(recs[i].payload + 1, &after, 10);
      if (after != nul || which >= r->n_hot) return false;
      const struct stat *st = &r->hot_stats[which];
      octal_field(h + 124, 12, (uint64_t)st->st_size);
      octal_field(h + 136, 12, (uint64_t)st->st_mtim.tv_sec);
      set_checksum(h);
      if (st->st_mtim.tv_sec < 0 || !bytes_append(tar, h, 512) || !read_hot(r, which, tar)) return false;
      size_t pad = (512 - (size_t)st->st_size % 512) % 512;
      if (!bytes_append(tar, zeros, pad)) return false;
    } else {
      return false;
    }
    if (tar->len > MAX_FILE) return false;
  }
  return trailer;
}

/* ---- writing, as the store does ---------------------------------------------------------------- */

bool memo_write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= (size_t)n;
  }
  return true;
}

static bool random_hex(char *out, size_t bytes) {
  unsigned char raw[32];
  if (bytes > sizeof(raw) || getrandom(raw, bytes, 0) != (ssize_t)bytes) return false;
  for (size_t i = 0; i < bytes; i++) snprintf(out + 2 * i, 3, "%02x", raw[i]);
  return true;
}

static bool fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

/* A new file `dir`/<prefix><pid>-<random> with `data`, synced (`sync`) and closed; its path in `temp`. */
static bool write_temp(const char *dir, const char *prefix, const struct bytes *data, mode_t mode, bool sync, char *temp,
                       size_t size) {
  char rnd[17];
  if (!random_hex(rnd, 8)) return false;
  if (snprintf(temp, size, "%s/%s%d-%s", dir, prefix, (int)getpid(), rnd) >= (int)size) return false;
  int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = memo_write_all(fd, data->data, data->len) && (!sync || fsync(fd) == 0);
  /* A blob is read-only whatever the umask, as FsContentStore makes it. */
  if (ok && mode == 0444) ok = fchmod(fd, mode) == 0;
  if (close(fd) != 0) ok = false;
  if (!ok) unlink(temp);
  return ok;
}

/* FsContentStore.writeBytes with deferDirSync: the ingest file synced, then linked as the blob
 * (one already there is kept, its GC age refreshed). */
static bool write_blob(const char *blobs, const char *ingest, const struct bytes *data, const char *hex) {
  char temp[PATH_MAX], final[PATH_MAX];
  if (snprintf(final, sizeof(final), "%s/%s", blobs, hex) >= (int)sizeof(final)) return false;
  if (!write_temp(ingest, "", data, 0444, true, temp, sizeof(temp))) return false;
  bool ok = link(temp, final) == 0;
  if (!ok && errno == EEXIST) {
    utimensat(AT_FDCWD, final, NULL, 0); /* best effort, as FsContentStore's touch */
    ok = true;
  }
  unlink(temp);
  return ok;
}

/* writeFileAtomic: temp in the metadata's tmp folder, synced, renamed, the folder synced. */
static bool write_record(const char *tmp_dir, const char *path, const struct bytes *data) {
  char temp[PATH_MAX], dir[PATH_MAX];
  if (!write_temp(tmp_dir, ".tmp-", data, 0644, true, temp, sizeof(temp))) return false;
  if (rename(temp, path) != 0) {
    unlink(temp);
    return false;
  }
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == NULL) return false;
  *slash = '\0';
  return fsync_dir(dir);
}

/* The gc lock (src/store/meta/file-lock.ts), taken only if free: the record it guards is what
 * a concurrent GC must not miss. */
static bool take_lock(const char *path, const char *now_iso) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  char host[256] = "", token[33], ns[64] = "", info[700];
  gethostname(host, sizeof(host) - 1);
  ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
  ns[n > 0 ? n : 0] = '\0';
  bool ok = random_hex(token, 16) && strpbrk(host, "\"\\") == NULL;
  int len = snprintf(info, sizeof(info), "{\"pid\":%d,\"hostname\":\"%s\",\"token\":\"%s\",\"acquiredAt\":\"%s\"%s%s%s}",
                     (int)getpid(), host, token, now_iso, n > 0 ? ",\"pidns\":\"" : "", ns, n > 0 ? "\"" : "");
  ok = ok && len > 0 && (size_t)len < sizeof(info) && memo_write_all(fd, info, (size_t)len);
  close(fd);
  if (!ok) unlink(path);
  return ok;
}

static bool exists_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- the replay --------------------------------------------------------------------------------- */

struct store_paths {
  char blobs[PATH_MAX], ingest[PATH_MAX], tmp[PATH_MAX], gc_lock[PATH_MAX];
};

static bool store_paths(const struct memo_rec *recs, size_t n, struct store_paths *s) {
  const struct memo_rec *rec = find(recs, n, "store");
  if (rec == NULL) return false;
  char *fields[4];
  char *copy = malloc(rec->len + 1); /* NUL-separated fields: not strndup */
  if (copy == NULL) return false;
  memcpy(copy, rec->payload, rec->len);
  copy[rec->len] = '\0';
  size_t got = 0;
  const char *p = copy, *end = copy + rec->len;
  while (got < 4 && p <= end) {
    fields[got++] = (char *)p;
    p += strlen(p) + 1;
  }
  bool ok = got == 4 && p == end + 1;
  ok = ok && snprintf(s->blobs, PATH_MAX, "%s", fields[0]) < PATH_MAX && snprintf(s->ingest, PATH_MAX, "%s", fields[1]) < PATH_MAX &&
       snprintf(s->tmp, PATH_MAX, "%s", fields[2]) < PATH_MAX && snprintf(s->gc_lock, PATH_MAX, "%s", fields[3]) < PATH_MAX;
  free(copy);
  return ok;
}

static const struct memo_rec *template_named(const struct memo_rec *recs, size_t n, const char *name, const char **tpl,
                                             size_t *len) {
  size_t name_len = strlen(name);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(recs[i].tag, "tpl") != 0 || recs[i].len <= name_len || memcmp(recs[i].payload, name, name_len) != 0 ||
        recs[i].payload[name_len] != '\0')
      continue;
    *tpl = recs[i].payload + name_len + 1;
    *len = recs[i].len - name_len - 1;
    return &recs[i];
  }
  return NULL;
}

static bool fill_named(const struct memo_rec *recs, size_t n, const char *name, const struct values *v, struct bytes *out) {
  const char *tpl;
  size_t len;
  return template_named(recs, n, name, &tpl, &len) != NULL && fill(tpl, len, v, out);
}

static bool add_record(struct bytes *memo, const char *tag, const char *a, size_t a_len, const char *b, size_t b_len) {
  char head[64];
  snprintf(head, sizeof(head), "%s %zu\n", tag, a_len + (b ? 1 + b_len : 0));
  return bytes_append_str(memo, head) && bytes_append(memo, a, a_len) && (b == NULL || (bytes_append(memo, "", 1) && bytes_append(memo, b, b_len))) &&
         bytes_append(memo, "\n", 1);
}

/* A `blob` pin of a blob the replay replaces (an `own` record names it). */
static bool is_own(const struct memo_rec *recs, size_t n, const struct memo_rec *blob) {
  for (size_t j = 0; j < n; j++)
    if (strcmp(recs[j].tag, "own") == 0 && recs[j].len == blob->len && memcmp(recs[j].payload, blob->payload, blob->len) == 0)
      return true;
  return false;
}

#define MAX_WRITES 16
/* A tree digest no walk gives (NO_TREE in src/cli/build-memo.ts). */
#define NO_TREE "----------------------------------------------------------------"

int edit_replay(const struct memo_rec *recs, size_t n, const char *memo_path, struct replay *r) {
  struct values v = {0};
  struct store_paths s;
  struct bytes tar = {0}, config = {0}, manifest = {0}, out = {0}, err = {0}, memo = {0}, noop_out = {0}, noop_err = {0};
  struct bytes paths[MAX_WRITES] = {0}, bodies[MAX_WRITES] = {0};
  size_t n_writes = 0;
  int result = 0;
  char layer_hex[65], config_hex[65], manifest_hex[65], blob[PATH_MAX + 80];
  int64_t now_ms = now_ns() / 1000000;
  format_times(now_ms, &v);
  if (!store_paths(recs, n, &s) || !make_layer(recs, n, r, now_ms, &tar)) {
    memo_explain("the changed files cannot be copied as the record says", NULL);
    goto out;
  }
  set_digest(&v, LAYER, LAYER_SIZE, &tar, layer_hex);
  if (!fill_named(recs, n, "config", &v, &config)) goto out;
  set_digest(&v, CONFIG, CONFIG_SIZE, &config, config_hex);
  set_value(&v, CONFIG_HEX, config_hex);
  if (!fill_named(recs, n, "manifest", &v, &manifest)) goto out;
  set_digest(&v, MANIFEST, MANIFEST_SIZE, &manifest, manifest_hex);
  for (size_t i = 0; i + 1 < n; i++) {
    if (strcmp(recs[i].tag, "tpath") != 0) continue;
    if (n_writes == MAX_WRITES || strcmp(recs[i + 1].tag, "tbody") != 0 ||
        !fill(recs[i].payload, recs[i].len, &v, &paths[n_writes]) ||
        !fill(recs[i + 1].payload, recs[i + 1].len, &v, &bodies[n_writes]))
      goto out;
    n_writes++;
  }
  /* The first is the image record: a new image's (one there already is left to the CLI, which
   * keeps its creation time). */
  if (n_writes == 0 || !fill_named(recs, n, "stdout", &v, &out) || !fill_named(recs, n, "stderr", &v, &err) ||
      !fill_named(recs, n, "noop-stdout", &v, &noop_out) || !fill_named(recs, n, "noop-stderr", &v, &noop_err))
    goto out;
  if (access(paths[0].data, F_OK) == 0) {
    memo_explain("the image is in the store already", paths[0].data);
    goto out;
  }

  /* Blobs, their names made durable together before the record. */
  if (!write_blob(s.blobs, s.ingest, &tar, layer_hex) || !write_blob(s.blobs, s.ingest, &config, config_hex) ||
      !write_blob(s.blobs, s.ingest, &manifest, manifest_hex) || !fsync_dir(s.blobs)) {
    memo_explain("cannot write blobs", s.blobs);
    goto out;
  }
  if (!take_lock(s.gc_lock, v.text[NOW_ISO])) {
    memo_explain("the store is locked", s.gc_lock);
    goto out;
  }
  /* Under the lock, as ImageStore.put: every blob of the image is there. */
  bool complete = true;
  for (size_t i = 0; i < n && complete; i++) {
    if (strcmp(recs[i].tag, "blob") != 0 || recs[i].len >= sizeof(blob)) continue;
    memcpy(blob, recs[i].payload, recs[i].len);
    blob[recs[i].len] = '\0';
    if (!is_own(recs, n, &recs[i])) complete = exists_file(blob);
  }
  const char *hexes[3] = {layer_hex, config_hex, manifest_hex};
  for (int i = 0; i < 3 && complete; i++) {
    snprintf(blob, sizeof(blob), "%s/%s", s.blobs, hexes[i]);
    complete = exists_file(blob);
  }
  bool recorded = complete && write_record(s.tmp, paths[0].data, &bodies[0]);
  unlink(s.gc_lock);
  if (!recorded) {
    memo_explain("cannot record the image", paths[0].data);
    goto out;
  }
  for (size_t i = 1; i < n_writes; i++)
    if (!write_record(s.tmp, paths[i].data, &bodies[i])) {
      memo_explain("cannot write", paths[i].data);
      goto out;
    }

  result = 1;
  if ((out.len && !memo_write_all(STDOUT_FILENO, out.data, out.len)) || (err.len && !memo_write_all(STDERR_FILENO, err.data, err.len)))
    result = -1;

  /* The record of the new state: as the old one, with the written files' new content, the new
   * blobs for the old, the tree as walked, and what a no-op prints. A change younger than the
   * racy margin (src/cli/build-memo.ts) may hide another within the clock's tick: in a copied
   * file, the record keeps no tree digest (it can replay, not answer a no-op); elsewhere, there
   * is no record and the next build goes to the CLI. */
  struct statfs fs;
  int64_t margin = 2500000000LL;
  if (statfs(r->context, &fs) == 0) {
    switch ((unsigned long)fs.f_type) {
      case 0xef53: case 0x58465342: case 0x9123683e: case 0x01021994: case 0x794c7630: case 0xf2f52010: case 0x2fc12fc1:
        margin = 100000000LL;
    }
  }
  bool fresh = r->newest_ns < r->started_ns - margin;
  bool ok = r->cold_newest_ns < r->started_ns - margin && bytes_append_str(&memo, "strata-build-memo 1\n");
  bool written[MAX_WRITES] = {0};
  for (size_t i = 0; ok && i < n; i++) {
    const struct memo_rec *rec = &recs[i];
    const char *tag = rec->tag;
    if (strcmp(tag, "file") == 0 || strcmp(tag, "absent") == 0) {
      size_t path_len = strnlen(rec->payload, rec->len);
      bool replaced = false;
      for (size_t w = 0; w < n_writes && !replaced; w++) {
        if (paths[w].len != path_len || memcmp(paths[w].data, rec->payload, path_len) != 0) continue;
        replaced = written[w] = true;
        ok = add_record(&memo, "file", paths[w].data, paths[w].len, bodies[w].data, bodies[w].len);
      }
      if (!replaced) ok = add_record(&memo, tag, rec->payload, rec->len, NULL, 0);
    } else if (strcmp(tag, "blob") == 0) {
      if (!is_own(recs, n, rec)) ok = add_record(&memo, tag, rec->payload, rec->len, NULL, 0);
    } else if (strcmp(tag, "tree") == 0) {
      struct bytes t = {0};
      size_t dir_len = strlen(r->context);
      ok = bytes_append(&t, rec->payload, rec->len) && rec->len >= dir_len + 65;
      if (ok) memcpy(t.data + dir_len + 1, fresh ? r->digest : NO_TREE, 64);
      ok = ok && add_record(&memo, tag, t.data, t.len, NULL, 0);
      free(t.data);
    } else if (strcmp(tag, "own") != 0 && strcmp(tag, "stdout") != 0 && strcmp(tag, "stderr") != 0 &&
               strcmp(tag, "end") != 0) {
      ok = add_record(&memo, tag, rec->payload, rec->len, NULL, 0);
    }
  }
  for (size_t w = 0; ok && w < n_writes; w++)
    if (!written[w]) ok = add_record(&memo, "file", paths[w].data, paths[w].len, bodies[w].data, bodies[w].len);
  for (int i = 0; ok && i < 3; i++) {
    snprintf(blob, sizeof(blob), "%s/%s", s.blobs, hexes[i]);
    ok = add_record(&memo, "blob", blob, strlen(blob), NULL, 0) && add_record(&memo, "own", blob, strlen(blob), NULL, 0);
  }
  ok = ok && add_record(&memo, "stdout", noop_out.data, noop_out.len, NULL, 0) &&
       add_record(&memo, "stderr", noop_err.data, noop_err.len, NULL, 0) && add_record(&memo, "end", "", 0, NULL, 0);
  char dir[PATH_MAX], temp[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", memo_path);
  char *slash = strrchr(dir, '/');
  if (ok && slash != NULL) {
    *slash = '\0';
    ok = write_temp(dir, ".tmp-", &memo, 0600, false, temp, sizeof(temp));
    if (ok && rename(temp, memo_path) != 0) {
      unlink(temp);
      ok = false;
    }
  }
  if (!ok) unlink(memo_path); /* its pins no longer hold: the next build goes to the CLI */

out:
  free(tar.data);
  free(config.data);
  free(manifest.data);
  free(out.data);
  free(err.data);
  free(memo.data);
  free(noop_out.data);
  free(noop_err.data);
  for (size_t i = 0; i < MAX_WRITES; i++) {
    free(paths[i].data);
    free(bodies[i].data);
  }
  return result;
}

/* A layer tar written straight into a file (tar_writer.h).
 *
 * Why here and not in JS: a big COPY's layer is thousands of small files (bigctx: 5,000 ×
 * 20 KB). Through JS every block was a round trip between the main thread and the workers
 * that read, hash and write it, and the main thread, busy encoding the next headers, was
 * what the others waited for. Here three threads each do one thing on a ring of blocks:
 * the caller's (a libuv worker) fills blocks with headers, bodies and padding; a hasher
 * takes them in order; a writer writes them in order, with O_DIRECT where the filesystem
 * takes it (the page cache is slow to give fresh pages on these machines). The headers come
 * encoded from JS (archive/tar-writer.ts owns the format); this file only lays out bytes. */

#include "tar_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define RING 8
#define ALIGN 4096
#define RECORD 512

enum { FREE, FILLED, HASHED };

struct ring {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  unsigned char *data[RING];
  size_t len[RING];
  int state[RING];
  /* Blocks handed to the hasher so far; the total once the producer is done (else -1). */
  long produced, total;
  bool failed;
  int fd;
  bool direct;
  const struct tar_hash *hash;
  struct tar_result *out;
};

/* Records the first failure and wakes every thread: they stop at their next look at the ring. */
static void fail(struct ring *r, int err, const char *syscall, long entry) {
  pthread_mutex_lock(&r->lock);
  if (!r->failed) {
    r->failed = true;
    r->out->err = err;
    r->out->syscall = syscall;
    r->out->entry = entry;
  }
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
}

/* Waits until block `index` is in `state` (or the producer says there is no such block, or a
 * thread failed): true when it is. */
static bool await_block(struct ring *r, long index, int state) {
  int slot = (int)(index % RING);
  pthread_mutex_lock(&r->lock);
  for (;;) {
    if (r->failed) break;
    if (r->state[slot] == state && (state == FREE || index < r->produced)) break;
    if (state != FREE && r->total >= 0 && index >= r->total) break;
    pthread_cond_wait(&r->changed, &r->lock);
  }
  bool ok = !r->failed && r->state[slot] == state && (state == FREE || index < r->produced);
  pthread_mutex_unlock(&r->lock);
  return ok;
}

static void set_state(struct ring *r, long index, int state, bool produced) {
  pthread_mutex_lock(&r->lock);
  r->state[index % RING] = state;
  if (produced) r->produced = index + 1;
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
}

static void *hasher(void *arg) {
  struct ring *r = arg;
  for (long i = 0; await_block(r, i, FILLED); i++) {
    r->hash->update(r->hash->ctx, r->data[i % RING], r->len[i % RING]);
    set_state(r, i, HASHED, false);
  }
  return NULL;
}

/* pwrite all of it; a filesystem that took O_DIRECT and then refuses a write gets the page cache. */
static int write_all(struct ring *r, const unsigned char *data, size_t len, uint64_t at) {
  for (size_t done = 0; done < len;) {
    ssize_t n = pwrite(r->fd, data + done, len - done, (off_t)(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && r->direct) {
      int flags = fcntl(r->fd, F_GETFL);
      if (flags < 0 || fcntl(r->fd, F_SETFL, flags & ~O_DIRECT) != 0) return errno;
      r->direct = false;
      continue;
    }
    if (n < 0) return errno;
    done += (size_t)n;
  }
  return 0;
}

static void *writer(void *arg) {
  struct ring *r = arg;
  uint64_t at = 0;
  for (long i = 0; await_block(r, i, HASHED); i++) {
    size_t len = r->len[i % RING];
    if (r->direct && len % ALIGN != 0) {
      /* The last block: O_DIRECT wants whole pages. */
      int flags = fcntl(r->fd, F_GETFL);
      if (flags >= 0 && fcntl(r->fd, F_SETFL, flags & ~O_DIRECT) == 0) r->direct = false;
    }
    int err = write_all(r, r->data[i % RING], len, at);
    if (err != 0) {
      fail(r, err, "write", -1);
      break;
    }
    at += len;
    set_state(r, i, FREE, false);
  }
  return NULL;
}

/* The producer's side: the block being filled. */
struct fill {
  struct ring *r;
  long index;
  size_t used;
};

/* The current block, waiting for its slot to be free; NULL once something failed. */
static unsigned char *current(struct fill *f) {
  if (f->used == 0 && !await_block(f->r, f->index, FREE)) return NULL;
  return f->r->data[f->index % RING];
}

static void publish(struct fill *f) {
  f->r->len[f->index % RING] = f->used;
  set_state(f->r, f->index, FILLED, true);
  f->index++;
  f->used = 0;
}

static bool put(struct fill *f, const unsigned char *bytes, size_t len) {
  while (len > 0) {
    unsigned char *block = current(f);
    if (block == NULL) return false;
    size_t n = BLOCK - f->used < len ? BLOCK - f->used : len;
    if (bytes != NULL) memcpy(block + f->used, bytes, n);
    else memset(block + f->used, 0, n);
    f->used += n;
    if (bytes != NULL) bytes += n;
    len -= n;
    if (f->used == BLOCK) publish(f);
  }
  return true;
}

/* The body of entry `e`, read straight into the blocks; false after fail(). */
static bool put_body(struct fill *f, const struct tar_plan *plan, size_t e) {
  struct ring *r = f->r;
  uint64_t size = plan->sizes[e], got = 0;
  int fd = open(plan->sources[e], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(r, errno, "open", (long)e);
    return false;
  }
  while (got < size) {
    unsigned char *block = current(f);
    if (block == NULL) {
      close(fd);
      return false;
    }
    size_t room = BLOCK - f->used;
    size_t want = size - got < room ? (size_t)(size - got) : room;
    ssize_t n = read(fd, block + f->used, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      fail(r, err, "read", (long)e);
      return false;
    }
    if (n == 0) break;
    f->used += (size_t)n;
    got += (uint64_t)n;
    if (f->used == BLOCK) publish(f);
  }
  if (got == size) {
    /* One byte past the end: a file that grew since its stat has one. */
    unsigned char probe;
    ssize_t n;
    do n = read(fd, &probe, 1);
    while (n < 0 && errno == EINTR);
    if (n > 0) got++;
  }
  close(fd);
  if (got != size) {
    pthread_mutex_lock(&r->lock);
    if (!r->failed) r->out->got = got;
    pthread_mutex_unlock(&r->lock);
    fail(r, 0, "read", (long)e);
    return false;
  }
  return put(f, NULL, (RECORD - size % RECORD) % RECORD);
}

int tar_write(const struct tar_plan *plan, int fd, const struct tar_hash *hash, struct tar_result *out) {
  struct ring r = {.produced = 0, .total = -1, .fd = fd, .hash = hash, .out = out};
  memset(out, 0, sizeof(*out));
  out->entry = -1;
  pthread_mutex_init(&r.lock, NULL);
  pthread_cond_init(&r.changed, NULL);
  int made = 0, err = 0;
  for (; made < RING; made++) {
    if ((err = posix_memalign((void **)&r.data[made], ALIGN, BLOCK)) != 0) break;
    r.state[made] = FREE;
  }
  int flags = fcntl(fd, F_GETFL);
  r.direct = flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
  pthread_t threads[2];
  int started = 0;
  if (err == 0 && (err = pthread_create(&threads[0], NULL, hasher, &r)) == 0) started++;
  if (err == 0 && (err = pthread_create(&threads[1], NULL, writer, &r)) == 0) started++;
  if (err != 0) {
    fail(&r, err, made < RING ? "posix_memalign" : "pthread_create", -1);
  } else {
    struct fill f = {.r = &r};
    const unsigned char *header = plan->headers;
    bool ok = true;
    for (size_t e = 0; ok && e < plan->count; e++) {
      ok = put(&f, header, plan->header_len[e]);
      header += plan->header_len[e];
      if (ok && plan->sizes[e] > 0) ok = put_body(&f, plan, e);
    }
    if (ok) ok = put(&f, NULL, 2 * RECORD);
    if (ok && f.used > 0) publish(&f);
    pthread_mutex_lock(&r.lock);
    r.total = f.index;
    pthread_cond_broadcast(&r.changed);
    pthread_mutex_unlock(&r.lock);
  }
  for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
  /* Bytes: every full block plus the last one. */
  if (!r.failed) {
    uint64_t size = 0;
    for (long i = 0; i < r.total; i++) size += i + 1 < r.total ? BLOCK : r.len[i % RING];
    out->size = size;
  }
  if (r.direct) {
    flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_DIRECT);
  }
  for (int i = 0; i < made; i++) free(r.data[i]);
  pthread_cond_destroy(&r.changed);
  pthread_mutex_destroy(&r.lock);
  return r.failed ? -1 : 0;
}

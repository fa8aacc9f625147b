/* A growable byte buffer for the front program (build_memo.c, edit_replay.c): what it reads and
 * what it writes, always NUL-terminated after its bytes so that a path in it is a C string. */
#ifndef STRATA_BYTES_H
#define STRATA_BYTES_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bytes {
  char *data;
  size_t len, cap;
};

static inline bool bytes_append(struct bytes *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) return false;
    b->data = grown;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return true;
}

static inline bool bytes_append_str(struct bytes *b, const char *s) { return bytes_append(b, s, strlen(s)); }

/* Appends what `fd` has left to read; false on a read error or past `max` bytes in `b`. */
static inline bool bytes_read_fd(struct bytes *b, int fd, size_t max) {
  for (;;) {
    char chunk[65536];
    ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 || (size_t)got + b->len > max) return false;
    if (got == 0) return true;
    if (!bytes_append(b, chunk, (size_t)got)) return false;
  }
}

#endif

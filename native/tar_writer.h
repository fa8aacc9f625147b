/* A layer tar written straight into a file: headers the caller encoded, file bodies read here,
 * padding and the end-of-archive marker, hashed and written by three threads at once.
 * See tar_writer.c. */
#ifndef STRATA_TAR_WRITER_H
#define STRATA_TAR_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct tar_plan {
  size_t count;
  /* Every entry's header blocks (PAX ones included), one after the other. */
  const unsigned char *headers;
  /* Bytes of headers per entry: a multiple of 512. */
  const size_t *header_len;
  /* Per entry the file its body is read from (NULL when size is 0), and the body's size. */
  char *const *sources;
  const uint64_t *sizes;
};

/* The running hash the bytes go through, in order (OpenSSL's SHA256_Update on its context). */
struct tar_hash {
  void *ctx;
  int (*update)(void *ctx, const void *data, size_t length);
};

struct tar_result {
  /* Bytes written. */
  uint64_t size;
  /* 0, or the errno that stopped the write, with the call and the entry (-1: none) it met. */
  int err;
  const char *syscall;
  long entry;
  /* With err == 0 and entry >= 0: that entry's file did not have `size` bytes (it changed
   * while archiving); `got` is what was read (size + 1: it has more). */
  uint64_t got;
};

/* 0 when the whole archive is written and hashed; -1 with *out saying why. `fd` is a regular
 * file opened for writing at offset 0; O_DIRECT is used where the filesystem takes it. */
int tar_write(const struct tar_plan *plan, int fd, const struct tar_hash *hash, struct tar_result *out);

#endif

/*
 * strata_sys: the few Linux system calls Strata needs and Node does not expose.
 *
 * mount(2), umount2(2), mknod(2) and the l*xattr(2) family, as synchronous Node-API
 * functions; plus what writing with O_DIRECT needs (an aligned buffer, the flag on an open fd),
 * and SHA-256 on a state JS holds, which can be updated on a libuv worker (see below). Each
 * system-call wrapper validates its arguments, makes exactly one system call (two for
 * the size-then-read xattr calls) and turns a failure into a JS Error shaped like Node's
 * own fs errors: `code` is the errno name ('EPERM'), `errno` the negated number, plus
 * `syscall` and `path`. Nothing here keeps state between calls.
 */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <node_api.h>

#include "sha256.h"
#include "tar_writer.h"
#include "tree_fingerprint.h"

/* ---- errno names ------------------------------------------------------------------ */

struct errno_name {
  int number;
  const char *name;
};

#define ERRNO_ENTRY(e) {e, #e}
static const struct errno_name errno_names[] = {
    ERRNO_ENTRY(EPERM),   ERRNO_ENTRY(ENOENT),    ERRNO_ENTRY(ESRCH),     ERRNO_ENTRY(EINTR),
    ERRNO_ENTRY(EIO),     ERRNO_ENTRY(ENXIO),     ERRNO_ENTRY(E2BIG),     ERRNO_ENTRY(ENOEXEC),
    ERRNO_ENTRY(EBADF),   ERRNO_ENTRY(ECHILD),    ERRNO_ENTRY(EAGAIN),    ERRNO_ENTRY(ENOMEM),
    ERRNO_ENTRY(EACCES),  ERRNO_ENTRY(EFAULT),    ERRNO_ENTRY(ENOTBLK),   ERRNO_ENTRY(EBUSY),
    ERRNO_ENTRY(EEXIST),  ERRNO_ENTRY(EXDEV),     ERRNO_ENTRY(ENODEV),    ERRNO_ENTRY(ENOTDIR),
    ERRNO_ENTRY(EISDIR),  ERRNO_ENTRY(EINVAL),    ERRNO_ENTRY(ENFILE),    ERRNO_ENTRY(EMFILE),
    ERRNO_ENTRY(ENOTTY),  ERRNO_ENTRY(ETXTBSY),   ERRNO_ENTRY(EFBIG),     ERRNO_ENTRY(ENOSPC),
    ERRNO_ENTRY(ESPIPE),  ERRNO_ENTRY(EROFS),     ERRNO_ENTRY(EMLINK),    ERRNO_ENTRY(EPIPE),
    ERRNO_ENTRY(ERANGE),  ERRNO_ENTRY(ENAMETOOLONG), ERRNO_ENTRY(ENOSYS),  ERRNO_ENTRY(ENOTEMPTY),
    ERRNO_ENTRY(ELOOP),   ERRNO_ENTRY(ENODATA),   ERRNO_ENTRY(EOVERFLOW), ERRNO_ENTRY(ENOTSUP),
    ERRNO_ENTRY(EDQUOT),  ERRNO_ENTRY(ESTALE),    ERRNO_ENTRY(EUCLEAN),   ERRNO_ENTRY(EOPNOTSUPP),
};
#undef ERRNO_ENTRY

static const char *errno_name(int number) {
  for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
    if (errno_names[i].number == number) return errno_names[i].name;
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(number);
  if (name != NULL) return name;
#endif
  return "UNKNOWN";
}

/* ---- small helpers ---------------------------------------------------------------- */

/* A pending JS exception aborts the wrapper: every helper returns false after throwing. */
#define CHECK_NAPI(env, call)                                                         \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      const napi_extended_error_info *info_ = NULL;                                   \
      bool pending_ = false;                                                          \
      napi_is_exception_pending((env), &pending_);                                    \
      if (!pending_) {                                                                \
        napi_get_last_error_info((env), &info_);                                      \
        napi_throw_error((env), "EINTERNAL",                                          \
                         info_ && info_->error_message ? info_->error_message          \
                                                       : "Node-API call failed");      \
      }                                                                               \
      goto fail;                                                                      \
    }                                                                                 \
  } while (0)

static bool set_string_prop(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) != napi_ok) return false;
  return napi_set_named_property(env, obj, key, v) == napi_ok;
}

/* Throws an Error like Node's: "EPERM: operation not permitted, mount '/x'". */
static void throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  const char *code = errno_name(err);
  const char *desc = strerror(err);
  size_t len = strlen(code) + strlen(desc) + strlen(syscall) + (path ? strlen(path) : 0) + 16;
  char *message = malloc(len);
  if (message == NULL) {
    napi_throw_error(env, code, desc);
    return;
  }
  if (path != NULL) {
    snprintf(message, len, "%s: %s, %s '%s'", code, desc, syscall, path);
  } else {
    snprintf(message, len, "%s: %s, %s", code, desc, syscall);
  }
  /* Node spells descriptions in lower case ("no such file or directory"): follow it. */
  char *first = message + strlen(code) + 2;
  if (*first >= 'A' && *first <= 'Z') *first = (char)(*first - 'A' + 'a');
  napi_value code_value, message_value, error, errno_value;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok ||
      napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok ||
      napi_create_error(env, code_value, message_value, &error) != napi_ok) {
    free(message);
    napi_throw_error(env, code, desc);
    return;
  }
  free(message);
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  set_string_prop(env, error, "syscall", syscall);
  if (path != NULL) set_string_prop(env, error, "path", path);
  napi_throw(env, error);
}

static void throw_type(napi_env env, const char *message) { napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message); }

/*
 * Reads argument `value` as a UTF-8 string into a fresh malloc'd buffer (*out). When
 * `nullable`, null and undefined give *out = NULL. Strings holding NUL bytes are refused:
 * the kernel would silently stop at the first one.
 */
static bool get_string(napi_env env, napi_value value, const char *what, bool nullable, char **out) {
  napi_valuetype type;
  *out = NULL;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (nullable && (type == napi_null || type == napi_undefined)) return true;
  if (type != napi_string) {
    char message[128];
    snprintf(message, sizeof(message), "%s must be a string%s", what, nullable ? " or null" : "");
    throw_type(env, message);
    return false;
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return false;
  char *buffer = malloc(length + 1);
  if (buffer == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  if (napi_get_value_string_utf8(env, value, buffer, length + 1, &length) != napi_ok) {
    free(buffer);
    return false;
  }
  if (strlen(buffer) != length) {
    free(buffer);
    char message[128];
    snprintf(message, sizeof(message), "%s must not contain NUL bytes", what);
    napi_throw_error(env, "ERR_INVALID_ARG_VALUE", message);
    return false;
  }
  *out = buffer;
  return true;
}

/* Reads a non-negative integral number that fits in 64 bits. */
static bool get_uint(napi_env env, napi_value value, const char *what, uint64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_undefined) {
    *out = 0;
    return true;
  }
  if (type != napi_number) {
    char message[128];
    snprintf(message, sizeof(message), "%s must be a number", what);
    throw_type(env, message);
    return false;
  }
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) return false;
  if (!(d >= 0) || d > 9007199254740991.0 || d != (double)(uint64_t)d) {
    char message[128];
    snprintf(message, sizeof(message), "%s must be a non-negative integer", what);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  *out = (uint64_t)d;
  return true;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

/* An array of strings (undefined: none), copied out; free with free_strings(). */
/*
 * Reads `value`, an array of strings or one string of them joined by NUL bytes (one conversion
 * instead of one per string: a tar block's ~50 paths, a link batch's 1,024), into a fresh
 * array of malloc'd strings (*out, *count).
 */
static bool get_strings(napi_env env, napi_value value, const char *what, char ***out, size_t *count) {
  napi_valuetype type;
  bool is_array = false;
  uint32_t n = 0;
  *out = NULL;
  *count = 0;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_undefined) return true;
  if (type == napi_string) {
    size_t length;
    char *joined;
    if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return false;
    if ((joined = malloc(length + 1)) == NULL) goto nomem;
    napi_get_value_string_utf8(env, value, joined, length + 1, &length);
    size_t pieces = 1;
    for (size_t i = 0; i < length; i++) pieces += joined[i] == '\0';
    if ((*out = calloc(pieces, sizeof(**out))) == NULL) {
      free(joined);
      goto nomem;
    }
    for (size_t i = 0, start = 0; i <= length; i++) {
      if (i < length && joined[i] != '\0') continue;
      if (((*out)[*count] = strndup(joined + start, i - start)) == NULL) {
        free(joined);
        goto nomem;
      }
      (*count)++;
      start = i + 1;
    }
    free(joined);
    return true;
  }
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array || napi_get_array_length(env, value, &n) != napi_ok) {
    char message[96];
    snprintf(message, sizeof(message), "%s must be an array of strings or a NUL-joined string", what);
    throw_type(env, message);
    return false;
  }
  *out = calloc(n ? n : 1, sizeof(**out));
  if (*out == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, value, i, &item) != napi_ok || !get_string(env, item, what, false, &(*out)[i])) return false;
    *count = i + 1;
  }
  return true;
nomem:
  napi_throw_error(env, "ENOMEM", "out of memory");
  return false;
}

static void free_strings(char **strings, size_t count) {
  for (size_t i = 0; i < count; i++) free(strings[i]);
  free(strings);
}

static napi_value undefined_value(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* ---- mount(source, target, fstype, flags, data) ----------------------------------- */

static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  char *source = NULL, *target = NULL, *fstype = NULL, *data = NULL;
  uint64_t flags = 0;
  napi_value result = NULL;
  if (!get_args(env, info, 5, argv)) goto fail;
  if (!get_string(env, argv[0], "source", true, &source)) goto fail;
  if (!get_string(env, argv[1], "target", false, &target)) goto fail;
  if (!get_string(env, argv[2], "fstype", true, &fstype)) goto fail;
  if (!get_uint(env, argv[3], "flags", &flags)) goto fail;
  if (!get_string(env, argv[4], "data", true, &data)) goto fail;
  if (mount(source, target, fstype, (unsigned long)flags, data) != 0) {
    throw_errno(env, errno, "mount", target);
    goto fail;
  }
  result = undefined_value(env);
fail:
  free(source);
  free(target);
  free(fstype);
  free(data);
  return result;
}

/* ---- umount2(target, flags) -------------------------------------------------------- */

static napi_value js_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char *target = NULL;
  uint64_t flags = 0;
  napi_value result = NULL;
  if (!get_args(env, info, 2, argv)) goto fail;
  if (!get_string(env, argv[0], "target", false, &target)) goto fail;
  if (!get_uint(env, argv[1], "flags", &flags)) goto fail;
  if (umount2(target, (int)flags) != 0) {
    throw_errno(env, errno, "umount2", target);
    goto fail;
  }
  result = undefined_value(env);
fail:
  free(target);
  return result;
}

/* ---- mknod(path, mode, major, minor) ------------------------------------------------ */

static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char *path = NULL;
  uint64_t mode = 0, major_number = 0, minor_number = 0;
  napi_value result = NULL;
  if (!get_args(env, info, 4, argv)) goto fail;
  if (!get_string(env, argv[0], "path", false, &path)) goto fail;
  if (!get_uint(env, argv[1], "mode", &mode)) goto fail;
  if (!get_uint(env, argv[2], "major", &major_number)) goto fail;
  if (!get_uint(env, argv[3], "minor", &minor_number)) goto fail;
  if (mode > 0xFFFFFFFFu || major_number > 0xFFFFFFFFu || minor_number > 0xFFFFFFFFu) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "mode, major and minor must fit in 32 bits");
    goto fail;
  }
  if (mknod(path, (mode_t)mode, makedev((unsigned int)major_number, (unsigned int)minor_number)) != 0) {
    throw_errno(env, errno, "mknod", path);
    goto fail;
  }
  result = undefined_value(env);
fail:
  free(path);
  return result;
}

/* ---- lgetxattr(path, name) → Buffer | null ----------------------------------------- */

static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char *path = NULL, *name = NULL, *buffer = NULL;
  napi_value result = NULL;
  if (!get_args(env, info, 2, argv)) goto fail;
  if (!get_string(env, argv[0], "path", false, &path)) goto fail;
  if (!get_string(env, argv[1], "name", false, &name)) goto fail;
  /* The value may change between the size query and the read: retry on ERANGE. */
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) {
      if (errno == ENODATA) {
        napi_get_null(env, &result);
        goto fail;
      }
      throw_errno(env, errno, "lgetxattr", path);
      goto fail;
    }
    buffer = malloc(size > 0 ? (size_t)size : 1);
    if (buffer == NULL) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      goto fail;
    }
    ssize_t got = size > 0 ? lgetxattr(path, name, buffer, (size_t)size) : 0;
    if (got < 0) {
      int err = errno;
      free(buffer);
      buffer = NULL;
      if (err == ERANGE) continue;
      if (err == ENODATA) {
        napi_get_null(env, &result);
        goto fail;
      }
      throw_errno(env, err, "lgetxattr", path);
      goto fail;
    }
    void *data = NULL;
    CHECK_NAPI(env, napi_create_buffer_copy(env, (size_t)got, buffer, &data, &result));
    goto fail;
  }
  throw_errno(env, ERANGE, "lgetxattr", path);
fail:
  free(path);
  free(name);
  free(buffer);
  return result;
}

/* ---- lsetxattr(path, name, value, flags) ------------------------------------------- */

static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char *path = NULL, *name = NULL, *string_value = NULL;
  uint64_t flags = 0;
  napi_value result = NULL;
  const void *data = NULL;
  size_t length = 0;
  if (!get_args(env, info, 4, argv)) goto fail;
  if (!get_string(env, argv[0], "path", false, &path)) goto fail;
  if (!get_string(env, argv[1], "name", false, &name)) goto fail;
  bool is_buffer = false;
  CHECK_NAPI(env, napi_is_buffer(env, argv[2], &is_buffer));
  if (is_buffer) {
    void *raw = NULL;
    CHECK_NAPI(env, napi_get_buffer_info(env, argv[2], &raw, &length));
    data = raw;
  } else {
    bool is_typed = false;
    CHECK_NAPI(env, napi_is_typedarray(env, argv[2], &is_typed));
    if (is_typed) {
      napi_typedarray_type type;
      void *raw = NULL;
      napi_value array_buffer;
      size_t offset = 0;
      CHECK_NAPI(env, napi_get_typedarray_info(env, argv[2], &type, &length, &raw, &array_buffer, &offset));
      if (type != napi_uint8_array) {
        throw_type(env, "value must be a Uint8Array, a Buffer or a string");
        goto fail;
      }
      data = raw;
    } else {
      if (!get_string(env, argv[2], "value", false, &string_value)) goto fail;
      data = string_value;
      length = strlen(string_value);
    }
  }
  if (!get_uint(env, argv[3], "flags", &flags)) goto fail;
  if (lsetxattr(path, name, data, length, (int)flags) != 0) {
    throw_errno(env, errno, "lsetxattr", path);
    goto fail;
  }
  result = undefined_value(env);
fail:
  free(path);
  free(name);
  free(string_value);
  return result;
}

/* ---- lremovexattr(path, name) ------------------------------------------------------- */

static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char *path = NULL, *name = NULL;
  napi_value result = NULL;
  if (!get_args(env, info, 2, argv)) goto fail;
  if (!get_string(env, argv[0], "path", false, &path)) goto fail;
  if (!get_string(env, argv[1], "name", false, &name)) goto fail;
  if (lremovexattr(path, name) != 0) {
    throw_errno(env, errno, "lremovexattr", path);
    goto fail;
  }
  result = undefined_value(env);
fail:
  free(path);
  free(name);
  return result;
}

/* ---- llistxattr(path) → string[] ---------------------------------------------------- */

/* The NUL-separated xattr names of `path` (not following a final symlink) into a fresh
 * *buffer (NULL when there are none) of *got bytes: 0 or an errno. */
static int list_xattrs(const char *path, char **buffer, ssize_t *got) {
  *buffer = NULL;
  *got = 0;
  for (int attempt = 0; attempt < 8; attempt++) {
    ssize_t size = llistxattr(path, NULL, 0);
    if (size < 0) return errno;
    if (size == 0) return 0;
    *buffer = malloc((size_t)size);
    if (*buffer == NULL) return ENOMEM;
    *got = llistxattr(path, *buffer, (size_t)size);
    if (*got >= 0) return 0;
    int err = errno;
    free(*buffer);
    *buffer = NULL;
    *got = 0;
    if (err != ERANGE) return err;
  }
  return ERANGE;
}

/* The names in a list_xattrs buffer as a JS array. */
static bool xattr_names(napi_env env, const char *buffer, ssize_t got, napi_value *result) {
  CHECK_NAPI(env, napi_create_array(env, result));
  uint32_t index = 0;
  for (ssize_t start = 0; start < got;) {
    size_t len = strnlen(buffer + start, (size_t)(got - start));
    if (len > 0) {
      napi_value name;
      CHECK_NAPI(env, napi_create_string_utf8(env, buffer + start, len, &name));
      CHECK_NAPI(env, napi_set_element(env, *result, index++, name));
    }
    start += (ssize_t)len + 1;
  }
  return true;
fail:
  return false;
}

static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char *path = NULL, *buffer = NULL;
  napi_value result = NULL;
  ssize_t got = 0;
  if (!get_args(env, info, 1, argv) || !get_string(env, argv[0], "path", false, &path)) goto fail;
  int err = list_xattrs(path, &buffer, &got);
  if (err != 0) {
    throw_errno(env, err, "llistxattr", path);
    goto fail;
  }
  if (!xattr_names(env, buffer, got, &result)) result = NULL;
fail:
  free(path);
  free(buffer);
  return result;
}

/* ---- module ------------------------------------------------------------------------- */

static bool set_constant(napi_env env, napi_value obj, const char *name, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) != napi_ok) return false;
  return napi_set_named_property(env, obj, name, v) == napi_ok;
}

/* ---- alignedBuffer(size, alignment) → Buffer ---------------------------------------
 *
 * A Buffer whose memory starts on an `alignment` boundary (posix_memalign), freed with it:
 * O_DIRECT writes need the address, length and file offset aligned to the device's block.
 */

static void free_aligned(napi_env env, void *data, void *hint) { free(data); }

static napi_value js_aligned_buffer(napi_env env, napi_callback_info info) {
  napi_value argv[2], result = NULL;
  uint64_t size = 0, alignment = 0;
  void *memory = NULL;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (!get_uint(env, argv[0], "size", &size) || !get_uint(env, argv[1], "alignment", &alignment)) return NULL;
  if (size == 0 || alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) {
    throw_type(env, "size must be positive and alignment a power of two");
    return NULL;
  }
  int err = posix_memalign(&memory, (size_t)alignment, (size_t)size);
  if (err != 0) {
    throw_errno(env, err, "posix_memalign", NULL);
    return NULL;
  }
  if (napi_create_external_buffer(env, (size_t)size, memory, free_aligned, NULL, &result) != napi_ok) {
    free(memory);
    napi_throw_error(env, "EINTERNAL", "cannot create an external buffer");
    return NULL;
  }
  return result;
}

/* ---- setDirect(fd, on) ---------------------------------------------------------------
 *
 * Turns O_DIRECT on or off for an open descriptor (fcntl F_SETFL). A filesystem without
 * direct I/O refuses with EINVAL.
 */

static napi_value js_set_direct(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  bool on;
  if (!get_args(env, info, 2, argv)) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    throw_type(env, "setDirect(fd, on): a descriptor and a boolean");
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) != 0) {
    throw_errno(env, errno, "fcntl", NULL);
    return NULL;
  }
  return undefined_value(env);
}

/* ---- SHA-256 with a state JS holds, updated here or on the thread pool -------------------
 *
 * Node hashes on the main thread only; a layer's 100 MB of hashing (~75 ms) then stands in
 * line with reading and writing it. These run OpenSSL's SHA-256, the one inside the Node
 * binary (looked up at run time: a Node without those symbols just lacks these functions),
 * on a state kept in a JS Buffer (a plain SHA256_CTX), so an update can run on a libuv
 * worker while the main thread goes on. The caller keeps one update in flight per state.
 */

typedef struct {
  unsigned int h[8];
  unsigned int Nl, Nh;
  unsigned int data[16];
  unsigned int num, md_len;
} sha256_ctx; /* OpenSSL's SHA256_CTX (1.1 and 3.x) */

static int (*sha256_init_fn)(sha256_ctx *);
static int (*sha256_update_fn)(sha256_ctx *, const void *, size_t);
static int (*sha256_final_fn)(unsigned char *, sha256_ctx *);

static bool sha256_resolve(void) {
  sha256_init_fn = (int (*)(sha256_ctx *))dlsym(RTLD_DEFAULT, "SHA256_Init");
  sha256_update_fn = (int (*)(sha256_ctx *, const void *, size_t))dlsym(RTLD_DEFAULT, "SHA256_Update");
  sha256_final_fn = (int (*)(unsigned char *, sha256_ctx *))dlsym(RTLD_DEFAULT, "SHA256_Final");
  return sha256_init_fn != NULL && sha256_update_fn != NULL && sha256_final_fn != NULL;
}

static bool get_state(napi_env env, napi_value value, sha256_ctx **out) {
  void *data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, value, &data, &length) != napi_ok || length != sizeof(sha256_ctx)) {
    throw_type(env, "a SHA-256 state from sha256Init()");
    return false;
  }
  *out = (sha256_ctx *)data;
  return true;
}

/* A typed array of `want`: its data and element count; else a TypeError saying `message`. */
static bool get_typed(napi_env env, napi_value value, napi_typedarray_type want, const char *message, void **data,
                      size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok || type != want) {
    throw_type(env, message);
    return false;
  }
  return true;
}

static bool get_bytes(napi_env env, napi_value value, void **data, size_t *length) {
  return get_typed(env, value, napi_uint8_array, "data must be a Uint8Array", data, length);
}

static napi_value js_sha256_init(napi_env env, napi_callback_info info) {
  napi_value result;
  void *data;
  if (napi_create_buffer(env, sizeof(sha256_ctx), &data, &result) != napi_ok) return NULL;
  sha256_init_fn((sha256_ctx *)data);
  return result;
}

static napi_value js_sha256_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sha256_ctx *ctx;
  void *data;
  size_t length;
  if (!get_args(env, info, 2, argv) || !get_state(env, argv[0], &ctx) || !get_bytes(env, argv[1], &data, &length))
    return NULL;
  sha256_update_fn(ctx, data, length);
  return undefined_value(env);
}

static napi_value js_sha256_final(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  sha256_ctx *ctx;
  void *out;
  if (!get_args(env, info, 1, argv) || !get_state(env, argv[0], &ctx)) return NULL;
  if (napi_create_buffer(env, 32, &out, &result) != napi_ok) return NULL;
  sha256_final_fn((unsigned char *)out, ctx);
  return result;
}

/* sha256(data): the digest of one buffer, in one call (no state Buffer for a small input). */
static napi_value js_sha256(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  sha256_ctx ctx;
  void *data, *out;
  size_t length;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], &data, &length)) return NULL;
  if (napi_create_buffer(env, 32, &out, &result) != napi_ok) return NULL;
  sha256_init_fn(&ctx);
  sha256_update_fn(&ctx, data, length);
  sha256_final_fn((unsigned char *)out, &ctx);
  return result;
}

/* randomFill(buffer): getrandom(2) into it. What node:crypto's randomBytes gives, without
 * loading node:crypto (~3 ms at a command's start) for a temp file's name. */
static napi_value js_random_fill(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *data;
  size_t length;
  if (!get_args(env, info, 1, argv) || !get_bytes(env, argv[0], &data, &length)) return NULL;
  for (size_t done = 0; done < length;) {
    ssize_t n = getrandom((char *)data + done, length - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw_errno(env, errno, "getrandom", NULL);
      return NULL;
    }
    done += (size_t)n;
  }
  return undefined_value(env);
}

/* Queues `job` on the libuv pool as async work named `name` (for async_hooks), with `callback`
 * (which must be a function) kept in *callback_ref for its completion; throws on failure. */
static bool start_job(napi_env env, napi_value callback, const char *name, napi_async_execute_callback execute,
                      napi_async_complete_callback complete, void *job, napi_async_work *work, napi_ref *callback_ref) {
  napi_valuetype type;
  napi_value resource_name;
  if (napi_typeof(env, callback, &type) != napi_ok || type != napi_function) {
    throw_type(env, "callback must be a function");
    return false;
  }
  CHECK_NAPI(env, napi_create_reference(env, callback, 1, callback_ref));
  CHECK_NAPI(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name));
  CHECK_NAPI(env, napi_create_async_work(env, NULL, resource_name, execute, complete, job, work));
  CHECK_NAPI(env, napi_queue_async_work(env, *work));
  return true;
fail:
  return false;
}

/*
 * Calls a finished job's callback with one argument: an Error saying `canceled` when the pool
 * never ran the job, else `error`, else null.
 */
static void call_back(napi_env env, napi_status status, napi_ref callback_ref, napi_value error, const char *canceled) {
  napi_value callback, global, arg;
  if (status != napi_ok) {
    napi_value message;
    napi_create_string_utf8(env, canceled, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &arg);
  } else if (error != NULL) {
    arg = error;
  } else {
    napi_get_null(env, &arg);
  }
  if (napi_get_reference_value(env, callback_ref, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok)
    napi_call_function(env, global, callback, 1, &arg, NULL);
}

struct sha256_piece {
  const void *data;
  size_t length;
};

struct sha256_job {
  napi_async_work work;
  napi_ref state_ref, data_ref, callback_ref;
  sha256_ctx *ctx;
  struct sha256_piece *pieces;
  size_t count;
};

static void sha256_job_execute(napi_env env, void *hint) {
  struct sha256_job *job = hint;
  for (size_t i = 0; i < job->count; i++) sha256_update_fn(job->ctx, job->pieces[i].data, job->pieces[i].length);
}

static void sha256_job_complete(napi_env env, napi_status status, void *hint) {
  struct sha256_job *job = hint;
  call_back(env, status, job->callback_ref, NULL, "SHA-256 update was canceled");
  napi_delete_reference(env, job->state_ref);
  napi_delete_reference(env, job->data_ref);
  napi_delete_reference(env, job->callback_ref);
  napi_delete_async_work(env, job->work);
  free(job->pieces);
  free(job);
}

/* `value`, a Uint8Array or an array of them, as pieces to hash in order. */
static bool get_pieces(napi_env env, napi_value value, struct sha256_piece **out, size_t *count) {
  bool is_array = false;
  uint32_t n = 1;
  if (napi_is_array(env, value, &is_array) != napi_ok) return false;
  if (is_array && napi_get_array_length(env, value, &n) != napi_ok) return false;
  *out = calloc(n ? n : 1, sizeof(**out));
  if (*out == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  *count = n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item = value;
    void *data;
    if (is_array && napi_get_element(env, value, i, &item) != napi_ok) return false;
    if (!get_bytes(env, item, &data, &(*out)[i].length)) return false;
    (*out)[i].data = data;
  }
  return true;
}

/* sha256UpdateAsync(state, data, callback): `data` is a Uint8Array or an array of them (hashed in
 * order, in one trip to the pool); the bytes must stay unchanged until the callback. */
static napi_value js_sha256_update_async(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct sha256_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (!get_args(env, info, 3, argv) || !get_state(env, argv[0], &job->ctx) ||
      !get_pieces(env, argv[1], &job->pieces, &job->count))
    goto fail;
  CHECK_NAPI(env, napi_create_reference(env, argv[0], 1, &job->state_ref));
  CHECK_NAPI(env, napi_create_reference(env, argv[1], 1, &job->data_ref));
  if (!start_job(env, argv[2], "strata:sha256", sha256_job_execute, sha256_job_complete, job, &job->work, &job->callback_ref)) goto fail;
  return undefined_value(env);
fail:
  if (job->state_ref) napi_delete_reference(env, job->state_ref);
  if (job->data_ref) napi_delete_reference(env, job->data_ref);
  if (job->callback_ref) napi_delete_reference(env, job->callback_ref);
  if (job->work) napi_delete_async_work(env, job->work);
  free(job->pieces);
  free(job);
  return NULL;
}

/*
 * Reads the file at `path` into dst[0, size), then probes one byte past it: *done is the bytes
 * read, size + 1 when the file has more (it grew since its stat). 0 or an errno (*syscall says
 * which call failed).
 */
static int read_whole(const char *path, char *dst, size_t size, size_t *done, const char **syscall) {
  *done = 0;
  *syscall = "open";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  *syscall = "read";
  int err = 0;
  while (*done < size) {
    ssize_t n = read(fd, dst + *done, size - *done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    *done += (size_t)n;
  }
  if (err == 0 && *done == size) {
    char probe;
    ssize_t n;
    do n = read(fd, &probe, 1);
    while (n < 0 && errno == EINTR);
    if (n < 0) err = errno;
    else if (n > 0) (*done)++;
  }
  close(fd);
  return err;
}

/* ---- lstatDir(dir, xattrs) -----------------------------------------------------------------
 *
 * A directory's entries in one call: { names (byte order), stats: Float64Array of LSTAT_FIELDS
 * per entry (mode, uid, gid, size, mtimeMs, dev, ino, nlink, rdev), xattrs: per entry an array
 * of xattr names or null (listed for directories, and for everything when `xattrs`) }. An
 * overlay upper dir's change set walks this way: 5,000 files took ~45 ms as lstat + llistxattr
 * from JS (two calls and a Stats object each).
 */
#define LSTAT_FIELDS 9

static napi_value js_lstat_dir(napi_env env, napi_callback_info info) {
  napi_value argv[2], result = NULL, names, stats_buffer, stats, xattrs;
  char *dir = NULL, **entries = NULL, *path = NULL, *buffer = NULL;
  size_t count = 0, capacity = 0;
  bool with_xattrs = false;
  DIR *d = NULL;
  double *fields;
  if (!get_args(env, info, 2, argv) || !get_string(env, argv[0], "dir", false, &dir) ||
      napi_get_value_bool(env, argv[1], &with_xattrs) != napi_ok)
    goto fail;
  d = opendir(dir);
  if (d == NULL) {
    throw_errno(env, errno, "opendir", dir);
    goto fail;
  }
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (e == NULL) {
      if (errno != 0) {
        throw_errno(env, errno, "readdir", dir);
        goto fail;
      }
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (count == capacity) {
      capacity = capacity ? capacity * 2 : 64;
      char **grown = realloc(entries, capacity * sizeof(*entries));
      if (grown == NULL) goto nomem;
      entries = grown;
    }
    if ((entries[count] = strdup(e->d_name)) == NULL) goto nomem;
    count++;
  }
  qsort(entries, count, sizeof(*entries), compare_strings);
  size_t dir_len = strlen(dir), longest = 0;
  for (size_t i = 0; i < count; i++) longest = strlen(entries[i]) > longest ? strlen(entries[i]) : longest;
  if ((path = malloc(dir_len + longest + 2)) == NULL) goto nomem;
  memcpy(path, dir, dir_len);
  path[dir_len] = '/';
  CHECK_NAPI(env, napi_create_object(env, &result));
  CHECK_NAPI(env, napi_create_array_with_length(env, count, &names));
  CHECK_NAPI(env, napi_create_array_with_length(env, count, &xattrs));
  CHECK_NAPI(env, napi_create_arraybuffer(env, count * LSTAT_FIELDS * sizeof(double) + 1, (void **)&fields, &stats_buffer));
  CHECK_NAPI(env, napi_create_typedarray(env, napi_float64_array, count * LSTAT_FIELDS, stats_buffer, 0, &stats));
  for (size_t i = 0; i < count; i++) {
    struct stat st;
    strcpy(path + dir_len + 1, entries[i]);
    if (fstatat(dirfd(d), entries[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
      throw_errno(env, errno, "lstat", path);
      goto fail;
    }
    double *f = fields + i * LSTAT_FIELDS;
    f[0] = (double)st.st_mode;
    f[1] = (double)st.st_uid;
    f[2] = (double)st.st_gid;
    f[3] = (double)st.st_size;
    /* As Node computes Stats.mtimeMs. */
    f[4] = (double)st.st_mtim.tv_sec * 1e3 + (double)st.st_mtim.tv_nsec / 1e6;
    f[5] = (double)st.st_dev;
    f[6] = (double)st.st_ino;
    f[7] = (double)st.st_nlink;
    f[8] = (double)st.st_rdev;
    napi_value name, list;
    CHECK_NAPI(env, napi_create_string_utf8(env, entries[i], NAPI_AUTO_LENGTH, &name));
    CHECK_NAPI(env, napi_set_element(env, names, (uint32_t)i, name));
    CHECK_NAPI(env, napi_get_null(env, &list));
    if (with_xattrs || S_ISDIR(st.st_mode)) {
      ssize_t got = 0;
      int err = list_xattrs(path, &buffer, &got);
      if (err != 0) {
        throw_errno(env, err, "llistxattr", path);
        goto fail;
      }
      if (got > 0 && !xattr_names(env, buffer, got, &list)) goto fail;
      free(buffer);
      buffer = NULL;
    }
    CHECK_NAPI(env, napi_set_element(env, xattrs, (uint32_t)i, list));
  }
  CHECK_NAPI(env, napi_set_named_property(env, result, "names", names));
  CHECK_NAPI(env, napi_set_named_property(env, result, "stats", stats));
  CHECK_NAPI(env, napi_set_named_property(env, result, "xattrs", xattrs));
  goto done;
nomem:
  napi_throw_error(env, "ENOMEM", "out of memory");
fail:
  result = NULL;
done:
  if (d != NULL) closedir(d);
  for (size_t i = 0; i < count; i++) free(entries[i]);
  free(entries);
  free(path);
  free(buffer);
  free(dir);
  return result;
}

/* ---- readFilesInto(paths, buffer, ranges, counts, callback(err)) --------------------------
 *
 * Whole small files read into one buffer, on a libuv worker: file i goes to
 * buffer[ranges[2i], ranges[2i] + ranges[2i+1]), and counts[i] is the bytes read, size + 1 when
 * the file has more (it grew since its stat).
 * The tar writer hands over a whole output block's small bodies (bigctx: ~50 per MiB), then
 * encodes the next block's headers while they are read. Stops at the first error, which the
 * callback gets (code, syscall, path). The buffer must not be touched until the callback.
 */
struct read_files_job {
  napi_async_work work;
  napi_ref buffer_ref, counts_ref, callback_ref;
  char **paths;
  size_t count;
  char *data;
  double *ranges; /* a copy: offset, size pairs */
  double *counts;
  int err;
  const char *syscall;
  size_t failed;
};

static void read_files_execute(napi_env env, void *hint) {
  struct read_files_job *job = hint;
  for (size_t i = 0; i < job->count; i++) {
    size_t done = 0;
    int err = read_whole(job->paths[i], job->data + (size_t)job->ranges[2 * i], (size_t)job->ranges[2 * i + 1], &done, &job->syscall);
    job->counts[i] = (double)done;
    if (err != 0) {
      job->err = err;
      job->failed = i;
      return;
    }
  }
}

static void read_files_free(napi_env env, struct read_files_job *job) {
  if (job->buffer_ref) napi_delete_reference(env, job->buffer_ref);
  if (job->counts_ref) napi_delete_reference(env, job->counts_ref);
  if (job->callback_ref) napi_delete_reference(env, job->callback_ref);
  if (job->work) napi_delete_async_work(env, job->work);
  free_strings(job->paths, job->count);
  free(job->ranges);
  free(job);
}

static void read_files_complete(napi_env env, napi_status status, void *hint) {
  struct read_files_job *job = hint;
  napi_value error = NULL;
  if (status == napi_ok && job->err != 0) {
    /* An fs-like error object: thrown, then taken back before it propagates. */
    throw_errno(env, job->err, job->syscall, job->paths[job->failed]);
    napi_get_and_clear_last_exception(env, &error);
  }
  call_back(env, status, job->callback_ref, error, "reading files was canceled");
  read_files_free(env, job);
}

static bool get_float64s(napi_env env, napi_value value, const char *what, double **data, size_t *length) {
  char message[96];
  snprintf(message, sizeof(message), "%s must be a Float64Array", what);
  return get_typed(env, value, napi_float64_array, message, (void **)data, length);
}

static napi_value js_read_files_into(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  double *ranges, *counts;
  size_t n_ranges, n_counts, length;
  void *data;
  struct read_files_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (!get_args(env, info, 5, argv) || !get_strings(env, argv[0], "paths", &job->paths, &job->count) ||
      !get_bytes(env, argv[1], &data, &length) || !get_float64s(env, argv[2], "ranges", &ranges, &n_ranges) ||
      !get_float64s(env, argv[3], "counts", &counts, &n_counts))
    goto fail;
  if (n_ranges != 2 * job->count || n_counts < job->count) {
    throw_type(env, "readFilesInto: ranges needs an offset and a size per path, counts a slot per path");
    goto fail;
  }
  for (size_t i = 0; i < job->count; i++) {
    double offset = ranges[2 * i], size = ranges[2 * i + 1];
    if (!(offset >= 0) || !(size >= 0) || offset + size > (double)length || offset != (double)(size_t)offset ||
        size != (double)(size_t)size) {
      throw_type(env, "readFilesInto: every range must lie in the buffer");
      goto fail;
    }
  }
  job->ranges = malloc(n_ranges * sizeof(double) + 1);
  if (job->ranges == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    goto fail;
  }
  memcpy(job->ranges, ranges, n_ranges * sizeof(double));
  job->data = data;
  job->counts = counts;
  CHECK_NAPI(env, napi_create_reference(env, argv[1], 1, &job->buffer_ref));
  CHECK_NAPI(env, napi_create_reference(env, argv[3], 1, &job->counts_ref));
  if (!start_job(env, argv[4], "strata:readFilesInto", read_files_execute, read_files_complete, job, &job->work, &job->callback_ref)) goto fail;
  return undefined_value(env);
fail:
  read_files_free(env, job);
  return NULL;
}

/* ---- linkFiles(from, to, errnos, callback()) -----------------------------------------------
 *
 * link(from[i], to[i]) for every i on a libuv worker; errnos[i] is 0 or the call's errno. COPY
 * links thousands of pooled files into a snapshot (bigctx: 5,000, ~50-80 ms of syscalls here),
 * which then overlaps its own work on the next files instead of adding to it.
 */
struct link_files_job {
  napi_async_work work;
  napi_ref errnos_ref, callback_ref;
  char **from, **to;
  size_t n_from, n_to;
  int32_t *errnos;
};

static void link_files_execute(napi_env env, void *hint) {
  struct link_files_job *job = hint;
  for (size_t i = 0; i < job->n_from; i++) job->errnos[i] = link(job->from[i], job->to[i]) == 0 ? 0 : errno;
}

static void link_files_free(napi_env env, struct link_files_job *job) {
  if (job->errnos_ref) napi_delete_reference(env, job->errnos_ref);
  if (job->callback_ref) napi_delete_reference(env, job->callback_ref);
  if (job->work) napi_delete_async_work(env, job->work);
  free_strings(job->from, job->n_from);
  free_strings(job->to, job->n_to);
  free(job);
}

static void link_files_complete(napi_env env, napi_status status, void *hint) {
  struct link_files_job *job = hint;
  call_back(env, status, job->callback_ref, NULL, "linking files was canceled");
  link_files_free(env, job);
}

static napi_value js_link_files(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t n_errnos = 0;
  const char *usage = "linkFiles(from, to, errnos, callback): as many targets as sources, an Int32Array slot for each";
  struct link_files_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (!get_args(env, info, 4, argv) || !get_strings(env, argv[0], "from", &job->from, &job->n_from) ||
      !get_strings(env, argv[1], "to", &job->to, &job->n_to))
    goto fail;
  if (!get_typed(env, argv[2], napi_int32_array, usage, (void **)&job->errnos, &n_errnos)) goto fail;
  if (job->n_from != job->n_to || n_errnos < job->n_from) {
    throw_type(env, usage);
    goto fail;
  }
  CHECK_NAPI(env, napi_create_reference(env, argv[2], 1, &job->errnos_ref));
  if (!start_job(env, argv[3], "strata:linkFiles", link_files_execute, link_files_complete, job, &job->work, &job->callback_ref)) goto fail;
  return undefined_value(env);
fail:
  link_files_free(env, job);
  return NULL;
}

/* ---- writeTar(fd, headers, headerLengths, sources, sizes, callback(err, result)) ------------
 *
 * A layer tar written into `fd` by tar_writer.c on a libuv worker (and two threads of its own):
 * entry i is headerLengths[i] bytes of `headers` (encoded by archive/tar-writer.ts), then, when
 * sizes[i] > 0, that many bytes read from sources[i] and zeros to the next 512. `result` is
 * { digest: SHA-256 hex, size } or, when a file did not have its size, { changed: i, got }.
 */
struct tar_job {
  napi_async_work work;
  napi_ref headers_ref, callback_ref;
  int fd;
  struct tar_plan plan;
  size_t *header_len;
  uint64_t *sizes;
  char **sources;
  size_t n_sources;
  struct tar_result result;
  unsigned char digest[32];
  int failed;
};

static int tar_hash_update(void *ctx, const void *data, size_t length) {
  return sha256_update_fn((sha256_ctx *)ctx, data, length);
}

static void tar_job_execute(napi_env env, void *hint) {
  struct tar_job *job = hint;
  sha256_ctx ctx;
  sha256_init_fn(&ctx);
  struct tar_hash hash = {.ctx = &ctx, .update = tar_hash_update};
  job->failed = tar_write(&job->plan, job->fd, &hash, &job->result) != 0;
  sha256_final_fn(job->digest, &ctx);
}

static void tar_job_free(napi_env env, struct tar_job *job) {
  if (job->headers_ref) napi_delete_reference(env, job->headers_ref);
  if (job->callback_ref) napi_delete_reference(env, job->callback_ref);
  if (job->work) napi_delete_async_work(env, job->work);
  free_strings(job->sources, job->n_sources);
  free(job->header_len);
  free(job->sizes);
  free(job);
}

static void tar_job_complete(napi_env env, napi_status status, void *hint) {
  struct tar_job *job = hint;
  napi_value callback, global, args[2];
  napi_get_null(env, &args[0]);
  napi_get_undefined(env, &args[1]);
  if (status != napi_ok) {
    napi_value message;
    napi_create_string_utf8(env, "writing the tar was canceled", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &args[0]);
  } else if (job->failed && job->result.err != 0) {
    long e = job->result.entry;
    throw_errno(env, job->result.err, job->result.syscall, e >= 0 ? job->sources[e] : NULL);
    napi_get_and_clear_last_exception(env, &args[0]);
  } else {
    napi_value a, b;
    napi_create_object(env, &args[1]);
    if (job->failed) {
      napi_create_double(env, (double)job->result.entry, &a);
      napi_create_double(env, (double)job->result.got, &b);
      napi_set_named_property(env, args[1], "changed", a);
      napi_set_named_property(env, args[1], "got", b);
    } else {
      char hex[65];
      sha256_hex(job->digest, hex);
      napi_create_string_latin1(env, hex, 64, &a);
      napi_create_double(env, (double)job->result.size, &b);
      napi_set_named_property(env, args[1], "digest", a);
      napi_set_named_property(env, args[1], "size", b);
    }
  }
  if (napi_get_reference_value(env, job->callback_ref, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok)
    napi_call_function(env, global, callback, 2, args, NULL);
  tar_job_free(env, job);
}

static napi_value js_write_tar(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t fd;
  void *headers;
  size_t headers_length, n_lengths, n_sizes;
  double *lengths, *sizes;
  struct tar_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (!get_args(env, info, 6, argv) || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      !get_bytes(env, argv[1], &headers, &headers_length) ||
      !get_float64s(env, argv[2], "headerLengths", &lengths, &n_lengths) ||
      !get_strings(env, argv[3], "sources", &job->sources, &job->n_sources) ||
      !get_float64s(env, argv[4], "sizes", &sizes, &n_sizes))
    goto fail;
  if (n_lengths != n_sizes || (n_lengths > 0 && job->n_sources != n_lengths)) {
    throw_type(env, "writeTar: a header length, a source and a size per entry");
    goto fail;
  }
  job->header_len = calloc(n_lengths + 1, sizeof(*job->header_len));
  job->sizes = calloc(n_sizes + 1, sizeof(*job->sizes));
  if (job->header_len == NULL || job->sizes == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    goto fail;
  }
  size_t total = 0;
  for (size_t i = 0; i < n_lengths; i++) {
    if (!(lengths[i] >= 0) || lengths[i] != (double)(size_t)lengths[i] || (size_t)lengths[i] % 512 != 0 ||
        !(sizes[i] >= 0) || sizes[i] != (double)(uint64_t)sizes[i]) {
      throw_type(env, "writeTar: header lengths are multiples of 512, sizes whole numbers");
      goto fail;
    }
    job->header_len[i] = (size_t)lengths[i];
    job->sizes[i] = (uint64_t)sizes[i];
    total += job->header_len[i];
  }
  if (total != headers_length) {
    throw_type(env, "writeTar: the header lengths must add up to the headers' bytes");
    goto fail;
  }
  job->fd = fd;
  job->plan = (struct tar_plan){
      .count = n_lengths, .headers = headers, .header_len = job->header_len, .sources = job->sources, .sizes = job->sizes};
  CHECK_NAPI(env, napi_create_reference(env, argv[1], 1, &job->headers_ref));
  if (!start_job(env, argv[5], "strata:writeTar", tar_job_execute, tar_job_complete, job, &job->work, &job->callback_ref)) goto fail;
  return undefined_value(env);
fail:
  tar_job_free(env, job);
  return NULL;
}

/* ---- prefetchFiles(paths, callback) -------------------------------------------------------
 *
 * Asks the kernel to read files into the page cache (POSIX_FADV_WILLNEED: the reads are queued,
 * not waited for), on a libuv worker. The tar writer then reads a layer's thousands of small
 * files from memory even where the page cache was trimmed since they were written (these
 * machines page out what was not touched for a few seconds), instead of one disk read at a time.
 * Best effort: a path that cannot be opened is skipped. */
struct prefetch_job {
  napi_async_work work;
  napi_ref callback_ref;
  char **paths;
  size_t count;
};

static void prefetch_job_execute(napi_env env, void *hint) {
  struct prefetch_job *job = hint;
  for (size_t i = 0; i < job->count; i++) {
    int fd = open(job->paths[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    close(fd);
  }
}

static void prefetch_job_free(napi_env env, struct prefetch_job *job) {
  if (job->callback_ref) napi_delete_reference(env, job->callback_ref);
  if (job->work) napi_delete_async_work(env, job->work);
  free_strings(job->paths, job->count);
  free(job);
}

static void prefetch_job_complete(napi_env env, napi_status status, void *hint) {
  struct prefetch_job *job = hint;
  napi_value callback, global;
  if (napi_get_reference_value(env, job->callback_ref, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok)
    napi_call_function(env, global, callback, 0, NULL, NULL);
  prefetch_job_free(env, job);
}

static napi_value js_prefetch_files(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct prefetch_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (!get_args(env, info, 2, argv) || !get_strings(env, argv[0], "paths", &job->paths, &job->count)) goto fail;
  if (!start_job(env, argv[1], "strata:prefetchFiles", prefetch_job_execute, prefetch_job_complete, job, &job->work, &job->callback_ref)) goto fail;
  return undefined_value(env);
fail:
  prefetch_job_free(env, job);
  return NULL;
}

/* ---- treeFingerprintAsync(path, maxEntries, pruned, hot, whole, callback(err, fingerprint)) -
 *
 * A tree's fingerprint (tree_fingerprint.h) as { digest: hex, entries: number, newestNs: bigint },
 * and with `hot` files (an array, may be undefined) `masked`: hex, the digest that leaves their
 * content out (struct tree_hot; `whole`: files listed too but counted whole),
 * walked on a libuv worker so a build takes its context's while it does other work. The `strata`
 * front program computes the same function to decide whether a build can be skipped. */
struct fingerprint_job {
  napi_async_work work;
  napi_ref callback_ref;
  char *path;
  char **pruned;
  size_t n_pruned;
  char **hot; /* the hot files, then the whole ones */
  size_t n_hot;
  struct stat *hot_stats;
  bool *hot_found;
  bool *hot_whole;
  struct tree_hot masked;
  uint64_t max_entries;
  struct tree_fingerprint fp;
  int err;
};

static void fingerprint_job_free(struct fingerprint_job *job) {
  free(job->path);
  free_strings(job->pruned, job->n_pruned);
  free_strings(job->hot, job->n_hot);
  free(job->hot_stats);
  free(job->hot_found);
  free(job->hot_whole);
  free(job);
}

static void fingerprint_job_execute(napi_env env, void *hint) {
  struct fingerprint_job *job = hint;
  struct tree_hot *hot = NULL;
  if (job->hot != NULL) {
    job->masked.paths = (const char *const *)job->hot;
    job->masked.n = job->n_hot;
    job->masked.stats = job->hot_stats;
    job->masked.found = job->hot_found;
    job->masked.whole = job->hot_whole;
    hot = &job->masked;
  }
  job->err = tree_fingerprint_hot(job->path, (const char *const *)job->pruned, job->n_pruned, job->max_entries, hot,
                                  &job->fp);
}

static void fingerprint_job_complete(napi_env env, napi_status status, void *hint) {
  struct fingerprint_job *job = hint;
  napi_value callback, global, args[2];
  napi_get_null(env, &args[0]);
  napi_get_undefined(env, &args[1]);
  if (status != napi_ok || job->err != 0) {
    int err = status != napi_ok ? ECANCELED : job->err;
    napi_value code, message;
    char text[PATH_MAX + 128];
    snprintf(text, sizeof(text), "%s: %s, treeFingerprint '%s'", errno_name(err), strerror(err), job->path);
    napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &args[0]);
  } else {
    char hex[65];
    sha256_hex(job->fp.digest, hex);
    napi_value digest, entries, newest;
    napi_create_object(env, &args[1]);
    napi_create_string_latin1(env, hex, 64, &digest);
    napi_create_double(env, (double)job->fp.entries, &entries);
    napi_create_bigint_int64(env, job->fp.newest_ns, &newest);
    napi_set_named_property(env, args[1], "digest", digest);
    napi_set_named_property(env, args[1], "entries", entries);
    napi_set_named_property(env, args[1], "newestNs", newest);
    if (job->hot != NULL) {
      napi_value masked;
      sha256_hex(job->masked.masked, hex);
      napi_create_string_latin1(env, hex, 64, &masked);
      napi_set_named_property(env, args[1], "masked", masked);
      napi_value masked_newest;
      napi_create_bigint_int64(env, job->masked.newest_ns, &masked_newest);
      napi_set_named_property(env, args[1], "maskedNewestNs", masked_newest);
    }
  }
  if (napi_get_reference_value(env, job->callback_ref, &callback) == napi_ok && napi_get_global(env, &global) == napi_ok)
    napi_call_function(env, global, callback, 2, args, NULL);
  napi_delete_reference(env, job->callback_ref);
  napi_delete_async_work(env, job->work);
  fingerprint_job_free(job);
}

static napi_value js_tree_fingerprint_async(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  char **whole = NULL;
  size_t n_whole = 0;
  double max_entries = 0;
  struct fingerprint_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (!get_args(env, info, 6, argv) || !get_string(env, argv[0], "path", false, &job->path) ||
      !get_strings(env, argv[2], "pruned", &job->pruned, &job->n_pruned) ||
      !get_strings(env, argv[3], "hot", &job->hot, &job->n_hot) || !get_strings(env, argv[4], "whole", &whole, &n_whole))
    goto fail;
  napi_valuetype hot_type;
  if (napi_typeof(env, argv[3], &hot_type) == napi_ok && hot_type != napi_undefined) {
    size_t n = job->n_hot + n_whole;
    char **all = realloc(job->hot, (n ? n : 1) * sizeof(*all));
    if (all == NULL) goto nomem;
    job->hot = all;
    for (size_t i = 0; i < n_whole; i++) all[job->n_hot + i] = whole[i];
    free(whole); /* its strings now belong to job->hot */
    whole = NULL;
    n_whole = 0;
    job->hot_whole = calloc(n ? n : 1, sizeof(*job->hot_whole));
    job->hot_stats = calloc(n ? n : 1, sizeof(*job->hot_stats));
    job->hot_found = calloc(n ? n : 1, sizeof(*job->hot_found));
    if (job->hot_whole == NULL || job->hot_stats == NULL || job->hot_found == NULL) goto nomem;
    for (size_t i = job->n_hot; i < n; i++) job->hot_whole[i] = true;
    job->n_hot = n;
  }
  free_strings(whole, n_whole);
  whole = NULL;
  n_whole = 0;
  if (napi_get_value_double(env, argv[1], &max_entries) != napi_ok || !(max_entries >= 0)) {
    throw_type(env, "maxEntries must be a number");
    goto fail;
  }
  job->max_entries = (uint64_t)max_entries;
  if (!start_job(env, argv[5], "strata:treeFingerprint", fingerprint_job_execute, fingerprint_job_complete, job, &job->work, &job->callback_ref)) goto fail;
  return undefined_value(env);
nomem:
  napi_throw_error(env, "ENOMEM", "out of memory");
fail:
  free_strings(whole, n_whole);
  if (job->callback_ref) napi_delete_reference(env, job->callback_ref);
  if (job->work) napi_delete_async_work(env, job->work);
  fingerprint_job_free(job);
  return NULL;
}

#define CONSTANT(obj, name) \
  if (!set_constant(env, (obj), #name, (double)(name))) return NULL

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lstatDir", NULL, js_lstat_dir, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"alignedBuffer", NULL, js_aligned_buffer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setDirect", NULL, js_set_direct, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readFilesInto", NULL, js_read_files_into, NULL, NULL, NULL, napi_enumerable, NULL},
      {"linkFiles", NULL, js_link_files, NULL, NULL, NULL, napi_enumerable, NULL},
      {"prefetchFiles", NULL, js_prefetch_files, NULL, NULL, NULL, napi_enumerable, NULL},
      {"treeFingerprintAsync", NULL, js_tree_fingerprint_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"randomFill", NULL, js_random_fill, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions) != napi_ok)
    return NULL;
  if (sha256_resolve()) {
    const napi_property_descriptor hashing[] = {
        {"sha256Init", NULL, js_sha256_init, NULL, NULL, NULL, napi_enumerable, NULL},
        {"sha256Update", NULL, js_sha256_update, NULL, NULL, NULL, napi_enumerable, NULL},
        {"sha256UpdateAsync", NULL, js_sha256_update_async, NULL, NULL, NULL, napi_enumerable, NULL},
        {"sha256Final", NULL, js_sha256_final, NULL, NULL, NULL, napi_enumerable, NULL},
        {"sha256", NULL, js_sha256, NULL, NULL, NULL, napi_enumerable, NULL},
        /* Hashes with the same OpenSSL functions. */
        {"writeTar", NULL, js_write_tar, NULL, NULL, NULL, napi_enumerable, NULL},
    };
    if (napi_define_properties(env, exports, sizeof(hashing) / sizeof(hashing[0]), hashing) != napi_ok) return NULL;
  }

  napi_value constants;
  if (napi_create_object(env, &constants) != napi_ok) return NULL;
  CONSTANT(constants, MS_RDONLY);
  CONSTANT(constants, MS_NOSUID);
  CONSTANT(constants, MS_NODEV);
  CONSTANT(constants, MS_NOEXEC);
  CONSTANT(constants, MS_SYNCHRONOUS);
  CONSTANT(constants, MS_REMOUNT);
  CONSTANT(constants, MS_MANDLOCK);
  CONSTANT(constants, MS_DIRSYNC);
  CONSTANT(constants, MS_NOATIME);
  CONSTANT(constants, MS_NODIRATIME);
  CONSTANT(constants, MS_BIND);
  CONSTANT(constants, MS_MOVE);
  CONSTANT(constants, MS_REC);
  CONSTANT(constants, MS_SILENT);
  CONSTANT(constants, MS_UNBINDABLE);
  CONSTANT(constants, MS_PRIVATE);
  CONSTANT(constants, MS_SLAVE);
  CONSTANT(constants, MS_SHARED);
  CONSTANT(constants, MS_RELATIME);
  CONSTANT(constants, MS_STRICTATIME);
  CONSTANT(constants, MNT_FORCE);
  CONSTANT(constants, MNT_DETACH);
  CONSTANT(constants, MNT_EXPIRE);
  CONSTANT(constants, UMOUNT_NOFOLLOW);
  CONSTANT(constants, XATTR_CREATE);
  CONSTANT(constants, XATTR_REPLACE);
  CONSTANT(constants, S_IFCHR);
  CONSTANT(constants, S_IFBLK);
  CONSTANT(constants, S_IFIFO);
  CONSTANT(constants, S_IFREG);
  CONSTANT(constants, S_IFSOCK);
  if (napi_object_freeze(env, constants) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "constants", constants) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }

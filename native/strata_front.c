/*
 * `strata`, the command users run: a small program in front of the Node CLI.
 *
 * A no-op `strata build` (nothing it reads has changed since the same build last ran) is
 * answered here from the record that build left (build_memo.c): in a few milliseconds,
 * where starting Node takes 25-75 ms on the machines we measure. Every other command, and
 * a build that is not a no-op, is handed to the CLI: exec of `node <checkout>/dist/strata.cjs`
 * with the same arguments, so exit codes, signals and stdio are Node's own.
 *
 * The checkout is found from this program's own path (native/build/Release/strata); the node
 * executable is $STRATA_NODE, else `node` on PATH.
 *
 * NODE_EXTRA_CA_CERTS is handed over as STRATA_MOVED_NODE_EXTRA_CA_CERTS: Node would parse that
 * file at start (~50 ms with Debian's whole bundle, every command); the CLI puts the variable
 * back and adds the certificates to the TLS it opens, when it opens one (src/registry/extra-ca.ts).
 * The memo's key is taken before, from the environment as the user set it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_memo.h"

extern char **environ;

/* <checkout>/dist/strata.cjs from /proc/self/exe = <checkout>/native/build/Release/strata. */
static int cli_entry(char *out, size_t size) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return -1;
  exe[n] = '\0';
  for (int up = 0; up < 4; up++) {
    char *slash = strrchr(exe, '/');
    if (slash == NULL) return -1;
    *slash = '\0';
  }
  char entry[PATH_MAX + 32];
  int w = snprintf(entry, sizeof(entry), "%s/dist/strata.cjs", exe);
  if (w <= 0 || (size_t)w >= sizeof(entry)) return -1;
  /* As the CLI names itself in the memo key (realpath of dist/strata.cjs); as it is, if absent. */
  char real[PATH_MAX];
  const char *chosen = realpath(entry, real) ? real : entry;
  if (strlen(chosen) >= size) return -1;
  strcpy(out, chosen);
  return 0;
}

int main(int argc, char **argv) {
  char entry[PATH_MAX];
  if (cli_entry(entry, sizeof(entry)) != 0) {
    fprintf(stderr,
            "strata: cannot find this program's own path (/proc/self/exe), so not the CLI beside it\n"
            "Run the CLI as `node <checkout>/dist/strata.cjs` instead.\n");
    return 127;
  }
  if (argc > 1 && strcmp(argv[1], "build") == 0) {
    int answered = build_memo_answer(argc, argv, environ, entry);
    if (answered != 0) return answered > 0 ? 0 : 1;
  }
  char **args = calloc((size_t)argc + 2, sizeof(*args));
  if (args == NULL) return 127;
  const char *extra_ca = getenv("NODE_EXTRA_CA_CERTS");
  if (extra_ca != NULL && *extra_ca != '\0') {
    if (setenv("STRATA_MOVED_NODE_EXTRA_CA_CERTS", extra_ca, 1) == 0) unsetenv("NODE_EXTRA_CA_CERTS");
  }
  const char *node = getenv("STRATA_NODE");
  args[0] = (char *)(node && *node ? node : "node");
  args[1] = entry;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execvp(args[0], args);
  fprintf(stderr,
          "strata: cannot start %s: %s\n"
          "Install Node.js 20 or later so that `node` is on PATH, or point STRATA_NODE at it.\n",
          args[0], strerror(errno));
  return 127;
}

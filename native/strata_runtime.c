/*
 * strata-runtime: starts one process in a new container and waits for it. Strata's RUN steps
 * use it where it works (runc where it does not); see docs/decisions.md.
 *
 * Why not runc every time: a RUN step through runc costs two Go start-ups (runc, then
 * `runc init`) and, on a cgroup v1 host, a write of the init's pid to cgroup.procs, which
 * waits for an RCU grace period in the kernel (7-11 ms at HZ=250). Here the launcher joins
 * the device cgroup by writing "0" to its `tasks` file (the kernel skips that wait for a
 * single thread moving itself) before it forks, and the rest is a dozen system calls.
 *
 * The OCI spec is translated by Strata (src/runtime/launch-plan.ts) into the plan this program
 * reads from its arguments, so nothing here parses JSON or mount options:
 *
 *   strata-runtime LOG  [ns FLAGS] [cgroup TASKS] root PATH RO
 *       (mount SRC TARGET TYPE FLAGS PROPAGATION DATA CREATE)* (dev PATH MODE MAJOR MINOR)*
 *       (link TARGET PATH)* [hostname NAME] [lo] (mask PATH)* (ro PATH)*
 *       (rlimit RESOURCE SOFT HARD)* user UID GID UMASK NGROUPS GID...
 *       caps BOUNDING EFFECTIVE PERMITTED INHERITABLE AMBIENT [nnp] cwd PATH
 *       env N K=V... args N ARG...
 *
 * Mount targets are host paths under the rootfs, already resolved safely by Strata (CREATE
 * "d" or "f": create the mount point, only ever under a tmpfs this program mounted; "-":
 * it exists). mask and ro paths are container paths, applied after pivot_root as runc does.
 * Errors go to LOG (one line) and the exit code says what failed: 127/126 the executable
 * could not be found/run (Docker's codes), 125 anything before it; otherwise the exit code
 * of the process, or 128+N when signal N ended it. Signals sent to this process are passed
 * on to the container's init; if this process dies, the kernel kills the container.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <unistd.h>

#define EXIT_SETUP 125
#define EXIT_NOT_FOUND 127
#define EXIT_CANNOT_RUN 126

static const char *log_path;
/* In the container, errors go up a pipe (the log's path means nothing after pivot_root);
 * it is close-on-exec, so a successful exec leaves it empty. */
static int error_pipe = -1;

static void vlog(const char *fmt, va_list ap) {
  int fd = error_pipe >= 0 ? error_pipe : open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) fd = 2;
  vdprintf(fd, fmt, ap);
  dprintf(fd, "\n");
  if (fd != 2 && fd != error_pipe) close(fd);
}

__attribute__((noreturn, format(printf, 2, 3))) static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
  _exit(code);
}

/* ---- the plan ----------------------------------------------------------------------- */

struct mnt {
  const char *source, *target, *type, *data;
  unsigned long flags, propagation;
  char create;
};
struct dev {
  const char *path;
  mode_t mode;
  unsigned major, minor;
};
struct link {
  const char *target, *path;
};
struct limit {
  int resource;
  struct rlimit value;
};

static struct {
  int ns_flags;
  const char *cgroup_tasks, *root, *hostname, *cwd;
  bool root_ro, loopback, nnp;
  struct mnt *mounts;
  struct dev *devs;
  struct link *links;
  const char **masked, **readonly;
  struct limit *limits;
  size_t n_mounts, n_devs, n_links, n_masked, n_readonly, n_limits;
  uid_t uid;
  gid_t gid;
  long umask;
  gid_t *groups;
  size_t n_groups;
  uint64_t bounding, effective, permitted, inheritable, ambient;
  char **env, **args;
} plan;

static char **argv_all;
static int argc_all, pos;

static const char *next(const char *what) {
  if (pos >= argc_all) die(EXIT_SETUP, "strata-runtime: plan ends where %s was expected", what);
  return argv_all[pos++];
}

static unsigned long long number(const char *what) {
  const char *text = next(what);
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || end == text) die(EXIT_SETUP, "strata-runtime: bad %s: %s", what, text);
  return value;
}

static void *grow(void *array, size_t count, size_t size) {
  void *out = realloc(array, (count + 1) * size);
  if (out == NULL) die(EXIT_SETUP, "strata-runtime: out of memory");
  return out;
}

static char **strings(const char *what) {
  size_t n = (size_t)number(what);
  char **out = calloc(n + 1, sizeof(char *));
  if (out == NULL) die(EXIT_SETUP, "strata-runtime: out of memory");
  for (size_t i = 0; i < n; i++) out[i] = (char *)next(what);
  return out;
}

static void parse(void) {
  plan.umask = -1;
  bool have_root = false, have_args = false;
  while (pos < argc_all) {
    const char *op = next("an operation");
    if (strcmp(op, "ns") == 0) {
      plan.ns_flags = (int)number("namespace flags");
    } else if (strcmp(op, "cgroup") == 0) {
      plan.cgroup_tasks = next("cgroup tasks file");
    } else if (strcmp(op, "root") == 0) {
      plan.root = next("root");
      plan.root_ro = number("root read-only") != 0;
      have_root = true;
    } else if (strcmp(op, "mount") == 0) {
      plan.mounts = grow(plan.mounts, plan.n_mounts, sizeof(struct mnt));
      struct mnt *m = &plan.mounts[plan.n_mounts++];
      m->source = next("mount source");
      m->target = next("mount target");
      m->type = next("mount type");
      m->flags = (unsigned long)number("mount flags");
      m->propagation = (unsigned long)number("mount propagation");
      m->data = next("mount data");
      m->create = next("mount create")[0];
    } else if (strcmp(op, "dev") == 0) {
      plan.devs = grow(plan.devs, plan.n_devs, sizeof(struct dev));
      struct dev *d = &plan.devs[plan.n_devs++];
      d->path = next("device path");
      d->mode = (mode_t)number("device mode");
      d->major = (unsigned)number("device major");
      d->minor = (unsigned)number("device minor");
    } else if (strcmp(op, "link") == 0) {
      plan.links = grow(plan.links, plan.n_links, sizeof(struct link));
      plan.links[plan.n_links].target = next("link target");
      plan.links[plan.n_links++].path = next("link path");
    } else if (strcmp(op, "hostname") == 0) {
      plan.hostname = next("hostname");
    } else if (strcmp(op, "lo") == 0) {
      plan.loopback = true;
    } else if (strcmp(op, "mask") == 0) {
      plan.masked = grow(plan.masked, plan.n_masked, sizeof(char *));
      plan.masked[plan.n_masked++] = next("masked path");
    } else if (strcmp(op, "ro") == 0) {
      plan.readonly = grow(plan.readonly, plan.n_readonly, sizeof(char *));
      plan.readonly[plan.n_readonly++] = next("read-only path");
    } else if (strcmp(op, "rlimit") == 0) {
      plan.limits = grow(plan.limits, plan.n_limits, sizeof(struct limit));
      struct limit *l = &plan.limits[plan.n_limits++];
      l->resource = (int)number("rlimit resource");
      l->value.rlim_cur = (rlim_t)number("rlimit soft");
      l->value.rlim_max = (rlim_t)number("rlimit hard");
    } else if (strcmp(op, "user") == 0) {
      plan.uid = (uid_t)number("uid");
      plan.gid = (gid_t)number("gid");
      const char *mask = next("umask");
      plan.umask = strcmp(mask, "-") == 0 ? -1 : strtol(mask, NULL, 10);
      plan.n_groups = (size_t)number("group count");
      plan.groups = calloc(plan.n_groups + 1, sizeof(gid_t));
      if (plan.groups == NULL) die(EXIT_SETUP, "strata-runtime: out of memory");
      for (size_t i = 0; i < plan.n_groups; i++) plan.groups[i] = (gid_t)number("group");
    } else if (strcmp(op, "caps") == 0) {
      plan.bounding = number("bounding caps");
      plan.effective = number("effective caps");
      plan.permitted = number("permitted caps");
      plan.inheritable = number("inheritable caps");
      plan.ambient = number("ambient caps");
    } else if (strcmp(op, "nnp") == 0) {
      plan.nnp = true;
    } else if (strcmp(op, "cwd") == 0) {
      plan.cwd = next("cwd");
    } else if (strcmp(op, "env") == 0) {
      plan.env = strings("environment");
    } else if (strcmp(op, "args") == 0) {
      plan.args = strings("arguments");
      have_args = true;
    } else {
      die(EXIT_SETUP, "strata-runtime: unknown operation %s", op);
    }
  }
  if (!have_root || !have_args || plan.args[0] == NULL || plan.cwd == NULL || plan.env == NULL)
    die(EXIT_SETUP, "strata-runtime: the plan needs root, cwd, env and a non-empty args");
}

/* ---- inside the container ------------------------------------------------------------- */

static void mkdir_all(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  if (strlen(path) >= sizeof(buf)) die(EXIT_SETUP, "strata-runtime: path too long: %s", path);
  strcpy(buf, path);
  for (char *p = buf + 1; *p != '\0'; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, mode) != 0 && errno != EEXIST) die(EXIT_SETUP, "mkdir %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, mode) != 0 && errno != EEXIST) die(EXIT_SETUP, "mkdir %s: %s", buf, strerror(errno));
}

static void create_mount_point(const struct mnt *m) {
  if (m->create == 'd') {
    mkdir_all(m->target, 0755);
  } else if (m->create == 'f') {
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", m->target);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
      *slash = '\0';
      mkdir_all(dir, 0755);
    }
    int fd = open(m->target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) die(EXIT_SETUP, "create %s: %s", m->target, strerror(errno));
    close(fd);
  }
}

static void do_mount(const struct mnt *m) {
  create_mount_point(m);
  if (m->flags & MS_BIND) {
    /* The kernel ignores flags on the first bind: they take a remount. */
    if (mount(m->source, m->target, NULL, m->flags & (MS_BIND | MS_REC), NULL) != 0)
      die(EXIT_SETUP, "bind mount %s on %s: %s", m->source, m->target, strerror(errno));
    unsigned long extra = m->flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra != 0 && mount(m->source, m->target, NULL, extra | MS_BIND | MS_REMOUNT, NULL) != 0)
      die(EXIT_SETUP, "remount %s: %s", m->target, strerror(errno));
  } else {
    const char *data = m->data[0] != '\0' ? m->data : NULL;
    if (mount(m->source, m->target, m->type, m->flags, data) != 0)
      die(EXIT_SETUP, "mount %s (%s) on %s: %s", m->source, m->type, m->target, strerror(errno));
  }
  if (m->propagation != 0 && mount(NULL, m->target, NULL, m->propagation, NULL) != 0)
    die(EXIT_SETUP, "mount propagation of %s: %s", m->target, strerror(errno));
}

static void loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die(EXIT_SETUP, "socket: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) die(EXIT_SETUP, "loopback flags: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) die(EXIT_SETUP, "loopback up: %s", strerror(errno));
  close(fd);
}

/* The flags a bind remount must keep (a remount that drops nosuid/nodev/noexec is refused). */
static unsigned long kept_flags(const char *path) {
  struct statvfs st;
  if (statvfs(path, &st) != 0) return 0;
  unsigned long out = 0;
  if (st.f_flag & ST_NOSUID) out |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) out |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
  return out;
}

static void mask_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return;
    die(EXIT_SETUP, "mask %s: %s", path, strerror(errno));
  }
  int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
                               : mount("/dev/null", path, NULL, MS_BIND, NULL);
  if (rc != 0) die(EXIT_SETUP, "mask %s: %s", path, strerror(errno));
}

static void readonly_path(const char *path) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) {
    if (errno == ENOENT) return;
    die(EXIT_SETUP, "read-only bind of %s: %s", path, strerror(errno));
  }
  if (mount(path, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(path), NULL) != 0)
    die(EXIT_SETUP, "read-only remount of %s: %s", path, strerror(errno));
}

static void set_capabilities(void) {
  int last = CAP_LAST_CAP;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f != NULL) {
    if (fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
    fclose(f);
  }
  for (int cap = 0; cap <= last && cap < 64; cap++) {
    if (!(plan.bounding & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
      die(EXIT_SETUP, "drop capability %d from the bounding set: %s", cap, strerror(errno));
  }
}

static void set_user(void) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) die(EXIT_SETUP, "keepcaps: %s", strerror(errno));
  if (setgroups(plan.n_groups, plan.groups) != 0) die(EXIT_SETUP, "setgroups: %s", strerror(errno));
  if (setresgid(plan.gid, plan.gid, plan.gid) != 0)
    die(EXIT_SETUP, "setgid %u: %s", (unsigned)plan.gid, strerror(errno));
  if (setresuid(plan.uid, plan.uid, plan.uid) != 0)
    die(EXIT_SETUP, "setuid %u: %s", (unsigned)plan.uid, strerror(errno));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) die(EXIT_SETUP, "keepcaps: %s", strerror(errno));

  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(plan.effective >> (32 * i));
    data[i].permitted = (uint32_t)(plan.permitted >> (32 * i));
    data[i].inheritable = (uint32_t)(plan.inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) != 0) die(EXIT_SETUP, "capset: %s", strerror(errno));
  for (int cap = 0; cap < 64; cap++) {
    if ((plan.ambient & (1ULL << cap)) &&
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
      die(EXIT_SETUP, "raise ambient capability %d: %s", cap, strerror(errno));
  }
}

/* As runc: HOME, when the environment has none, from the container's /etc/passwd, else "/". */
static void add_home(void) {
  size_t n = 0;
  for (char **e = plan.env; *e != NULL; e++, n++) {
    if (strncmp(*e, "HOME=", 5) == 0) return;
  }
  const char *home = "/";
  static char line[4096], found[PATH_MAX + 6];
  FILE *f = fopen("/etc/passwd", "re");
  while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
    char *fields[7] = {0};
    char *p = line;
    for (int i = 0; i < 7 && p != NULL; i++) {
      fields[i] = p;
      p = strchr(p, ':');
      if (p != NULL) *p++ = '\0';
    }
    if (fields[2] == NULL || fields[5] == NULL || fields[5][0] == '\0') continue;
    char *end;
    unsigned long uid = strtoul(fields[2], &end, 10);
    if (*end != '\0' || uid != plan.uid) continue;
    home = fields[5];
    break;
  }
  snprintf(found, sizeof(found), "HOME=%s", home);
  if (f != NULL) fclose(f);
  char **env = calloc(n + 2, sizeof(char *));
  if (env == NULL) die(EXIT_SETUP, "strata-runtime: out of memory");
  memcpy(env, plan.env, n * sizeof(char *));
  env[n] = found;
  plan.env = env;
}

static const char *env_path(void) {
  for (char **e = plan.env; *e != NULL; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  }
  return NULL;
}

/*
 * runc's outcomes for a process that could not be executed: a missing file or one that may
 * not be run is found before the start (Docker's 127/126, the message in the log); anything
 * execve(2) itself refuses (exec format error…) ends the process with 1 and a line on its
 * stderr, as runc 1.1's init does.
 */
__attribute__((noreturn)) static void exec_failed(const char *name, const char *resolved, int err) {
  if (err == ENOENT || err == ENOTDIR)
    die(EXIT_NOT_FOUND, "exec: \"%s\": no such file or directory", name);
  if (err == EACCES || err == EISDIR)
    die(EXIT_CANNOT_RUN, "exec: \"%s\": %s", name, err == EACCES ? "permission denied" : "is a directory");
  char reason[256];
  snprintf(reason, sizeof(reason), "%s", strerror(err));
  reason[0] = (char)tolower((unsigned char)reason[0]); /* Go's wording: "exec format error" */
  dprintf(2, "exec %s: %s\n", resolved, reason);
  _exit(1);
}

__attribute__((noreturn)) static void exec_process(void) {
  const char *name = plan.args[0];
  if (strchr(name, '/') != NULL) {
    struct stat st;
    if (stat(name, &st) == 0 && S_ISDIR(st.st_mode)) exec_failed(name, name, EISDIR);
    execve(name, plan.args, plan.env);
    exec_failed(name, name, errno);
  }
  /* Looked up in the container's PATH as runc (Go's LookPath) does: the first regular file
   * that is executable; one that is not is passed over. */
  const char *path = env_path();
  if (path == NULL) path = "";
  char candidate[PATH_MAX];
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    int len = (int)(end - p);
    snprintf(candidate, sizeof(candidate), "%.*s/%s", len == 0 ? 1 : len, len == 0 ? "." : p, name);
    struct stat st;
    if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
      execve(candidate, plan.args, plan.env);
      exec_failed(name, candidate, errno);
    }
    if (*end == '\0') break;
    p = end;
  }
  die(EXIT_NOT_FOUND, "exec: \"%s\": executable file not found in $PATH", name);
}

__attribute__((noreturn)) static void container_init(void) {
  /* Our parent dies, we die (the kernel then ends the whole pid namespace). */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  umask(0);
  /* Nothing mounted from here on reaches the host's namespace. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0)
    die(EXIT_SETUP, "make / a slave mount: %s", strerror(errno));
  /* pivot_root needs the new root to be a mount point of its own. */
  if (mount(plan.root, plan.root, NULL, MS_BIND | MS_REC, NULL) != 0)
    die(EXIT_SETUP, "bind the rootfs %s: %s", plan.root, strerror(errno));
  for (size_t i = 0; i < plan.n_mounts; i++) do_mount(&plan.mounts[i]);
  for (size_t i = 0; i < plan.n_devs; i++) {
    const struct dev *d = &plan.devs[i];
    if (mknod(d->path, d->mode, makedev(d->major, d->minor)) != 0 && errno != EEXIST)
      die(EXIT_SETUP, "mknod %s: %s", d->path, strerror(errno));
  }
  for (size_t i = 0; i < plan.n_links; i++) {
    if (symlink(plan.links[i].target, plan.links[i].path) != 0 && errno != EEXIST)
      die(EXIT_SETUP, "symlink %s: %s", plan.links[i].path, strerror(errno));
  }
  if (plan.hostname != NULL && sethostname(plan.hostname, strlen(plan.hostname)) != 0)
    die(EXIT_SETUP, "sethostname: %s", strerror(errno));
  if (plan.loopback) loopback_up();

  if (chdir(plan.root) != 0) die(EXIT_SETUP, "chdir %s: %s", plan.root, strerror(errno));
  /* pivot_root(".", "."): the old root ends up on top of the new one, and is detached. */
  if (syscall(SYS_pivot_root, ".", ".") != 0) die(EXIT_SETUP, "pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) != 0) die(EXIT_SETUP, "detach the old root: %s", strerror(errno));
  if (chdir("/") != 0) die(EXIT_SETUP, "chdir /: %s", strerror(errno));

  for (size_t i = 0; i < plan.n_masked; i++) mask_path(plan.masked[i]);
  for (size_t i = 0; i < plan.n_readonly; i++) readonly_path(plan.readonly[i]);
  if (plan.root_ro && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL) != 0)
    die(EXIT_SETUP, "read-only root: %s", strerror(errno));

  for (size_t i = 0; i < plan.n_limits; i++) {
    if (setrlimit(plan.limits[i].resource, &plan.limits[i].value) != 0)
      die(EXIT_SETUP, "setrlimit %d: %s", plan.limits[i].resource, strerror(errno));
  }
  /* As runc: a missing working directory is made (after pivot_root, so inside the root). */
  if (plan.cwd[0] == '/' && plan.cwd[1] != '\0') mkdir_all(plan.cwd, 0755);
  umask(plan.umask >= 0 ? (mode_t)plan.umask : 022);
  if (chdir(plan.cwd) != 0)
    die(EXIT_SETUP, "chdir to cwd (\"%s\") set in config.json failed: %s", plan.cwd, strerror(errno));
  add_home();
  set_capabilities();
  set_user();
  if (plan.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    die(EXIT_SETUP, "no_new_privs: %s", strerror(errno));
  /* setuid clears the parent-death signal. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* Only stdin, stdout and stderr reach the process (and the error pipe, until the exec). */
  for (int fd = 3; fd < error_pipe; fd++) close(fd);
  if (syscall(SYS_close_range, (unsigned)error_pipe + 1, ~0U, 0U) != 0) {
    for (int fd = error_pipe + 1; fd < 1024; fd++) close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  exec_process();
}

/* ---- outside: start, pass signals on, wait ---------------------------------------------- */

static volatile pid_t child_pid;

static void forward(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: strata-runtime LOG PLAN... (made by Strata, see strata_runtime.c)\n");
    return EXIT_SETUP;
  }
  /* If Strata dies (even by SIGKILL), so do we, and the container after us. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  log_path = argv[1];
  argv_all = argv;
  argc_all = argc;
  pos = 2;
  parse();

  if (plan.cgroup_tasks != NULL) {
    /* "0" moves the writing thread itself: no threadgroup lock, so no RCU grace period. */
    int fd = open(plan.cgroup_tasks, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1)
      die(EXIT_SETUP, "join the device cgroup (%s): %s", plan.cgroup_tasks, strerror(errno));
    close(fd);
  }

  /* Signals wait until the handlers know the child (it starts with them blocked, too). */
  int errors[2];
  if (pipe2(errors, O_CLOEXEC) != 0) die(EXIT_SETUP, "pipe: %s", strerror(errno));
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(SIGCHLD | plan.ns_flags), NULL, NULL, NULL, NULL);
  if (pid < 0) die(EXIT_SETUP, "clone: %s", strerror(errno));
  if (pid == 0) {
    close(errors[0]);
    error_pipe = errors[1];
    container_init();
  }
  close(errors[1]);

  child_pid = pid;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof(FORWARDED) / sizeof(FORWARDED[0]); i++) sigaction(FORWARDED[i], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);

  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die(EXIT_SETUP, "waitpid: %s", strerror(errno));
  }
  /* What the container's side could not do, before its exec, goes to the log. */
  char message[4096];
  ssize_t got = 0, n;
  while (got < (ssize_t)sizeof(message) - 1 &&
         (n = read(errors[0], message + got, sizeof(message) - 1 - (size_t)got)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += n;
  }
  if (got > 0) {
    while (got > 0 && message[got - 1] == '\n') got--;
    message[got] = '\0';
    die(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_SETUP, "%s", message);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_SETUP;
}

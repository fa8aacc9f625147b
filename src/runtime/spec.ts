// The OCI runtime spec (config.json) for one process, with Docker's defaults: the mounts,
// capabilities, masked and read-only paths and device rules `docker run` uses, no seccomp
// or AppArmor profile (yet), and no cgroup limits. Pure: no I/O, unit-tested.

/** A mount in OCI runtime-spec form. */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface OciProcess {
  terminal: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits: OciRlimit[];
  noNewPrivileges: boolean;
  consoleSize?: { height: number; width: number };
}

export interface OciNamespace {
  type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
  path?: string;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciLinux {
  namespaces: OciNamespace[];
  maskedPaths: string[];
  readonlyPaths: string[];
  resources?: { devices?: OciDeviceRule[] };
  cgroupsPath?: string;
  sysctl?: Record<string, string>;
}

export interface RuntimeSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: OciLinux;
  annotations?: Record<string, string>;
}

/** A caller's bind mount: /etc/resolv.conf, /etc/hosts, a build context, a cache dir… */
export interface BindMount {
  /** Host path. */
  source: string;
  /** Path in the container. */
  destination: string;
  readonly?: boolean;
}

export interface SpecOptions {
  args: readonly string[];
  /** KEY=VALUE strings. PATH is added (Docker's default) when absent. */
  env?: readonly string[];
  /** Absolute path in the container; default '/'. */
  cwd?: string;
  /** Default root (0:0). */
  user?: { uid: number; gid: number; additionalGids?: readonly number[]; umask?: number };
  /** Set in a fresh UTS namespace; unset keeps the host's name. */
  hostname?: string;
  terminal?: boolean;
  /** 'host' (default) shares the host's network namespace; 'none' gives a new one with only lo. */
  network?: 'host' | 'none';
  binds?: readonly BindMount[];
  /** Further mounts, in OCI form, after the defaults and binds. */
  mounts?: readonly OciMount[];
  /** root.path in config.json; default 'rootfs' (relative to the bundle). */
  rootfs?: string;
  readonlyRootfs?: boolean;
  /** Replaces Docker's default capability set (names with or without CAP_). */
  capabilities?: readonly string[];
  /** RLIMIT_NOFILE soft/hard; default 1048576 both. */
  nofile?: { soft: number; hard: number };
  noNewPrivileges?: boolean;
  /** Size of /dev/shm; default '64m' (Docker's). */
  shmSize?: string;
  annotations?: Record<string, string>;
}

/** Docker's default PATH for a container whose image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The capabilities Docker grants by default (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** Paths Docker hides from containers (bind of /dev/null, or an empty read-only tmpfs for dirs). */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/asound',
  '/proc/acpi',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
]);

/** Paths Docker makes read-only. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

export const DEFAULT_NOFILE = 1_048_576;

/** The mounts every container gets, in order (/dev before what lives in it). */
export function defaultMounts(shmSize = '64m'): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shmSize}`],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  ];
}

function capName(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

function checkAbsolute(what: string, path: string): void {
  if (!path.startsWith('/')) throw new TypeError(`${what} must be an absolute path: ${JSON.stringify(path)}`);
}

/** config.json for one process. Throws TypeError on malformed options (a caller bug). */
export function generateSpec(options: SpecOptions): RuntimeSpec {
  if (options.args.length === 0) throw new TypeError('args must not be empty');
  const cwd = options.cwd ?? '/';
  checkAbsolute('cwd', cwd);

  const env = [...(options.env ?? [])];
  for (const entry of env) {
    if (!entry.includes('=')) throw new TypeError(`env entries are KEY=VALUE: ${JSON.stringify(entry)}`);
  }
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(`PATH=${DEFAULT_PATH}`);
  if (options.terminal && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');

  const uid = options.user?.uid ?? 0;
  const gid = options.user?.gid ?? 0;
  const user: OciUser = { uid, gid };
  const additionalGids = options.user?.additionalGids ?? [];
  if (additionalGids.length > 0) user.additionalGids = [...additionalGids];
  if (options.user?.umask !== undefined) user.umask = options.user.umask;

  const caps = (options.capabilities ?? DEFAULT_CAPABILITIES).map(capName);
  // As Docker does for a non-root user: the caps stay in the bounding set (setuid binaries
  // can still gain them) but the process itself starts without any.
  const capabilities: OciCapabilities = {
    bounding: [...caps],
    effective: uid === 0 ? [...caps] : [],
    permitted: uid === 0 ? [...caps] : [],
  };

  const nofile = options.nofile ?? { soft: DEFAULT_NOFILE, hard: DEFAULT_NOFILE };

  const mounts: OciMount[] = defaultMounts(options.shmSize);
  for (const bind of options.binds ?? []) {
    checkAbsolute('bind destination', bind.destination);
    checkAbsolute('bind source', bind.source);
    mounts.push({
      destination: bind.destination,
      type: 'bind',
      source: bind.source,
      options: ['rbind', bind.readonly ? 'ro' : 'rw', 'rprivate'],
    });
  }
  for (const m of options.mounts ?? []) {
    checkAbsolute('mount destination', m.destination);
    mounts.push({ ...m, ...(m.options ? { options: [...m.options] } : {}) });
  }

  const namespaces: OciNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (options.network === 'none') namespaces.push({ type: 'network' });

  const spec: RuntimeSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: options.terminal ?? false,
      user,
      args: [...options.args],
      env,
      cwd,
      capabilities,
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: nofile.soft, hard: nofile.hard }],
      noNewPrivileges: options.noNewPrivileges ?? false,
    },
    root: { path: options.rootfs ?? 'rootfs', readonly: options.readonlyRootfs ?? false },
    mounts,
    linux: {
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      // Device access, not a limit: deny all, and the runtime adds the standard devices
      // (null, zero, full, random, urandom, tty, ptmx, pts) as Docker's list does.
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
  if (options.hostname !== undefined) spec.hostname = options.hostname;
  if (options.annotations) spec.annotations = { ...options.annotations };
  return spec;
}

// An OCI runtime spec translated into the argument list of native/strata_runtime.c: every
// name (capability, rlimit, namespace, mount option) becomes a number here, so the C program
// parses nothing but integers and strings. Specs that ask for what the launcher does not do
// (a terminal, user namespaces, joining namespaces, sysctls, cgroup limits) get a reason
// instead, and the caller uses runc. Pure but for `mountPoint`, which the caller supplies.

import { MS } from '../sys/constants.js';
import { parseMountOptions } from '../sys/mount-spec.js';
import { DEV_LINKS, DEV_NODES } from './dev-nodes.js';
import type { OciMount, RuntimeSpec } from './spec.js';

/** linux/capability.h. */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** asm-generic/resource.h (x86-64 and arm64 alike). */
export const RLIMIT_NUMBERS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/** clone(2) flags of the namespaces the launcher can create. */
export const NAMESPACE_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  mount: 0x0002_0000,
  uts: 0x0400_0000,
  ipc: 0x0800_0000,
  pid: 0x2000_0000,
  network: 0x4000_0000,
});

/** Filesystems the launcher mounts fresh, where it may create mount points itself. */
const FRESH_WRITABLE = new Set(['tmpfs']);

export type MountPointKind = 'dir' | 'file';

export interface PlanOptions {
  /** Host path of the (mounted) rootfs. */
  rootfs: string;
  /** The device cgroup's `tasks` file to join, if any. */
  cgroupTasks?: string;
  /** Creates (safely) and returns the host path of a mount point on the rootfs. */
  mountPoint: (destination: string, kind: MountPointKind) => Promise<string>;
  /** Whether `source` (a bind's host path) is a directory; decides the mount point's kind. */
  isDirectory: (source: string) => Promise<boolean>;
}

export type LaunchPlan = { ok: true; args: string[] } | { ok: false; reason: string };

/** Why the launcher cannot carry out `spec`, or undefined when it can. */
export function unsupportedReason(spec: RuntimeSpec): string | undefined {
  if (spec.process.terminal) return 'a terminal';
  for (const ns of spec.linux.namespaces) {
    if (ns.path !== undefined) return `joining the ${ns.type} namespace at ${ns.path}`;
    if (NAMESPACE_FLAGS[ns.type] === undefined) return `a ${ns.type} namespace`;
  }
  if (!spec.linux.namespaces.some((n) => n.type === 'mount')) return 'no mount namespace';
  if (spec.linux.cgroupsPath !== undefined) return 'a cgroup path';
  if (spec.linux.sysctl !== undefined && Object.keys(spec.linux.sysctl).length > 0) return 'sysctls';
  const devices = spec.linux.resources?.devices ?? [];
  // The default rules (deny all, then the standard devices) are what the device cgroup holds.
  if (devices.length > 1 || devices.some((d) => d.allow || d.type !== undefined))
    return 'device rules other than the default';
  for (const r of spec.process.rlimits) {
    if (RLIMIT_NUMBERS[r.type] === undefined) return `the rlimit ${r.type}`;
  }
  const caps = spec.process.capabilities;
  for (const name of [
    ...caps.bounding,
    ...caps.effective,
    ...caps.permitted,
    ...(caps.inheritable ?? []),
    ...(caps.ambient ?? []),
  ]) {
    if (CAPABILITY_NUMBERS[name] === undefined) return `the capability ${name}`;
  }
  return undefined;
}

function capMask(names: readonly string[] | undefined): string {
  let mask = 0n;
  for (const name of names ?? []) mask |= 1n << BigInt(CAPABILITY_NUMBERS[name] as number);
  return mask.toString();
}

/** RLIM_INFINITY is 2^64-1, which a JSON number cannot hold: anything that large means it. */
function rlimitValue(value: number): string {
  return value >= 2 ** 64 - 1 ? '18446744073709551615' : BigInt(Math.max(0, Math.floor(value))).toString();
}

function isBind(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

function under(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

/** The argument list for `strata-runtime LOG …` (without LOG), or why there is none. */
export async function planLaunch(spec: RuntimeSpec, options: PlanOptions): Promise<LaunchPlan> {
  const reason = unsupportedReason(spec);
  if (reason !== undefined) return { ok: false, reason };
  const { rootfs } = options;
  const args: string[] = [];
  let nsFlags = 0;
  for (const ns of spec.linux.namespaces) nsFlags |= NAMESPACE_FLAGS[ns.type] as number;
  args.push('ns', String(nsFlags));
  if (options.cgroupTasks !== undefined) args.push('cgroup', options.cgroupTasks);
  args.push('root', rootfs, spec.root.readonly ? '1' : '0');

  // Each mount lands on the rootfs (its mount point made here, symlinks resolved inside the
  // rootfs) or inside a tmpfs an earlier entry mounted (made by the launcher, nothing to resolve).
  const made: OciMount[] = [];
  for (const m of spec.mounts) {
    const parent = made.filter((p) => under(m.destination, p.destination)).at(-1);
    const bind = isBind(m);
    const kind: MountPointKind = bind && !(await options.isDirectory(m.source ?? '')) ? 'file' : 'dir';
    let target: string;
    let create = '-';
    if (parent !== undefined && !isBind(parent)) {
      target = `${rootfs}${m.destination}`;
      if (FRESH_WRITABLE.has(parent.type ?? '')) create = kind === 'file' ? 'f' : 'd';
    } else {
      target = await options.mountPoint(m.destination, kind);
    }
    const parsed = parseMountOptions(m.options);
    let propagation = 0;
    for (const p of parsed.propagation) propagation |= p;
    const type = bind ? 'bind' : (m.type ?? 'none');
    args.push(
      'mount',
      bind ? (m.source ?? '') : (m.source ?? type),
      target,
      type,
      String(parsed.flags & ~MS.REMOUNT),
      String(propagation),
      parsed.data.join(','),
      create,
    );
    made.push(m);
  }
  const dev = made.find((m) => m.destination === '/dev' && m.type === 'tmpfs');
  if (dev !== undefined) {
    for (const node of DEV_NODES) {
      args.push(
        'dev',
        `${rootfs}/dev/${node.name}`,
        String(0o020000 | 0o666),
        String(node.major),
        String(node.minor),
      );
    }
    for (const [name, target] of DEV_LINKS) args.push('link', target, `${rootfs}/dev/${name}`);
  }
  if (spec.hostname !== undefined) args.push('hostname', spec.hostname);
  if (spec.linux.namespaces.some((n) => n.type === 'network')) args.push('lo');
  for (const path of spec.linux.maskedPaths) args.push('mask', path);
  for (const path of spec.linux.readonlyPaths) args.push('ro', path);
  for (const r of spec.process.rlimits) {
    args.push('rlimit', String(RLIMIT_NUMBERS[r.type]), rlimitValue(r.soft), rlimitValue(r.hard));
  }
  const user = spec.process.user;
  const groups = user.additionalGids ?? [];
  args.push(
    'user',
    String(user.uid),
    String(user.gid),
    user.umask === undefined ? '-' : String(user.umask),
    String(groups.length),
    ...groups.map(String),
  );
  const caps = spec.process.capabilities;
  args.push(
    'caps',
    capMask(caps.bounding),
    capMask(caps.effective),
    capMask(caps.permitted),
    capMask(caps.inheritable),
    capMask(caps.ambient),
  );
  if (spec.process.noNewPrivileges) args.push('nnp');
  args.push('cwd', spec.process.cwd);
  args.push('env', String(spec.process.env.length), ...spec.process.env);
  args.push('args', String(spec.process.args.length), ...spec.process.args);
  return { ok: true, args };
}

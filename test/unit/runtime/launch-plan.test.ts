import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CAPABILITY_NUMBERS,
  NAMESPACE_FLAGS,
  planLaunch,
  unsupportedReason,
} from '../../../src/runtime/launch-plan.js';
import { DEFAULT_CAPABILITIES, generateSpec, type RuntimeSpec } from '../../../src/runtime/spec.js';

/** The plan's operations, each with its operands. */
function ops(args: string[]): Array<[string, ...string[]]> {
  const arity: Record<string, number> = {
    ns: 1,
    cgroup: 1,
    root: 2,
    mount: 7,
    dev: 4,
    link: 2,
    hostname: 1,
    lo: 0,
    mask: 1,
    ro: 1,
    rlimit: 3,
    caps: 5,
    nnp: 0,
    cwd: 1,
  };
  const out: Array<[string, ...string[]]> = [];
  let i = 0;
  while (i < args.length) {
    const op = args[i++] as string;
    let n: number;
    if (op === 'user') n = 4 + Number(args[i + 3]);
    else if (op === 'env' || op === 'args') n = 1 + Number(args[i]);
    else {
      const a = arity[op];
      assert.ok(a !== undefined, `unknown operation ${op}`);
      n = a;
    }
    out.push([op, ...args.slice(i, i + n)]);
    i += n;
  }
  return out;
}

async function plan(spec: RuntimeSpec, made: string[] = []) {
  const result = await planLaunch(spec, {
    rootfs: '/r',
    cgroupTasks: '/sys/fs/cgroup/devices/x/tasks',
    mountPoint: async (destination, kind) => {
      made.push(`${kind} ${destination}`);
      return `/r${destination}`;
    },
    isDirectory: async (source) => !source.endsWith('.conf'),
  });
  assert.ok(result.ok);
  return ops(result.args);
}

test('launch plan: namespaces, root, mounts where they belong, devices, masks', async () => {
  const made: string[] = [];
  const spec = generateSpec({
    args: ['sh', '-c', 'echo "a b"'],
    binds: [{ source: '/etc/resolv.conf', destination: '/etc/resolv.conf', readonly: true }],
    mounts: [{ destination: '/dev/extra', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }],
    network: 'none',
    hostname: 'h',
  });
  const steps = await plan(spec, made);
  const ns = Number(steps[0]?.[1]);
  assert.equal(
    ns,
    NAMESPACE_FLAGS.pid! |
      NAMESPACE_FLAGS.ipc! |
      NAMESPACE_FLAGS.uts! |
      NAMESPACE_FLAGS.mount! |
      NAMESPACE_FLAGS.network!,
  );
  assert.deepEqual(steps[1], ['cgroup', '/sys/fs/cgroup/devices/x/tasks']);
  assert.deepEqual(steps[2], ['root', '/r', '0']);
  const mounts = steps.filter((s) => s[0] === 'mount');
  // /proc, /dev, /sys on the rootfs (made by the caller); what lies in the /dev tmpfs is made
  // by the launcher ('d'); the file bind on the rootfs as a file.
  assert.deepEqual(made, ['dir /proc', 'dir /dev', 'dir /sys', 'file /etc/resolv.conf']);
  const byTarget = new Map(mounts.map((m) => [m[2], m]));
  assert.deepEqual(byTarget.get('/r/dev/pts')?.[7], 'd');
  assert.deepEqual(byTarget.get('/r/dev/extra')?.[7], 'd');
  assert.deepEqual(byTarget.get('/r/proc'), [
    'mount',
    'proc',
    '/r/proc',
    'proc',
    String(2 | 4 | 8),
    '0',
    '',
    '-',
  ]);
  // rbind + ro, propagation rprivate (MS_PRIVATE | MS_REC).
  assert.deepEqual(byTarget.get('/r/etc/resolv.conf'), [
    'mount',
    '/etc/resolv.conf',
    '/r/etc/resolv.conf',
    'bind',
    String(4096 | 16384 | 1),
    String((1 << 18) | 16384),
    '',
    '-',
  ]);
  assert.equal(byTarget.get('/r/dev/shm')?.[6], 'mode=1777,size=64m');
  assert.ok(steps.some((s) => s[0] === 'dev' && s[1] === '/r/dev/null' && s[3] === '1' && s[4] === '3'));
  assert.ok(steps.some((s) => s[0] === 'link' && s[1] === 'pts/ptmx' && s[2] === '/r/dev/ptmx'));
  assert.ok(steps.some((s) => s[0] === 'hostname' && s[1] === 'h'));
  assert.ok(steps.some((s) => s[0] === 'lo'));
  assert.ok(steps.some((s) => s[0] === 'mask' && s[1] === '/proc/kcore'));
  assert.ok(steps.some((s) => s[0] === 'ro' && s[1] === '/proc/sys'));
  assert.deepEqual(steps.at(-1), ['args', '3', 'sh', '-c', 'echo "a b"']);
});

test('launch plan: user, capabilities as masks, rlimits, no new privileges', async () => {
  const spec = generateSpec({
    args: ['id'],
    user: { uid: 1000, gid: 100, additionalGids: [5, 7], umask: 0o027 },
    noNewPrivileges: true,
    capabilities: ['CAP_SYS_ADMIN', 'chown'],
  });
  spec.process.rlimits.push({ type: 'RLIMIT_CORE', soft: 2 ** 64, hard: 2 ** 64 });
  const steps = await plan(spec);
  assert.deepEqual(
    steps.find((s) => s[0] === 'user'),
    ['user', '1000', '100', String(0o027), '2', '5', '7'],
  );
  const caps = steps.find((s) => s[0] === 'caps');
  const bounding = (1n << 21n) | 1n;
  // A non-root user keeps the bounding set only, as Docker does.
  assert.deepEqual(caps, ['caps', String(bounding), '0', '0', '0', '0']);
  assert.ok(steps.some((s) => s[0] === 'nnp'));
  assert.ok(steps.some((s) => s.join(' ') === 'rlimit 4 18446744073709551615 18446744073709551615'));
  assert.ok(steps.some((s) => s[0] === 'rlimit' && s[1] === '7'));
  // Docker's default set as a mask is what /proc/self/status shows in a container.
  let mask = 0n;
  for (const name of DEFAULT_CAPABILITIES) mask |= 1n << BigInt(CAPABILITY_NUMBERS[name] as number);
  assert.equal(mask.toString(16), 'a80425fb');
});

test('launch plan: what the launcher does not do is named, not planned', async () => {
  assert.equal(unsupportedReason(generateSpec({ args: ['true'] })), undefined);
  assert.equal(unsupportedReason(generateSpec({ args: ['true'], terminal: true })), 'a terminal');
  const joined = generateSpec({ args: ['true'] });
  joined.linux.namespaces.push({ type: 'network', path: '/proc/1/ns/net' });
  assert.equal(unsupportedReason(joined), 'joining the network namespace at /proc/1/ns/net');
  const user = generateSpec({ args: ['true'] });
  user.linux.namespaces.push({ type: 'user' });
  assert.equal(unsupportedReason(user), 'a user namespace');
  const devices = generateSpec({ args: ['true'] });
  devices.linux.resources = { devices: [{ allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }] };
  assert.equal(unsupportedReason(devices), 'device rules other than the default');
  const result = await planLaunch(generateSpec({ args: ['true'], terminal: true }), {
    rootfs: '/r',
    mountPoint: async () => assert.fail('nothing is made for a spec that is not planned'),
    isDirectory: async () => true,
  });
  assert.deepEqual(result, { ok: false, reason: 'a terminal' });
});

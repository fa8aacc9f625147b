import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  generateSpec,
} from '../../../src/runtime/index.js';

test('defaults: Docker PATH, root user, cwd /, no terminal, rootfs relative to the bundle', () => {
  const spec = generateSpec({ args: ['/bin/sh', '-c', 'true'] });
  assert.equal(spec.ociVersion, '1.0.2');
  assert.deepEqual(spec.process.args, ['/bin/sh', '-c', 'true']);
  assert.deepEqual(spec.process.env, [`PATH=${DEFAULT_PATH}`]);
  assert.equal(DEFAULT_PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  assert.deepEqual(spec.process.user, { uid: 0, gid: 0 });
  assert.equal(spec.process.cwd, '/');
  assert.equal(spec.process.terminal, false);
  assert.equal(spec.process.noNewPrivileges, false);
  assert.deepEqual(spec.root, { path: 'rootfs', readonly: false });
  assert.equal(spec.hostname, undefined);
  assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }]);
  assert.equal(spec.linux.cgroupsPath, undefined, 'no cgroup path: the runtime picks one, no limits are set');
  assert.deepEqual(spec.linux.resources, { devices: [{ allow: false, access: 'rwm' }] });
  // Serializable as config.json, unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
});

test("root gets Docker's 14 default capabilities, a non-root user none effective", () => {
  assert.deepEqual([...DEFAULT_CAPABILITIES].sort(), [
    'CAP_AUDIT_WRITE',
    'CAP_CHOWN',
    'CAP_DAC_OVERRIDE',
    'CAP_FOWNER',
    'CAP_FSETID',
    'CAP_KILL',
    'CAP_MKNOD',
    'CAP_NET_BIND_SERVICE',
    'CAP_NET_RAW',
    'CAP_SETFCAP',
    'CAP_SETGID',
    'CAP_SETPCAP',
    'CAP_SETUID',
    'CAP_SYS_CHROOT',
  ]);
  const root = generateSpec({ args: ['x'] }).process.capabilities;
  assert.deepEqual(root.bounding, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(root.effective, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(root.permitted, [...DEFAULT_CAPABILITIES]);
  assert.equal(root.inheritable, undefined);
  assert.equal(root.ambient, undefined);
  const user = generateSpec({ args: ['x'], user: { uid: 1000, gid: 1000, additionalGids: [10, 20] } });
  assert.deepEqual(user.process.user, { uid: 1000, gid: 1000, additionalGids: [10, 20] });
  assert.deepEqual(user.process.capabilities.bounding, [...DEFAULT_CAPABILITIES]);
  assert.deepEqual(user.process.capabilities.effective, []);
  assert.deepEqual(user.process.capabilities.permitted, []);
  const custom = generateSpec({ args: ['x'], capabilities: ['chown', 'CAP_KILL'] }).process.capabilities;
  assert.deepEqual(custom.bounding, ['CAP_CHOWN', 'CAP_KILL']);
});

test('namespaces: pid, ipc, uts, mount; a network namespace only for network none', () => {
  const types = (network?: 'host' | 'none') =>
    generateSpec({ args: ['x'], ...(network ? { network } : {}) }).linux.namespaces.map((n) => n.type);
  assert.deepEqual(types(), ['pid', 'ipc', 'uts', 'mount']);
  assert.deepEqual(types('host'), ['pid', 'ipc', 'uts', 'mount']);
  assert.deepEqual(types('none'), ['pid', 'ipc', 'uts', 'mount', 'network']);
});

test('mounts: /proc, /dev, /dev/pts, /sys read-only, /dev/shm, /dev/mqueue, then binds and extra mounts', () => {
  const spec = generateSpec({
    args: ['x'],
    binds: [
      { source: '/host/resolv.conf', destination: '/etc/resolv.conf', readonly: true },
      { source: '/host/hosts', destination: '/etc/hosts' },
    ],
    mounts: [{ destination: '/run/secrets', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }],
    shmSize: '128m',
  });
  assert.deepEqual(
    spec.mounts.map((m) => [m.destination, m.type]),
    [
      ['/proc', 'proc'],
      ['/dev', 'tmpfs'],
      ['/dev/pts', 'devpts'],
      ['/sys', 'sysfs'],
      ['/dev/shm', 'tmpfs'],
      ['/dev/mqueue', 'mqueue'],
      ['/etc/resolv.conf', 'bind'],
      ['/etc/hosts', 'bind'],
      ['/run/secrets', 'tmpfs'],
    ],
  );
  assert.ok(spec.mounts[3]?.options?.includes('ro'), '/sys is read-only');
  assert.ok(spec.mounts[2]?.options?.includes('newinstance'));
  assert.ok(spec.mounts[4]?.options?.includes('size=128m'));
  assert.deepEqual(spec.mounts[6]?.options, ['rbind', 'ro', 'rprivate']);
  assert.deepEqual(spec.mounts[7]?.options, ['rbind', 'rw', 'rprivate']);
  assert.equal(spec.mounts[6]?.source, '/host/resolv.conf');
});

test("masked and read-only paths are Docker's", () => {
  const spec = generateSpec({ args: ['x'] });
  assert.deepEqual(spec.linux.maskedPaths, [...DEFAULT_MASKED_PATHS]);
  assert.deepEqual(spec.linux.readonlyPaths, [...DEFAULT_READONLY_PATHS]);
  for (const p of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware']) {
    assert.ok(spec.linux.maskedPaths.includes(p), p);
  }
  assert.ok(spec.linux.readonlyPaths.includes('/proc/sys'));
  assert.ok(spec.linux.readonlyPaths.includes('/proc/sysrq-trigger'));
});

test('env keeps a given PATH, adds TERM for a terminal; hostname, cwd, user, options pass through', () => {
  const spec = generateSpec({
    args: ['sh'],
    env: ['PATH=/opt/bin', 'A=1'],
    terminal: true,
    hostname: 'builder',
    cwd: '/work',
    nofile: { soft: 1024, hard: 4096 },
    readonlyRootfs: true,
    rootfs: '/abs/rootfs',
    noNewPrivileges: true,
    annotations: { 'org.example': 'x' },
  });
  assert.deepEqual(spec.process.env, ['PATH=/opt/bin', 'A=1', 'TERM=xterm']);
  assert.equal(spec.process.terminal, true);
  assert.equal(spec.hostname, 'builder');
  assert.equal(spec.process.cwd, '/work');
  assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }]);
  assert.deepEqual(spec.root, { path: '/abs/rootfs', readonly: true });
  assert.equal(spec.process.noNewPrivileges, true);
  assert.deepEqual(spec.annotations, { 'org.example': 'x' });
  const noPath = generateSpec({ args: ['sh'], env: ['A=1'] });
  assert.deepEqual(noPath.process.env, [`PATH=${DEFAULT_PATH}`, 'A=1']);
});

test('rejects malformed options', () => {
  assert.throws(() => generateSpec({ args: [] }), TypeError);
  assert.throws(() => generateSpec({ args: ['x'], cwd: 'relative' }), TypeError);
  assert.throws(() => generateSpec({ args: ['x'], env: ['NOEQUALS'] }), TypeError);
  assert.throws(
    () => generateSpec({ args: ['x'], binds: [{ source: 'rel', destination: '/x' }] }),
    TypeError,
  );
  assert.throws(
    () => generateSpec({ args: ['x'], binds: [{ source: '/x', destination: 'rel' }] }),
    TypeError,
  );
});

test('the returned spec shares no arrays with the inputs or the defaults', () => {
  const args = ['a'];
  const a = generateSpec({ args });
  args.push('b');
  a.linux.maskedPaths.push('/x');
  a.process.capabilities.bounding.push('CAP_SYS_ADMIN');
  const b = generateSpec({ args: ['a'] });
  assert.deepEqual(a.process.args, ['a']);
  assert.ok(!b.linux.maskedPaths.includes('/x'));
  assert.ok(!b.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  assert.ok(!DEFAULT_CAPABILITIES.includes('CAP_SYS_ADMIN'));
});

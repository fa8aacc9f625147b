import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ownDeviceCgroup } from '../../../src/runtime/native-runtime.js';
import { parseMountInfo } from '../../../src/sys/index.js';

const MOUNTS = parseMountInfo(
  [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n'),
);

test('device cgroup: our own, found through /proc/self/cgroup and the mount table', () => {
  assert.deepEqual(ownDeviceCgroup('5:devices:/\n4:memory:/x\n0::/\n', MOUNTS), {
    dir: '/sys/fs/cgroup/devices',
  });
  assert.deepEqual(ownDeviceCgroup('5:devices:/ci/job-1\n', MOUNTS), {
    dir: '/sys/fs/cgroup/devices/ci/job-1',
  });
  // A container's view: the mount shows /docker/abc of the hierarchy, and we live below it.
  const partial = parseMountInfo(
    '36 31 0:33 /docker/abc /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices',
  );
  assert.deepEqual(ownDeviceCgroup('5:devices:/docker/abc/sub\n', partial), {
    dir: '/sys/fs/cgroup/devices/sub',
  });
  assert.match(
    (ownDeviceCgroup('5:devices:/elsewhere\n', partial) as { reason: string }).reason,
    /outside the mounted \/docker\/abc/,
  );
});

test('device cgroup: a cgroup v2 host, or no device controller mounted, is named as the reason', () => {
  assert.match((ownDeviceCgroup('0::/user.slice\n', MOUNTS) as { reason: string }).reason, /cgroup v2/);
  const none = parseMountInfo('31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755');
  assert.match((ownDeviceCgroup('5:devices:/\n', none) as { reason: string }).reason, /not mounted/);
});

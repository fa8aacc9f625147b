import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  clampRlimits,
  generateSpec,
  hasCapability,
  hostHardLimits,
  parseVersion,
  recordMountStubs,
  removeMountStubs,
  secureJoin,
  Tail,
} from '../../../src/runtime/index.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max stack size            8388608              unlimited            bytes
Max processes             unlimited            unlimited            processes
Max open files            20000                20000                files
`;

test('rlimits are clamped to our hard limit unless we hold CAP_SYS_RESOURCE', () => {
  const spec = generateSpec({ args: ['x'] });
  const without = 'CapEff:\t000001fffeffffff\n'; // bit 24 (CAP_SYS_RESOURCE) clear
  const with_ = 'CapEff:\t000001ffffffffff\n';
  assert.equal(hasCapability(24, without), false);
  assert.equal(hasCapability(24, with_), true);
  assert.deepEqual(hostHardLimits(LIMITS), new Map([['RLIMIT_NOFILE', 20000]]));
  assert.deepEqual(clampRlimits(spec, without, LIMITS).process.rlimits, [
    { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 },
  ]);
  assert.equal(clampRlimits(spec, with_, LIMITS), spec);
  assert.deepEqual(spec.process.rlimits[0]?.hard, 1048576, 'the input spec is not modified');
});

test('parseVersion reads runc and crun --version output', () => {
  assert.equal(parseVersion('runc version 1.1.5+ds1\ncommit: 1.1.5\nspec: 1.0.2-dev\n'), '1.1.5+ds1');
  assert.equal(parseVersion('crun version 1.8.1\ncommit: abc\n+SYSTEMD +SELINUX'), '1.8.1');
  assert.equal(parseVersion('nothing'), undefined);
});

test('Tail keeps the last lines within its byte budget', () => {
  const tail = new Tail(64);
  for (let i = 1; i <= 100; i++) tail.push(Buffer.from(`line${i}\n`));
  assert.equal(tail.text(3), 'line98\nline99\nline100');
  assert.ok(tail.text(100).length <= 64);
  const small = new Tail();
  small.push(Buffer.from('a\nb'));
  small.push(Buffer.from('c\n'));
  assert.equal(small.text(), 'a\nbc');
  assert.equal(new Tail().text(), '');
});

test('secureJoin keeps symlinks inside the root', async () => {
  const root = await mkdtemp(join(tmpdir(), 'strata-securejoin-'));
  try {
    await mkdir(join(root, 'real'));
    await symlink('/etc', join(root, 'abs'));
    await symlink('../../../../..', join(root, 'up'));
    await symlink('real', join(root, 'rel'));
    await symlink('loop2', join(root, 'loop1'));
    await symlink('loop1', join(root, 'loop2'));
    assert.equal(await secureJoin(root, '/abs/hosts'), join(root, 'etc', 'hosts'));
    assert.equal(await secureJoin(root, '/up/etc/passwd'), join(root, 'etc', 'passwd'));
    assert.equal(await secureJoin(root, '/rel/x'), join(root, 'real', 'x'));
    assert.equal(await secureJoin(root, '/../../x'), join(root, 'x'));
    await assert.rejects(secureJoin(root, '/loop1'), /too many symlinks/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('mount stubs: created mount points are removed, real content and parent times are kept', async () => {
  const root = await mkdtemp(join(tmpdir(), 'strata-stubs-'));
  try {
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc', 'hosts'), 'existing');
    await utimes(join(root, 'etc'), 1000, 1000);
    await utimes(root, 2000, 2000);
    const stubs = await recordMountStubs(root, [
      '/etc/hosts',
      '/etc/resolv.conf',
      '/proc',
      '/var/cache/x',
      '/work/keep',
    ]);
    assert.deepEqual(
      stubs.missing.sort(),
      [
        join(root, 'etc', 'resolv.conf'),
        join(root, 'proc'),
        join(root, 'var'),
        join(root, 'var', 'cache'),
        join(root, 'var', 'cache', 'x'),
        join(root, 'work'),
        join(root, 'work', 'keep'),
      ].sort(),
    );
    // What a runtime would create, plus real output of the step in /work.
    await writeFile(join(root, 'etc', 'resolv.conf'), '');
    await mkdir(join(root, 'proc'));
    await mkdir(join(root, 'var', 'cache', 'x'), { recursive: true });
    await mkdir(join(root, 'work', 'keep'), { recursive: true });
    await writeFile(join(root, 'work', 'output'), 'made by the step');
    await removeMountStubs(stubs);
    assert.deepEqual((await readdir(root)).sort(), ['etc', 'work']);
    assert.deepEqual(await readdir(join(root, 'etc')), ['hosts']);
    assert.deepEqual(await readdir(join(root, 'work')), ['output']);
    assert.equal((await stat(join(root, 'etc'))).mtimeMs, 1000_000);
    assert.equal((await stat(root)).mtimeMs, 2000_000);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

// One conformance suite for every Snapshotter (containerd's core/snapshots/testsuite idea):
// the lifecycle rules, the records, the mounts and the change sets must agree between the
// overlay and copy backings.

import assert from 'node:assert/strict';
import { mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BuilderError } from '../../src/errors.js';
import { type Change, type Snapshotter, withMounted } from '../../src/snapshot/index.js';
import { mountsBelow, skipIf, tempRoot } from './prereqs.js';

function code(err: unknown): string | undefined {
  return err instanceof BuilderError ? err.code : undefined;
}

export function summarize(changes: Change[]): string[] {
  return changes.map((c) => `${c.kind} ${c.path}`);
}

export function snapshotterSuite(
  name: string,
  make: (root: string) => Snapshotter,
  reason: () => Promise<string | undefined>,
): void {
  describe(`snapshotter suite: ${name}`, () => {
    const withRoot = async (
      t: TestContext,
      fn: (s: Snapshotter, root: string) => Promise<void>,
    ): Promise<void> => {
      if (skipIf(t, await reason())) return;
      const root = await tempRoot(`strata-snap-${name}-`);
      try {
        await fn(make(root.path), root.path);
      } finally {
        await root.cleanup();
      }
    };

    it('prepare, write, commit: the key becomes a committed name', (t) =>
      withRoot(t, async (s) => {
        const mounts = await s.prepare('k1', [], { labels: { purpose: 'test' } });
        assert.equal(mounts.length, 1);
        assert.equal(mounts[0]?.type, 'bind');
        const active = await s.stat('k1');
        assert.equal(active.kind, 'active');
        assert.deepEqual(active.parents, []);
        assert.deepEqual(active.labels, { purpose: 'test' });
        await writeFile(join(active.dir, 'a'), 'A');
        const committed = await s.commit('layer-1', 'k1');
        assert.equal(committed.kind, 'committed');
        assert.equal(committed.id, active.id);
        assert.equal(committed.dir, active.dir);
        assert.equal(await s.find('k1'), undefined);
        assert.equal((await s.stat('layer-1')).kind, 'committed');
        assert.equal(await readFile(join(committed.dir, 'a'), 'utf8'), 'A');
        assert.deepEqual(
          (await s.list()).map((i) => [i.name, i.kind]),
          [['layer-1', 'committed']],
        );
      }));

    it('keys and names are exclusive, also under concurrent prepares', (t) =>
      withRoot(t, async (s) => {
        await s.prepare('k');
        await assert.rejects(s.prepare('k'), (e) => code(e) === 'EEXIST');
        await s.commit('n', 'k');
        await assert.rejects(s.prepare('n'), (e) => code(e) === 'EEXIST');
        await s.prepare('k2');
        await assert.rejects(s.commit('n', 'k2'), (e) => code(e) === 'EEXIST');
        const results = await Promise.allSettled(Array.from({ length: 6 }, () => s.prepare('race', ['n'])));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        for (const r of results) if (r.status === 'rejected') assert.equal(code(r.reason), 'EEXIST');
        // The losers left no directories behind.
        const ids = new Set((await s.list()).map((i) => i.id));
        const { readdir } = await import('node:fs/promises');
        assert.deepEqual((await readdir(join(s.root, 'snapshots'))).sort(), [...ids].sort());
      }));

    it('rejects what the lifecycle forbids', (t) =>
      withRoot(t, async (s) => {
        await assert.rejects(s.prepare('x', ['missing']), (e) => code(e) === 'ENOTFOUND');
        await s.prepare('active');
        await assert.rejects(s.prepare('x', ['active']), (e) => code(e) === 'EINVAL');
        await s.commit('base', 'active');
        await assert.rejects(s.mounts('base'), (e) => code(e) === 'EINVAL');
        await assert.rejects(s.commit('n2', 'base'), (e) => code(e) === 'EINVAL');
        await s.view('v', ['base']);
        await assert.rejects(s.commit('n3', 'v'), (e) => code(e) === 'EINVAL');
        await assert.rejects(s.stat(''), (e) => code(e) === 'EINVAL');
        await assert.rejects(s.remove('nothing'), (e) => code(e) === 'ENOTFOUND');
      }));

    it('stacks: parents given as the top name or in full resolve to the same chain', (t) =>
      withRoot(t, async (s) => {
        await s.prepare('k1');
        await writeFile(join((await s.stat('k1')).dir, 'one'), '1');
        await s.commit('l1', 'k1');
        await s.prepare('k2', ['l1']);
        const k2 = await s.stat('k2');
        assert.deepEqual(k2.parents, ['l1']);
        await writeFile(join(k2.dir, 'two'), '2');
        await s.commit('l2', 'k2');
        await s.prepare('top-only', ['l2']);
        await s.prepare('full', ['l1', 'l2']);
        assert.deepEqual((await s.stat('top-only')).parents, ['l1', 'l2']);
        assert.deepEqual((await s.stat('full')).parents, ['l1', 'l2']);
        assert.deepEqual(await s.mounts('top-only'), await s.mounts('top-only'));
        const m = await s.mounts('top-only');
        if (s.kind === 'overlay') {
          assert.equal(m[0]?.type, 'overlay');
          const lower = m[0]?.options.find((o) => o.startsWith('lowerdir='));
          assert.equal(lower, `lowerdir=${(await s.stat('l2')).dir}:${(await s.stat('l1')).dir}`);
        } else {
          // A copy holds the whole tree.
          const dir = (await s.stat('top-only')).dir;
          assert.equal(await readFile(join(dir, 'one'), 'utf8'), '1');
          assert.equal(await readFile(join(dir, 'two'), 'utf8'), '2');
        }
        const view = await s.view('v', ['l2']);
        assert.ok(view[0]?.options.includes('ro') || view[0]?.type === 'overlay');
      }));

    it('remove refuses a parent in use, then removes child and parent', (t) =>
      withRoot(t, async (s) => {
        await s.prepare('k');
        await s.commit('base', 'k');
        await s.prepare('child', ['base']);
        await assert.rejects(s.remove('base'), (e) => code(e) === 'EPRECONDITION');
        const child = await s.stat('child');
        await s.remove('child');
        const { existsSync } = await import('node:fs');
        assert.equal(existsSync(child.dir), false);
        await s.remove('base');
        assert.deepEqual(await s.list(), []);
      }));

    it('usage counts one snapshot and all of them', (t) =>
      withRoot(t, async (s) => {
        await s.prepare('k');
        const dir = (await s.stat('k')).dir;
        await writeFile(join(dir, 'big'), Buffer.alloc(64 * 1024, 1));
        const one = await s.usage('k');
        assert.ok(one.size >= 64 * 1024, `size ${one.size}`);
        assert.equal(one.inodes, 2); // the directory and the file
        const all = await s.usage();
        assert.ok(all.size >= one.size);
      }));

    it('cleanup removes orphan directories and half-done records, not live snapshots', (t) =>
      withRoot(t, async (s, root) => {
        await s.prepare('live');
        await mkdir(join(root, 'snapshots', 'deadbeef0000', 'fs'), { recursive: true });
        await writeFile(join(root, 'metadata', '.tmp-0123'), '{}');
        const young = await s.cleanup();
        assert.deepEqual(young.removed, []); // too young by default
        const { removed } = await s.cleanup({ minAgeMs: 0 });
        assert.equal(removed.length, 2);
        const live = await s.stat('live');
        const { existsSync } = await import('node:fs');
        assert.ok(existsSync(live.dir));
        assert.equal(existsSync(join(root, 'snapshots', 'deadbeef0000')), false);
      }));

    it('changes of an active snapshot: added, modified, deleted, replaced directory', (t) =>
      withRoot(t, async (s, root) => {
        await s.prepare('k');
        const base = (await s.stat('k')).dir;
        await mkdir(join(base, 'etc'));
        await writeFile(join(base, 'etc', 'old'), 'old');
        await writeFile(join(base, 'etc', 'keep'), 'keep');
        await mkdir(join(base, 'dir', 'sub'), { recursive: true });
        await writeFile(join(base, 'dir', 'sub', 'f'), 'f');
        await mkdir(join(base, 'd3'));
        await writeFile(join(base, 'd3', 'keep'), 'k');
        await writeFile(join(base, 'mod'), 'before');
        await s.commit('base', 'k');
        const mounts = await s.prepare('step', ['base']);
        await withMounted(mounts, join(root, 'mnt'), async (target) => {
          await writeFile(join(target, 'new'), 'hi');
          await unlink(join(target, 'etc', 'old'));
          await rm(join(target, 'dir'), { recursive: true });
          await rm(join(target, 'd3'), { recursive: true });
          await mkdir(join(target, 'd3'));
          await writeFile(join(target, 'd3', 'n'), 'n');
          await writeFile(join(target, 'mod'), 'after!');
        });
        assert.deepEqual(mountsBelow(root), []);
        const changes = summarize(await s.changes('step'));
        const expected =
          s.kind === 'overlay'
            ? [
                'changed d3',
                'opaque d3',
                'changed d3/n',
                'whiteout dir',
                'changed etc',
                'whiteout etc/old',
                'changed mod',
                'changed new',
              ]
            : [
                'changed d3',
                'whiteout d3/keep',
                'changed d3/n',
                'whiteout dir',
                'changed etc',
                'whiteout etc/old',
                'changed mod',
                'changed new',
              ];
        assert.deepEqual(changes, expected);
      }));

    it('commit and remove refuse a mounted snapshot; withMounted unmounts on throw', (t) =>
      withRoot(t, async (s, root) => {
        await s.prepare('k');
        await s.commit('base', 'k');
        const mounts = await s.prepare('step', ['base']);
        const target = join(root, 'mnt');
        await assert.rejects(
          withMounted(mounts, target, async () => {
            await assert.rejects(s.commit('n', 'step'), (e) => code(e) === 'EPRECONDITION');
            await assert.rejects(s.remove('step'), (e) => code(e) === 'EPRECONDITION');
            throw new Error('step failed');
          }),
          /step failed/,
        );
        assert.deepEqual(mountsBelow(root), []);
        await s.commit('n', 'step');
      }));
  });
}

// OCI whiteouts applied layer after layer, and the overlayfs form for snapshot directories.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { extractLayer, whiteoutByHardlink } from '../../../src/archive/extract.js';
import { isBuilderError } from '../../../src/errors.js';
import { bytesOf, makeTar, type TarSpec, withTempDir } from '../../helpers/make-tar.js';

const isRoot = process.getuid?.() === 0;

async function listTree(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(root, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, p));
    out.push(st.isDirectory() ? `${p}/` : p);
    if (st.isDirectory()) out.push(...(await listTree(root, p)));
  }
  return out;
}

const base: TarSpec[] = [
  { path: 'etc/' },
  { path: 'etc/passwd', body: 'root' },
  { path: 'etc/motd', body: 'hi' },
  { path: 'var/' },
  { path: 'var/cache/' },
  { path: 'var/cache/a', body: 'a' },
  { path: 'var/cache/sub/b', body: 'b' },
  { path: 'opt/app/bin', body: 'bin' },
];

describe("whiteouts: 'apply' (layer after layer onto one tree)", () => {
  test('.wh.<name> deletes files and whole directories of lower layers', async () => {
    await withTempDir(async (root) => {
      await extractLayer(bytesOf(makeTar(base)), root);
      await extractLayer(
        bytesOf(makeTar([{ path: 'etc/.wh.motd' }, { path: '.wh.opt' }, { path: 'etc/.wh.never-existed' }])),
        root,
      );
      assert.deepEqual(await listTree(root), [
        'etc/',
        'etc/passwd',
        'var/',
        'var/cache/',
        'var/cache/a',
        'var/cache/sub/',
        'var/cache/sub/b',
      ]);
    });
  });

  test(".wh..wh..opq hides lower content but keeps this layer's, wherever the marker sits", async () => {
    for (const markerFirst of [true, false]) {
      await withTempDir(async (root) => {
        await extractLayer(bytesOf(makeTar(base)), root);
        const marker: TarSpec = { path: 'var/cache/.wh..wh..opq' };
        const upper: TarSpec[] = [
          { path: 'var/cache/' },
          { path: 'var/cache/new', body: 'n' },
          { path: 'var/cache/sub/c', body: 'c' },
        ];
        const layer = markerFirst ? [upper[0]!, marker, ...upper.slice(1)] : [...upper, marker];
        await extractLayer(bytesOf(makeTar(layer)), root);
        assert.deepEqual(
          (await listTree(root)).filter((p) => p.startsWith('var/')),
          ['var/', 'var/cache/', 'var/cache/new', 'var/cache/sub/', 'var/cache/sub/c'],
          `marker first: ${markerFirst}`,
        );
      });
    }
  });

  test('a whiteout does not delete what the same layer created', async () => {
    await withTempDir(async (root) => {
      await extractLayer(bytesOf(makeTar([{ path: 'f', body: 'this layer' }, { path: '.wh.f' }])), root);
      assert.equal(await readFile(join(root, 'f'), 'utf8'), 'this layer');
    });
  });

  test('a whiteout under a missing or non-directory parent is a no-op', async () => {
    await withTempDir(async (root) => {
      await writeFile(join(root, 'file'), 'f');
      await extractLayer(bytesOf(makeTar([{ path: 'missing/.wh.x' }, { path: 'file/.wh.x' }])), root);
      assert.deepEqual(await listTree(root), ['file']);
    });
  });

  test('reserved .wh..wh.* names are skipped with a warning', async () => {
    await withTempDir(async (root) => {
      const r = await extractLayer(
        bytesOf(makeTar([{ path: '.wh..wh.plnk/', type: 'dir' }, { path: '.wh..wh.aufs' }])),
        root,
      );
      assert.deepEqual(await readdir(root), []);
      assert.deepEqual(
        r.warnings.map((w) => w.code),
        ['whiteout-meta-skipped', 'whiteout-meta-skipped'],
      );
    });
  });
});

describe("whiteouts: 'overlay' (overlayfs form for a snapshot directory)", () => {
  test('whiteouts via whiteoutByHardlink(seed), opaque dirs via makeOpaque', {
    skip: !isRoot && 'mknod needs root',
  }, async () => {
    await withTempDir(async (dir) => {
      const seed = join(dir, 'seed');
      execFileSync('mknod', [seed, 'c', '0', '0']); // tests may mknod; src/ never does
      const root = join(dir, 'snapshot');
      await (await import('node:fs/promises')).mkdir(root);
      const opaque: string[] = [];
      await extractLayer(
        bytesOf(
          makeTar([
            { path: 'etc/' },
            { path: 'etc/.wh.motd' },
            { path: '.wh.opt' },
            { path: 'var/cache/.wh..wh..opq' },
            { path: 'var/cache/new', body: 'n' },
          ]),
        ),
        root,
        {
          whiteouts: 'overlay',
          makeWhiteout: whiteoutByHardlink(seed),
          makeOpaque: async (d) => void opaque.push(d),
        },
      );
      for (const p of ['etc/motd', 'opt']) {
        const st = await lstat(join(root, p));
        assert.ok(st.isCharacterDevice() && st.rdev === 0, p);
      }
      assert.equal((await lstat(seed)).nlink, 3);
      assert.deepEqual(opaque, [join(root, 'var', 'cache')]);
      assert.ok(existsSync(join(root, 'var', 'cache', 'new')));
    });
  });

  test('without makeWhiteout / makeOpaque it is EPRECONDITION', async () => {
    await withTempDir(async (root) => {
      await assert.rejects(
        extractLayer(bytesOf(makeTar([{ path: '.wh.x' }])), root, { whiteouts: 'overlay' }),
        (e) => isBuilderError(e) && e.code === 'EPRECONDITION' && /mknod/.test(e.message),
      );
      await assert.rejects(
        extractLayer(bytesOf(makeTar([{ path: 'd/.wh..wh..opq' }])), root, { whiteouts: 'overlay' }),
        (e) => isBuilderError(e) && e.code === 'EPRECONDITION',
      );
    });
  });

  test('whiteoutByHardlink refuses a seed that is not a 0:0 character device', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'not-a-device'), '');
      const make = whiteoutByHardlink(join(dir, 'not-a-device'));
      await assert.rejects(make(join(dir, 'w')), (e) => isBuilderError(e) && e.code === 'EPRECONDITION');
      await assert.rejects(
        whiteoutByHardlink(join(dir, 'missing'))(join(dir, 'w')),
        (e) => isBuilderError(e) && e.code === 'EPRECONDITION',
      );
    });
  });
});

test("whiteouts: 'keep' writes the markers as plain files", async () => {
  await withTempDir(async (root) => {
    await writeFile(join(root, 'x'), 'x');
    await extractLayer(bytesOf(makeTar([{ path: '.wh.x' }, { path: 'd/.wh..wh..opq' }])), root, {
      whiteouts: 'keep',
    });
    assert.deepEqual(await listTree(root), ['.wh.x', 'd/', 'd/.wh..wh..opq', 'x']);
  });
});

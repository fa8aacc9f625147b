// performCopy on a plain directory standing in for the rootfs: what COPY/ADD leave on disk
// (contents, types, modes, owners, mtimes), conflicts between what is there and what comes,
// and that a destination is resolved inside the rootfs, through symlinks the image has or the
// copy itself makes, never outside it. Needs root (chown).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  link,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type CopySpec,
  followSourceLinks,
  makeDirectories,
  performCopy,
} from '../../src/build/steps/copy.js';
import { selectSources } from '../../src/context/sources.js';
import { tarEntry } from '../helpers/make-tar.js';
import { mountReason, skipIf } from './prereqs.js';

const reason = mountReason();
const T_SRC = 1_600_000_000; // mtime given to context entries
const NOW = new Date(1_700_000_000_000);
const NOW_S = NOW.getTime() / 1000;

let scratch: string;
let n = 0;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'strata-build-copy-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

type Node =
  | string
  | { file: string; mode?: number; uid?: number; gid?: number }
  | { dir: true; mode?: number; uid?: number; gid?: number }
  | { link: string }
  | { hardlink: string };

/** Writes `nodes` under a new directory (parents first), every entry with mtime T_SRC. */
async function makeTree(nodes: Record<string, Node>): Promise<string> {
  const root = join(scratch, `t${n++}`);
  await mkdir(root);
  const made: string[] = [];
  for (const [path, node] of Object.entries(nodes)) {
    const abs = join(root, path);
    await mkdir(dirname(abs), { recursive: true });
    if (typeof node === 'string') await writeFile(abs, node);
    else if ('file' in node) await writeFile(abs, node.file);
    else if ('dir' in node) await mkdir(abs, { recursive: true });
    else if ('link' in node) await symlink(node.link, abs);
    else await link(join(root, node.hardlink), abs);
    if (typeof node === 'object' && ('file' in node || 'dir' in node)) {
      // chown first: it clears setuid/setgid.
      await chown(abs, node.uid ?? 0, node.gid ?? 0);
      if (node.mode !== undefined) await chmod(abs, node.mode);
    }
    made.push(abs);
  }
  // Deepest first, so setting a child's time does not disturb its parent's afterwards.
  for (const abs of made.sort((a, b) => b.length - a.length)) await lutimes(abs, T_SRC, T_SRC);
  return root;
}

async function copy(
  rootfs: string,
  context: string,
  sources: string[],
  dest: string,
  extra: Partial<CopySpec> = {},
): Promise<void> {
  const selected = await followSourceLinks(context, await selectSources(context, sources, []), []);
  await performCopy(rootfs, {
    dest,
    selected,
    heredocs: [],
    exclude: [],
    parents: false,
    keepOwner: false,
    unpackArchives: false,
    downloads: [],
    now: NOW,
    ...extra,
  });
}

/** `type mode uid:gid mtime` of an entry (not following a link), e.g. `file 640 0:0 1600000000`. */
async function seen(path: string, withTime = true): Promise<string> {
  const st = await lstat(path);
  const type = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
  const text = `${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  return withTime ? `${text} ${Math.floor(st.mtimeMs / 1000)}` : text;
}

const emptyRootfs = () => makeTree({});

/** `size` bytes that differ along the way (a misplaced chunk shows). */
function bigText(size: number): string {
  let text = '';
  for (let i = 0; text.length < size; i++) text += `${i} `;
  return text.slice(0, size);
}

describe('COPY into a rootfs (performCopy)', { concurrency: false }, () => {
  test("a directory's tree: contents, modes (setuid kept although the owner changes), owner 0:0, the source's mtimes, links as links, hardlinks as separate files", async (t) => {
    if (skipIf(t, reason)) return;
    const context = await makeTree({
      'files/a.txt': { file: 'a', mode: 0o640, uid: 1234, gid: 5678 },
      'files/sub/run.sh': { file: '#!/bin/sh\n', mode: 0o4755 },
      'files/sub/deep/c': { file: 'c', mode: 0o600 },
      'files/sub': { dir: true, mode: 0o750, uid: 1234, gid: 5678 },
      'files/empty': { dir: true, mode: 0o710 },
      'files/link': { link: 'a.txt' },
      'files/h1': 'same inode',
      'files/h2': { hardlink: 'files/h1' },
      // Around the size where copies move to the thread pool (256 KiB).
      'files/k256': { file: bigText(256 * 1024), mode: 0o751 },
      'files/k256plus': { file: bigText(256 * 1024 + 1), mode: 0o2755, uid: 7, gid: 7 },
      'files/m3': { file: bigText(3 * 1024 * 1024 + 5), mode: 0o600 },
    });
    const rootfs = await emptyRootfs();
    await copy(rootfs, context, ['files/'], '/out/deep/');
    const out = join(rootfs, 'out/deep');
    assert.deepEqual((await readdir(out)).sort(), [
      'a.txt',
      'empty',
      'h1',
      'h2',
      'k256',
      'k256plus',
      'link',
      'm3',
      'sub',
    ]);
    const sized: [string, string][] = [
      ['k256', '751'],
      ['k256plus', '2755'],
      ['m3', '600'],
    ];
    for (const [name, mode] of sized) {
      assert.ok((await readFile(join(out, name))).equals(await readFile(join(context, 'files', name))), name);
      assert.equal(await seen(join(out, name)), `file ${mode} 0:0 ${T_SRC}`, name);
    }
    assert.equal(await readFile(join(out, 'a.txt'), 'utf8'), 'a');
    assert.equal(await seen(join(out, 'a.txt')), `file 640 0:0 ${T_SRC}`);
    assert.equal(await seen(join(out, 'sub/run.sh')), `file 4755 0:0 ${T_SRC}`);
    assert.equal(await readFile(join(out, 'sub/deep/c'), 'utf8'), 'c');
    assert.equal(await seen(join(out, 'sub/deep/c')), `file 600 0:0 ${T_SRC}`);
    assert.equal(await seen(join(out, 'sub'), false), 'dir 750 0:0');
    assert.equal(await seen(join(out, 'empty')), `dir 710 0:0 ${T_SRC}`);
    assert.equal(await readlink(join(out, 'link')), 'a.txt');
    assert.equal(await seen(join(out, 'link')), `link 777 0:0 ${T_SRC}`);
    const [h1, h2] = [await lstat(join(out, 'h1')), await lstat(join(out, 'h2'))];
    assert.equal(h1.nlink, 1);
    assert.notEqual(h1.ino, h2.ino);
    assert.equal(await readFile(join(out, 'h2'), 'utf8'), 'same inode');
    // Directories the copy makes for the destination: 0755, root's.
    for (const d of ['out', 'out/deep']) {
      assert.equal(await seen(join(rootfs, d), false), 'dir 755 0:0', d);
    }
  });

  test('COPY --from keeps owners; --chown and --chmod override them (links keep 0777); WORKDIR makes owned directories', async (t) => {
    if (skipIf(t, reason)) return;
    const context = await makeTree({
      'src/f': { file: 'f', mode: 0o644, uid: 1234, gid: 5678 },
      'src/d': { dir: true, mode: 0o755, uid: 1234, gid: 5678 },
      'src/d/g': { file: 'g', mode: 0o755, uid: 42, gid: 43 },
      'src/l': { link: 'f' },
    });
    const rootfs = await emptyRootfs();
    await copy(rootfs, context, ['src'], '/kept', { keepOwner: true });
    assert.equal(await seen(join(rootfs, 'kept/f')), `file 644 1234:5678 ${T_SRC}`);
    assert.equal(await seen(join(rootfs, 'kept/d/g')), `file 755 42:43 ${T_SRC}`);

    await copy(rootfs, context, ['src'], '/owned/x/', { chown: '4321:8765', chmod: 0o600 });
    for (const p of ['owned', 'owned/x']) {
      assert.equal(await seen(join(rootfs, p), false), 'dir 755 4321:8765', p);
    }
    assert.equal(await seen(join(rootfs, 'owned/x/f')), `file 600 4321:8765 ${T_SRC}`);
    assert.equal(await seen(join(rootfs, 'owned/x/d'), false), 'dir 600 4321:8765');
    assert.equal(await seen(join(rootfs, 'owned/x/l')), `link 777 4321:8765 ${T_SRC}`);

    await makeDirectories(rootfs, '/work/dir', { uid: 7, gid: 8 }, NOW);
    assert.equal(await seen(join(rootfs, 'work/dir')), `dir 755 7:8 ${NOW_S}`);
  });

  test('conflicts: a file replaces a directory, a directory replaces a file, an existing directory is merged and takes the source metadata; a file in the way of the destination is an error', async (t) => {
    if (skipIf(t, reason)) return;
    const rootfs = await makeTree({
      'dst/x/old': 'old',
      'dst/y': 'a file',
      'dst/z': { dir: true, mode: 0o700, uid: 9, gid: 9 },
      'dst/z/keep.txt': 'kept',
      blocked: 'a file',
    });
    const context = await makeTree({
      'src/x': 'now a file',
      'src/y/f': 'now a dir',
      'src/z': { dir: true, mode: 0o751 },
      'src/z/new.txt': 'new',
    });
    await copy(rootfs, context, ['src/'], '/dst/');
    assert.equal(await readFile(join(rootfs, 'dst/x'), 'utf8'), 'now a file');
    assert.equal(await readFile(join(rootfs, 'dst/y/f'), 'utf8'), 'now a dir');
    assert.deepEqual((await readdir(join(rootfs, 'dst/z'))).sort(), ['keep.txt', 'new.txt']);
    assert.equal(await seen(join(rootfs, 'dst/z'), false), 'dir 751 0:0');
    await assert.rejects(
      copy(rootfs, context, ['src/x'], '/blocked/sub/'),
      /\/blocked exists and is not a directory/,
    );
  });

  test("a destination is resolved through the image's symlinks inside the rootfs, a final symlink included, never outside it", async (t) => {
    if (skipIf(t, reason)) return;
    const outside = await mkdtemp(join(scratch, 'outside-'));
    const rootfs = await makeTree({
      tlink: { link: outside },
      up: { link: '../../../../../../../../..' },
      'etc/real.txt': 'old',
      'etc/file-link': { link: '/etc/real.txt' },
    });
    const context = await makeTree({ 'a.txt': 'a', 'dir/b.txt': 'b' });
    // The link's target exists on the host; inside the rootfs only its parent does.
    await mkdir(join(rootfs, dirname(outside)), { recursive: true });
    await copy(rootfs, context, ['a.txt'], '/tlink/');
    await copy(rootfs, context, ['dir'], '/up/tree/');
    await copy(rootfs, context, ['a.txt'], '/etc/file-link');
    assert.deepEqual(await readdir(outside), []);
    assert.equal(await readFile(join(rootfs, outside, 'a.txt'), 'utf8'), 'a');
    assert.equal(await readFile(join(rootfs, 'tree/b.txt'), 'utf8'), 'b');
    assert.equal(await readlink(join(rootfs, 'etc/file-link')), '/etc/real.txt');
    assert.equal(await readFile(join(rootfs, 'etc/real.txt'), 'utf8'), 'a');
  });

  test('a symlink one source puts where another made a directory is followed by the sources after it, inside the rootfs', async (t) => {
    if (skipIf(t, reason)) return;
    const outside = await mkdtemp(join(scratch, 'outside-'));
    const rootfs = await emptyRootfs();
    const context = await makeTree({
      's1/x/one': '1',
      's1/y/one': '1',
      's2/x': { link: outside },
      's2/y': { link: `../../../../../../../..${outside}` },
      's3/x/f': 'f',
      's3/y/g': 'g',
    });
    await copy(rootfs, context, ['s1/', 's2/', 's3/'], '/d/');
    assert.deepEqual(await readdir(outside), []);
    assert.equal(await readlink(join(rootfs, 'd/x')), outside);
    assert.match(await seen(join(rootfs, 'd/y')), /^link /);
    assert.deepEqual((await readdir(join(rootfs, outside))).sort(), ['f', 'g']);
  });

  test('--parents: a directory an earlier source made and a later one replaced by a symlink is resolved again, inside the rootfs', async (t) => {
    if (skipIf(t, reason)) return;
    const outside = await mkdtemp(join(scratch, 'outside-'));
    const rootfs = await emptyRootfs();
    await mkdir(join(rootfs, outside), { recursive: true });
    const context = await makeTree({
      's1/x/one': '1',
      's2/x': { link: outside },
      's3/x/f': 'f',
    });
    // s1's x is made a directory, s2's tree puts a symlink there, s3 needs /d/x as a parent.
    await copy(rootfs, context, ['s1/./x', 's2/./', 's3/./x/f'], '/d/', { parents: true });
    assert.deepEqual(await readdir(outside), []);
    assert.equal(await readlink(join(rootfs, 'd/x')), outside);
    assert.deepEqual(await readdir(join(rootfs, outside)), ['f']);
  });

  test('ADD: an archive that puts a symlink where a directory was is followed by the sources after it, inside the rootfs', async (t) => {
    if (skipIf(t, reason)) return;
    const outside = await mkdtemp(join(scratch, 'outside-'));
    const rootfs = await emptyRootfs();
    const context = await makeTree({ 's1/x/one': '1', 's3/x/f': 'f' });
    await writeFile(
      join(context, 'a.tar'),
      Buffer.concat([tarEntry({ path: 'x', type: 'symlink', linkname: outside }), Buffer.alloc(1024)]),
    );
    await copy(rootfs, context, ['s1/', 'a.tar', 's3/'], '/d/', { unpackArchives: true });
    assert.deepEqual(await readdir(outside), []);
    assert.equal(await readlink(join(rootfs, 'd/x')), outside);
    assert.deepEqual(await readdir(join(rootfs, outside)), ['f']);
  });

  test('single files and wildcards into one directory, --parents, --exclude, heredocs (0644, now) and downloads (0600, their mtime)', async (t) => {
    if (skipIf(t, reason)) return;
    const names = Array.from({ length: 30 }, (_, i) => `w${i}.txt`);
    const context = await makeTree({
      ...Object.fromEntries(names.map((f) => [f, f])),
      'p/q/r.txt': 'r',
      'e/keep.txt': 'k',
      'e/skip.md': 's',
      'e/sub/skip.md': 's',
      dl: 'downloaded',
    });
    const rootfs = await emptyRootfs();
    await copy(rootfs, context, ['w*.txt'], '/w/', {
      heredocs: [{ name: 'motd', content: 'hi\n', chomp: false } as CopySpec['heredocs'][number]],
      downloads: [
        { name: 'dl1', file: join(context, 'dl'), mtime: new Date(1_500_000_000_000) },
        { name: 'dl2', file: join(context, 'dl') },
      ],
    });
    assert.deepEqual((await readdir(join(rootfs, 'w'))).sort(), [...names, 'dl1', 'dl2', 'motd'].sort());
    assert.equal(await readFile(join(rootfs, 'w/w7.txt'), 'utf8'), 'w7.txt');
    assert.equal(await seen(join(rootfs, 'w/motd')), `file 644 0:0 ${NOW_S}`);
    assert.equal(await seen(join(rootfs, 'w/dl1')), `file 600 0:0 1500000000`);
    assert.equal(await seen(join(rootfs, 'w/dl2')), `file 600 0:0 ${NOW_S}`);

    await copy(rootfs, context, ['p/q/r.txt'], '/par/', { parents: true });
    assert.equal(await readFile(join(rootfs, 'par/p/q/r.txt'), 'utf8'), 'r');
    assert.equal(await seen(join(rootfs, 'par/p/q'), false), 'dir 755 0:0');

    await copy(rootfs, context, ['e/'], '/e/', { exclude: ['*.md', 'sub'] });
    assert.deepEqual(await readdir(join(rootfs, 'e')), ['keep.txt']);
  });

  test('a tree of 2,000 files over a lower copy of itself: every file rewritten, nothing outside the destination', async (t) => {
    if (skipIf(t, reason)) return;
    const nodes: Record<string, Node> = {};
    for (let i = 0; i < 2000; i++) nodes[`files/d${i % 7}/f${i}`] = `content ${i}`;
    const context = await makeTree(nodes);
    const rootfs = await emptyRootfs();
    await copy(rootfs, context, ['files/'], '/files/');
    for (let i = 0; i < 2000; i += 97) await writeFile(join(context, `files/d${i % 7}/f${i}`), `edited ${i}`);
    await utimes(join(context, 'files/d0/f0'), 1_234_567_890, 1_234_567_890);
    await copy(rootfs, context, ['files/'], '/files/');
    assert.deepEqual(await readdir(rootfs), ['files']);
    let count = 0;
    for (const d of await readdir(join(rootfs, 'files')))
      count += (await readdir(join(rootfs, 'files', d))).length;
    assert.equal(count, 2000);
    for (let i = 0; i < 2000; i += 97) {
      assert.equal(await readFile(join(rootfs, `files/d${i % 7}/f${i}`), 'utf8'), `edited ${i}`);
    }
    assert.equal(await readFile(join(rootfs, 'files/d1/f1'), 'utf8'), 'content 1');
    assert.equal(await seen(join(rootfs, 'files/d0/f0')), 'file 644 0:0 1234567890');
    assert.ok(!existsSync(join(rootfs, 'd0')));
  });
});

// Independent judges of what we write: skopeo and umoci (installed by scripts/install-deps.sh).
// A root filesystem (files, directories, symlinks, a hard link, modes, owners, a long and a
// non-ASCII name) is tarred with GNU tar, imported with the built CLI, saved in both formats,
// then: skopeo inspects and copies both archives, umoci unpacks the OCI one into exactly the
// tree we started from, every document validates against the OCI schemas, and skopeo's own
// re-export loads back into a store that `system check` finds clean. Needs `npm run build`
// (dist/) and root (umoci unpack keeps owners only as root); skips LOUDLY otherwise.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { archiveFiles, jsonFile, validateArchiveDocuments } from '../helpers/archive-files.js';
import { repoRoot } from '../helpers/conformance.js';
import { skipWithoutTools } from '../helpers/image-fixtures.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { skipIf } from './prereqs.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function strata(
  root: string,
  args: string[],
  input?: Buffer,
): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, STRATA_ROOT: root },
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

function mustStrata(root: string, args: string[]): string {
  const r = strata(root, args);
  assert.equal(r.status, 0, `strata ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

function prerequisites(t: TestContext): boolean {
  if (skipWithoutTools(t, 'skopeo', 'umoci', 'tar')) return true;
  if (!existsSync(CLI)) {
    assert.fail(`the built CLI is missing (${CLI}): run npm run build first`);
  }
  if (process.getuid?.() !== 0) {
    return skipIf(t, 'not root: umoci unpack and chown need root');
  }
  return false;
}

const MTIME = new Date('2023-03-04T05:06:07Z');

async function makeRootfs(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'etc'));
  await mkdir(join(dir, 'secret'), { mode: 0o700 });
  await mkdir(join(dir, 'tmp'));
  await chmod(join(dir, 'tmp'), 0o1777);
  await mkdir(
    join(
      dir,
      'usr',
      'share',
      'doc',
      'a-rather-long-directory-name-to-need-pax',
      'and-another-long-component-here',
    ),
    {
      recursive: true,
    },
  );
  await writeFile(join(dir, 'etc', 'hostname'), 'strata\n');
  await writeFile(join(dir, 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await chmod(join(dir, 'bin', 'tool'), 0o4755);
  await link(join(dir, 'bin', 'tool'), join(dir, 'bin', 'tool-hard'));
  await writeFile(join(dir, 'secret', 'key'), randomBytes(64), { mode: 0o600 });
  await chown(join(dir, 'secret', 'key'), 1000, 1000);
  await chown(join(dir, 'secret'), 1000, 1000);
  await writeFile(join(dir, 'usr', 'share', 'doc', 'big.bin'), randomBytes(300 * 1024));
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, 'with space.txt'), 'spaces\n');
  await writeFile(join(dir, 'café-ünïcode.txt'), 'unicode\n');
  await writeFile(
    join(
      dir,
      'usr',
      'share',
      'doc',
      'a-rather-long-directory-name-to-need-pax',
      'and-another-long-component-here',
      'file-with-a-long-name-too.txt',
    ),
    'long path\n',
  );
  await symlink('hostname', join(dir, 'etc', 'link'));
  await symlink('/etc/hostname', join(dir, 'abs-link'));
  await symlink('does/not/exist', join(dir, 'dangling'));
  const files = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await files(p);
      else if (e.isFile()) await utimes(p, MTIME, MTIME);
    }
  };
  await files(dir);
}

interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  content?: string;
  target?: string;
  mtime?: number;
  ino?: number;
}

async function describeTree(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, path);
      const st = await lstat(full);
      const node: Node = { type: '', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isDirectory()) node.type = 'dir';
      else if (st.isSymbolicLink()) {
        node.type = 'symlink';
        node.target = await readlink(full);
        node.mode = 0;
      } else if (st.isFile()) {
        node.type = 'file';
        node.content = createHash('sha256')
          .update(await readFile(full))
          .digest('hex');
        node.mtime = Math.floor(st.mtimeMs / 1000);
        node.ino = st.ino;
      } else node.type = 'other';
      out.set(path, node);
      if (st.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return out;
}

function withoutInodes(tree: Map<string, Node>): Record<string, Node> {
  return Object.fromEntries([...tree].map(([p, n]) => [p, { ...n, ino: undefined }]));
}

describe('skopeo and umoci accept what strata writes', () => {
  it('rootfs → import → save (docker, oci) → skopeo inspect/copy, umoci unpack, schemas, load back', async (t) => {
    if (prerequisites(t)) return;
    const tmp = await makeTempDir('strata-judges-');
    try {
      const rootfs = join(tmp.path, 'rootfs');
      await mkdir(rootfs);
      await makeRootfs(rootfs);
      const tarball = join(tmp.path, 'rootfs.tar');
      execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', tarball, '.']);
      const store = join(tmp.path, 'store');

      const id = mustStrata(store, ['import', '-c', 'CMD ["/bin/tool"]', tarball, 'judge:1']).trim();
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      const dockerTar = join(tmp.path, 'docker.tar');
      const ociTar = join(tmp.path, 'oci.tar');
      mustStrata(store, ['save', '-o', dockerTar, 'judge:1']);
      mustStrata(store, ['save', '--format', 'oci', '-o', ociTar, 'judge:1']);
      const [inspected] = JSON.parse(mustStrata(store, ['inspect', 'judge:1']));

      // Every OCI document we wrote validates against the schemas.
      const dockerFiles = await archiveFiles(await readFile(dockerTar));
      const ociFiles = await archiveFiles(await readFile(ociTar));
      assert.ok((await validateArchiveDocuments(dockerFiles)) >= 4);
      assert.ok((await validateArchiveDocuments(ociFiles)) >= 4);
      assert.deepEqual(jsonFile(dockerFiles, 'manifest.json')[0].RepoTags, ['judge:1']);

      // skopeo reads both archives.
      const fromDocker = JSON.parse(
        execFileSync('skopeo', ['inspect', `docker-archive:${dockerTar}`], { encoding: 'utf8' }),
      );
      assert.deepEqual(fromDocker.Layers, inspected.RootFS.Layers, 'docker-archive layers are the diffIDs');
      assert.equal(fromDocker.Os, 'linux');
      const dockerConfig = JSON.parse(
        execFileSync('skopeo', ['inspect', '--config', `docker-archive:${dockerTar}`], { encoding: 'utf8' }),
      );
      assert.deepEqual(dockerConfig.config.Cmd, ['/bin/tool']);
      const fromOci = JSON.parse(
        execFileSync('skopeo', ['inspect', `oci-archive:${ociTar}:1`], { encoding: 'utf8' }),
      );
      assert.equal(fromOci.Digest, inspected.Descriptor.digest, 'oci-archive: our manifest, as stored');
      const raw = execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${ociTar}:1`]);
      assert.deepEqual(raw, ociFiles.get(`blobs/sha256/${inspected.Descriptor.digest.slice(7)}`));

      // skopeo copies from our archives, and its own re-export loads back into a clean store.
      execFileSync('skopeo', [
        'copy',
        '-q',
        `oci-archive:${ociTar}:1`,
        `oci:${join(tmp.path, 'copy-oci')}:x`,
      ]);
      execFileSync('skopeo', [
        'copy',
        '-q',
        `docker-archive:${dockerTar}`,
        `oci:${join(tmp.path, 'copy-docker')}:y`,
      ]);
      const reexport = join(tmp.path, 'skopeo-export.tar');
      execFileSync('skopeo', [
        'copy',
        '-q',
        `docker-archive:${dockerTar}`,
        `docker-archive:${reexport}:again/judge:2`,
      ]);
      const store2 = join(tmp.path, 'store2');
      assert.match(mustStrata(store2, ['load', '-i', reexport]), /Loaded image: again\/judge:2/);
      assert.equal(mustStrata(store2, ['images', '-q', '--no-trunc', 'again/judge:2']).trim(), id);
      const ociCopyTar = join(tmp.path, 'copy-oci.tar');
      execFileSync('tar', ['-C', join(tmp.path, 'copy-oci'), '-cf', ociCopyTar, '.']);
      assert.match(mustStrata(store2, ['load', '-i', ociCopyTar]), /Loaded image ID: sha256:/);
      assert.match(mustStrata(store2, ['system', 'check']), /no problems found/);

      // umoci unpacks the OCI archive into exactly the tree we imported.
      const layout = join(tmp.path, 'layout');
      await mkdir(layout);
      execFileSync('tar', ['-C', layout, '-xf', ociTar]);
      const bundle = join(tmp.path, 'bundle');
      execFileSync('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
      const want = await describeTree(rootfs);
      const got = await describeTree(join(bundle, 'rootfs'));
      assert.deepEqual(withoutInodes(got), withoutInodes(want));
      assert.equal(
        got.get('bin/tool')?.ino,
        got.get('bin/tool-hard')?.ino,
        'the hard link is still one file',
      );
      assert.equal(got.get('bin/tool')?.mode, 0o4755);
      assert.equal(got.get('tmp')?.mode, 0o1777);
      assert.deepEqual([got.get('secret/key')?.uid, got.get('secret/key')?.gid], [1000, 1000]);
      const runtimeConfig = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
      assert.deepEqual(runtimeConfig.process.args, ['/bin/tool']);
    } finally {
      await tmp.cleanup();
    }
  });
});

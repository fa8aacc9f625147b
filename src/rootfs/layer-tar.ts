// A snapshot's change set → the entries of an OCI layer tar: changed files as they are on
// disk, deletions as `.wh.<name>`, opaque directories as `<dir>/.wh..wh..opq`, files that
// share an inode as hardlinks to the first path written. The markers' headers are Docker's
// (moby's overlay differ, what `docker build` writes): a whiteout is an empty file of mode
// 0600 owned by root; an opaque marker takes its directory's permissions and owner.

import { readlinkSync } from 'node:fs';
import { splitRdev } from '../archive/pack-directory.js';
import { TarArchive, type TarWriterEntry } from '../archive/tar-writer.js';
import type { Change } from '../snapshot/types.js';

function hasKeys(record: object | undefined): record is object {
  for (const _ in record) return true;
  return false;
}

// Synchronous: the tar writer then takes the 5,000 entries of a big COPY without a promise each.
function* entriesOf(changes: readonly Change[]): Generator<TarWriterEntry> {
  /** device → inode → the first path written with it. */
  const firstPathOfInode = new Map<number, Map<number, string>>();
  // The directory an opaque marker belongs to comes just before it.
  let lastDir: { path: string; mode: number; uid: number; gid: number } | undefined;
  for (const c of changes) {
    if (c.kind === 'whiteout') {
      const slash = c.path.lastIndexOf('/');
      const path =
        slash === -1 ? `.wh.${c.path}` : `${c.path.slice(0, slash)}/.wh.${c.path.slice(slash + 1)}`;
      yield { path, type: 'file', mode: 0o600, uid: 0, gid: 0, size: 0, mtime: 0 };
      continue;
    }
    if (c.kind === 'opaque') {
      const dir = lastDir?.path === c.path ? lastDir : { mode: 0o755, uid: 0, gid: 0 };
      yield {
        path: `${c.path}/.wh..wh..opq`,
        type: 'file',
        mode: dir.mode & 0o777,
        uid: dir.uid,
        gid: dir.gid,
        size: 0,
        mtime: 0,
      };
      continue;
    }
    const st = c.stat;
    if (c.type === 'directory') lastDir = { path: c.path, mode: st.mode, uid: st.uid, gid: st.gid };
    // Object literals, not spreads, and xattrs only where there are some: a big COPY's layer
    // is thousands of these (spreads cost bigctx's 5,000 files ~20 ms).
    const xattrs = hasKeys(c.xattrs) ? c.xattrs : undefined;
    const mode = st.mode & 0o7777;
    const mtime = Math.floor(st.mtimeMs / 1000);
    switch (c.type) {
      case 'directory':
        yield { path: c.path, type: 'dir', mode, uid: st.uid, gid: st.gid, mtime, size: 0, xattrs };
        break;
      case 'file': {
        if (st.nlink > 1) {
          let inodes = firstPathOfInode.get(st.dev);
          if (inodes === undefined) {
            inodes = new Map();
            firstPathOfInode.set(st.dev, inodes);
          }
          const first = inodes.get(st.ino);
          if (first !== undefined) {
            yield {
              path: c.path,
              type: 'hardlink',
              mode,
              uid: st.uid,
              gid: st.gid,
              mtime,
              size: 0,
              linkname: first,
              xattrs,
            };
            break;
          }
          inodes.set(st.ino, c.path);
        }
        // Read by the tar writer straight into its output blocks.
        yield {
          path: c.path,
          type: 'file',
          mode,
          uid: st.uid,
          gid: st.gid,
          mtime,
          size: st.size,
          sourcePath: c.source,
          xattrs,
        };
        break;
      }
      case 'symlink':
        // Synchronous: a few µs, where an awaited readlink is a thread-pool round trip (~50 µs):
        // 3,000 links took 0.12-0.37 s to archive awaited.
        yield {
          path: c.path,
          type: 'symlink',
          mode,
          uid: st.uid,
          gid: st.gid,
          mtime,
          size: 0,
          linkname: readlinkSync(c.source),
          xattrs,
        };
        break;
      case 'char':
      case 'block':
      case 'fifo':
        yield {
          path: c.path,
          type: c.type,
          mode,
          uid: st.uid,
          gid: st.gid,
          mtime,
          size: 0,
          ...splitRdev(BigInt(st.rdev)),
          xattrs,
        };
        break;
      default:
        // Sockets cannot be archived; tar tools skip them too.
        break;
    }
  }
}

/**
 * The layer tar of `changes`: the content store has the addon write it straight into the new
 * blob (TarArchive.writeToFile); anything else reads its blocks, recycled ones
 * (archive/block-pool.ts) that the store gives back and a compressor just lets go.
 */
export function changesToTar(
  changes: readonly Change[],
  options: { sourceDateEpoch?: number; signal?: AbortSignal },
): TarArchive {
  return new TarArchive(() => entriesOf(changes), {
    ...(options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch }),
    ...(options.signal ? { signal: options.signal } : {}),
    recycleBlocks: true,
  });
}

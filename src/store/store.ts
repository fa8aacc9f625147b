// The local store: one root directory holding everything Strata keeps between runs.
//
//   <root>/content/     blobs by digest (FsContentStore: blobs/sha256/<hex>, ingest/)
//   <root>/meta/        mutable records (FsMetaStore: v1/names, v1/records/images,
//                       v1/records/layers, v1/cache-index, v1/locks, v1/tmp)
//   <root>/snapshots/   unpacked layers and build state, owned by src/snapshot
//
// Which root to use is the CLI's decision (src/cli/store-root.ts); nothing here reads the
// environment. Opening creates nothing: directories appear with the first write.

import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BuilderError } from '../errors.js';
import type { Platform } from '../oci/types.js';
import { FsContentStore } from './content/fs-content-store.js';
import { ImageStore } from './image-store.js';
import type { LockOptions } from './meta/file-lock.js';
import { FsMetaStore } from './meta/meta-store.js';

export interface StoreOptions {
  /** Defaults for the metadata locks (names, records, gc). */
  lockOptions?: LockOptions;
  /** The platform picked out of multi-platform indexes; default: this machine's. */
  platform?: Platform;
}

export class Store {
  readonly root: string;
  readonly content: FsContentStore;
  readonly meta: FsMetaStore;
  readonly images: ImageStore;
  /** Where src/snapshot keeps its snapshots; the store itself never writes there. */
  readonly snapshotsDir: string;

  private constructor(root: string, options: StoreOptions) {
    this.root = root;
    this.content = new FsContentStore(join(root, 'content'));
    this.meta = new FsMetaStore(
      join(root, 'meta'),
      options.lockOptions === undefined ? {} : { lockOptions: options.lockOptions },
    );
    this.images = new ImageStore(
      this.content,
      this.meta,
      options.platform === undefined ? {} : { platform: options.platform },
    );
    this.snapshotsDir = join(root, 'snapshots');
  }

  /** Opens the store at `root` (made absolute). EINVAL when it exists and is not a directory. */
  static async open(root: string, options: StoreOptions = {}): Promise<Store> {
    if (typeof root !== 'string' || root === '')
      throw new BuilderError('EINVAL', 'store root must be a path');
    const abs = resolve(root);
    try {
      const st = statSync(abs);
      if (!st.isDirectory()) throw new BuilderError('EINVAL', `store root ${abs} is not a directory`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new Store(abs, options);
  }
}

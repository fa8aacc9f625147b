// The metadata store's journal: what a build read and wrote, file by file (the build memo's
// store dependencies), and the listings that make a result impossible to pin that way.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256Of } from '../../../src/digest/digest.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { FsMetaStore } from '../../../src/store/meta/meta-store.js';
import { ReadJournal } from '../../../src/store/meta/read-journal.js';
import { escapeRecordKey } from '../../../src/store/meta/record-store.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

const target = { mediaType: MediaTypes.ociManifest, digest: sha256Of('m'), size: 10 };

describe('ReadJournal on FsMetaStore', () => {
  it('notes names, records and cache buckets read (absent ones too) and written; nothing when off', async () => {
    const dir = await makeTempDir('strata-journal-');
    try {
      const meta = new FsMetaStore(dir.path);
      const nameFile = (n: string) => join(meta.dir, 'names', escapeRecordKey(n));
      await meta.names.set('docker.io/library/a:1', target);
      await meta.cacheIndex.put('k1', { n: 1 });
      const journal = new ReadJournal();
      meta.journal = journal;
      await meta.names.get('docker.io/library/a:1');
      await meta.names.get('docker.io/library/missing:1');
      await meta.cacheIndex.get('k1');
      await meta.cacheIndex.get('k2');
      await meta.cacheIndex.put('k3', { n: 3 });
      const records = meta.records('things', (v) => v);
      await records.put('r', { x: 1 });
      await records.get('r');
      meta.journal = undefined;
      await meta.names.get('docker.io/library/b:1');

      const read = new Map([...journal.read].map(([p, t]) => [p.slice(dir.path.length), t]));
      assert.deepEqual(
        [...read.keys()].sort(),
        [
          nameFile('docker.io/library/a:1'),
          nameFile('docker.io/library/missing:1'),
          meta.cacheIndex.bucketPath('k1'),
          meta.cacheIndex.bucketPath('k2'),
          records.pathOf('r'),
        ]
          .map((p) => p.slice(dir.path.length))
          .sort(),
      );
      assert.equal(journal.read.get(meta.cacheIndex.bucketPath('k2')), undefined);
      assert.match(journal.read.get(meta.cacheIndex.bucketPath('k1')) ?? '', /"k1"/);
      assert.deepEqual(
        [...journal.written].sort(),
        [meta.cacheIndex.bucketPath('k3'), records.pathOf('r')].sort(),
      );
      assert.equal(journal.unreplayable, undefined);
    } finally {
      await dir.cleanup();
    }
  });

  it('a listing that selects makes the journal unreplayable; one that only labels does not', async () => {
    const dir = await makeTempDir('strata-journal-');
    try {
      const meta = new FsMetaStore(dir.path);
      meta.journal = new ReadJournal();
      await meta.names.list({ dependency: false });
      assert.equal(meta.journal.unreplayable, undefined);
      await meta.names.list();
      assert.match(meta.journal.unreplayable ?? '', /listed every image name record/);
    } finally {
      await dir.cleanup();
    }
  });
});

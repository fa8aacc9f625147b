// Choosing a manifest out of an index, platform strings, and where blobs are remembered to be.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Digest } from '../../../src/digest/digest.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import type { Descriptor, Index } from '../../../src/oci/types.js';
import { BlobSources } from '../../../src/registry/blob-sources.js';
import { chooseFromIndex, parsePlatform } from '../../../src/registry/pull.js';
import { withStore } from '../../helpers/image-fixtures.js';

const d = (
  n: number,
  platform?: Descriptor['platform'],
  annotations?: Record<string, string>,
): Descriptor => ({
  mediaType: MediaTypes.ociManifest,
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}` as Digest,
  size: 100 + n,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});

const index: Index = {
  schemaVersion: 2,
  mediaType: MediaTypes.ociIndex,
  manifests: [
    d(1, { os: 'linux', architecture: 'arm', variant: 'v7' }),
    d(2, { os: 'linux', architecture: 'amd64' }),
    d(3, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    d(4, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' }),
  ],
};

test('the index entry for a platform; attestations never', () => {
  assert.equal(chooseFromIndex(index, { os: 'linux', architecture: 'amd64' }).size, 102);
  assert.equal(chooseFromIndex(index, { os: 'linux', architecture: 'arm64' }).size, 103);
  assert.equal(chooseFromIndex(index, { os: 'linux', architecture: 'arm', variant: 'v7' }).size, 101);
  assert.throws(
    () => chooseFromIndex(index, { os: 'linux', architecture: 's390x' }),
    (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, 'ENOTFOUND');
      assert.equal(err.message, 'no matching manifest for linux/s390x in the manifest list entries');
      assert.equal(
        err.hint,
        'It has: linux/arm/v7, linux/amd64, linux/arm64/v8. Choose one with --platform.',
      );
      return true;
    },
  );
});

test('platform strings', () => {
  assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('arm64'), { os: 'linux', architecture: 'arm64' });
  assert.throws(() => parsePlatform('linux//x'), /invalid platform/);
  assert.throws(() => parsePlatform('a/b/c/d'), /invalid platform/);
});

test('blob sources: most recent first, bounded, mount candidates of the same registry only', async () => {
  await withStore(async (store) => {
    const sources = new BlobSources(store.meta);
    const blob = `sha256:${'a'.repeat(64)}` as Digest;
    assert.deepEqual(await sources.get(blob), []);
    await sources.add(blob, 'reg:5000/team/one');
    await sources.add(blob, 'docker.io/library/alpine');
    await sources.add(blob, 'reg:5000/team/two');
    await sources.add(blob, 'reg:5000/team/one');
    assert.deepEqual(await sources.get(blob), [
      'reg:5000/team/one',
      'reg:5000/team/two',
      'docker.io/library/alpine',
    ]);
    assert.deepEqual(await sources.mountCandidates(blob, 'reg:5000', 'team/one'), ['team/two']);
    assert.deepEqual(await sources.mountCandidates(blob, 'reg:5000', 'other/x'), ['team/one', 'team/two']);
    for (let i = 0; i < 20; i++) await sources.add(blob, `reg:5000/r/${i}`);
    assert.equal((await sources.get(blob)).length, 8);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isConfigMediaType,
  isDockerMediaType,
  isForeignLayerMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  layerCompression,
  layerMediaType,
  MediaTypes,
  toDockerMediaType,
  toOciMediaType,
} from '../../../src/oci/media-types.js';

describe('media types', () => {
  it('classifies manifests, indexes and configs in both families', () => {
    assert.ok(isManifestMediaType(MediaTypes.ociManifest));
    assert.ok(isManifestMediaType(MediaTypes.dockerManifest));
    assert.ok(!isManifestMediaType(MediaTypes.ociIndex));
    assert.ok(isIndexMediaType(MediaTypes.ociIndex));
    assert.ok(isIndexMediaType(MediaTypes.dockerManifestList));
    assert.ok(isConfigMediaType(MediaTypes.dockerConfig));
    assert.ok(isConfigMediaType(MediaTypes.ociConfig));
    assert.ok(isDockerMediaType(MediaTypes.dockerLayerGzip));
    assert.ok(!isDockerMediaType(MediaTypes.ociLayerGzip));
  });

  const layers: [string, 'none' | 'gzip' | 'zstd', boolean][] = [
    [MediaTypes.ociLayer, 'none', false],
    [MediaTypes.ociLayerGzip, 'gzip', false],
    [MediaTypes.ociLayerZstd, 'zstd', false],
    [MediaTypes.dockerLayer, 'none', false],
    [MediaTypes.dockerLayerGzip, 'gzip', false],
    [MediaTypes.dockerLayerZstd, 'zstd', false],
    [MediaTypes.dockerForeignLayer, 'gzip', true],
    [MediaTypes.ociLayerNondistributableGzip, 'gzip', true],
  ];
  for (const [mt, compression, foreign] of layers) {
    it(`${mt} is a ${compression} layer${foreign ? ' (foreign)' : ''}`, () => {
      assert.ok(isLayerMediaType(mt));
      assert.equal(layerCompression(mt), compression);
      assert.equal(isForeignLayerMediaType(mt), foreign);
    });
  }

  it('unknown types are not layers', () => {
    assert.equal(layerCompression('application/json'), undefined);
    assert.ok(!isLayerMediaType(MediaTypes.ociConfig));
  });

  it('picks a layer media type per compression and family', () => {
    assert.equal(layerMediaType('gzip'), MediaTypes.ociLayerGzip);
    assert.equal(layerMediaType('none', 'docker'), MediaTypes.dockerLayer);
    assert.equal(layerMediaType('zstd', 'docker'), MediaTypes.dockerLayerZstd);
  });

  it('converts between Docker and OCI', () => {
    assert.equal(toOciMediaType(MediaTypes.dockerManifestList), MediaTypes.ociIndex);
    assert.equal(toOciMediaType(MediaTypes.dockerLayerGzip), MediaTypes.ociLayerGzip);
    assert.equal(toDockerMediaType(MediaTypes.ociManifest), MediaTypes.dockerManifest);
    assert.equal(
      toDockerMediaType(MediaTypes.ociLayerNondistributableGzip),
      MediaTypes.ociLayerNondistributableGzip,
    );
    assert.equal(toOciMediaType('text/plain'), 'text/plain');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256Of } from '../../../src/digest/digest.js';
import { BuilderError } from '../../../src/errors.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import {
  parseConfig,
  parseDescriptor,
  parseImageDocument,
  parseIndex,
  parseManifest,
  toDescriptor,
} from '../../../src/oci/parse.js';

const D1 = sha256Of('one');
const D2 = sha256Of('two');

function manifestDoc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: D1, size: 10 },
    layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: D2, size: 20 }],
    ...extra,
  };
}

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BuilderError, String(err));
    assert.equal(err.code, 'EINVAL');
    assert.match(err.message, message);
    return true;
  });
}

describe('parseManifest', () => {
  it('returns a typed manifest from bytes or text', () => {
    const text = JSON.stringify(manifestDoc({ annotations: { a: 'b' } }));
    const m = parseManifest(Buffer.from(text));
    assert.equal(m.schemaVersion, 2);
    assert.equal(m.config.digest, D1);
    assert.equal(m.layers[0]?.size, 20);
    assert.deepEqual(m.annotations, { a: 'b' });
    assert.deepEqual(parseManifest(text), m);
  });

  it('accepts Docker schema 2 and a missing mediaType', () => {
    assert.equal(
      parseManifest(JSON.stringify(manifestDoc({ mediaType: MediaTypes.dockerManifest }))).mediaType,
      MediaTypes.dockerManifest,
    );
    const { mediaType: _, ...noType } = manifestDoc();
    assert.equal(parseManifest(JSON.stringify(noType)).mediaType, undefined);
  });

  it('drops unknown fields and treats null as absent', () => {
    const m = parseManifest(JSON.stringify(manifestDoc({ extra: 1, annotations: null, subject: null })));
    assert.deepEqual(Object.keys(m), ['schemaVersion', 'mediaType', 'config', 'layers']);
  });

  it('keeps subject and artifactType', () => {
    const m = parseManifest(
      JSON.stringify(
        manifestDoc({
          artifactType: 'application/vnd.example+json',
          subject: { mediaType: MediaTypes.ociManifest, digest: D1, size: 1 },
        }),
      ),
    );
    assert.equal(m.artifactType, 'application/vnd.example+json');
    assert.equal(m.subject?.digest, D1);
  });

  const bad: [string, string | Uint8Array, RegExp][] = [
    ['not JSON', '{', /invalid image manifest: not valid JSON/],
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), /not valid UTF-8/],
    ['not an object', '[]', /must be a JSON object, not an array/],
    [
      'schema 1',
      JSON.stringify({ schemaVersion: 1, name: 'x' }),
      /schemaVersion: Docker schema 1 manifests are not supported/,
    ],
    ['schemaVersion 3', JSON.stringify(manifestDoc({ schemaVersion: 3 })), /schemaVersion: must be 2/],
    [
      'no schemaVersion',
      JSON.stringify(manifestDoc({ schemaVersion: undefined })),
      /schemaVersion: is required/,
    ],
    [
      'an index',
      JSON.stringify(manifestDoc({ mediaType: MediaTypes.ociIndex })),
      /is an index, not an image manifest/,
    ],
    [
      'odd mediaType',
      JSON.stringify(manifestDoc({ mediaType: 'text/plain' })),
      /mediaType: "text\/plain" is not/,
    ],
    ['no config', JSON.stringify(manifestDoc({ config: undefined })), /config: is required/],
    ['no layers', JSON.stringify(manifestDoc({ layers: undefined })), /layers: is required/],
    [
      'layers not array',
      JSON.stringify(manifestDoc({ layers: {} })),
      /layers: must be an array of descriptors/,
    ],
    [
      'bad layer digest',
      JSON.stringify(
        manifestDoc({ layers: [{ mediaType: MediaTypes.ociLayer, digest: 'sha256:abc', size: 1 }] }),
      ),
      /layers\[0\]\.digest: invalid digest "sha256:abc": a sha256 digest has 64 hex digits/,
    ],
    [
      'negative size',
      JSON.stringify(manifestDoc({ layers: [{ mediaType: MediaTypes.ociLayer, digest: D1, size: -1 }] })),
      /layers\[0\]\.size: must be at least 0/,
    ],
    [
      'fractional size',
      JSON.stringify(manifestDoc({ layers: [{ mediaType: MediaTypes.ociLayer, digest: D1, size: 1.5 }] })),
      /layers\[0\]\.size: must be an integer/,
    ],
    [
      'size beyond 2^53',
      `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"${D1}","size":9007199254740993},"layers":[]}`,
      /config\.size: .* beyond the exactly representable range/,
    ],
    [
      'string size',
      JSON.stringify(manifestDoc({ config: { mediaType: MediaTypes.ociConfig, digest: D1, size: '10' } })),
      /config\.size: must be an integer, not the string "10"/,
    ],
    [
      'bad media type',
      JSON.stringify(manifestDoc({ config: { mediaType: 'nope', digest: D1, size: 10 } })),
      /config\.mediaType: "nope" is not a media type/,
    ],
    [
      'annotation not a string',
      JSON.stringify(manifestDoc({ annotations: { a: 1 } })),
      /annotations\.a: must be a string, not number 1/,
    ],
    [
      'annotation key needing quotes',
      JSON.stringify(manifestDoc({ annotations: { 'org.x': true } })),
      /annotations\."org\.x": must be a string/,
    ],
  ];
  for (const [name, input, message] of bad) {
    it(`rejects ${name}`, () => rejects(() => parseManifest(input), message));
  }
});

describe('parseDescriptor', () => {
  it('validates data, urls and platform', () => {
    const d = parseDescriptor(
      JSON.stringify({
        mediaType: MediaTypes.ociEmpty,
        digest: sha256Of('{}'),
        size: 2,
        data: 'e30=',
        urls: ['https://example.com/x'],
        platform: { architecture: 'amd64', os: 'linux', 'os.features': ['f'] },
      }),
    );
    assert.equal(d.data, 'e30=');
    assert.deepEqual(d.platform, { architecture: 'amd64', os: 'linux', 'os.features': ['f'] });
  });

  it('rejects unpadded data and a platform without os', () => {
    rejects(
      () => toDescriptor({ mediaType: 'a/b', digest: D1, size: 1, data: 'e30' }),
      /data: must be standard base64 with padding/,
    );
    rejects(
      () => toDescriptor({ mediaType: 'a/b', digest: D1, size: 1, platform: { architecture: 'x' } }),
      /platform\.os: is required/,
    );
    rejects(() => toDescriptor({ digest: D1, size: 1 }), /^invalid descriptor: mediaType: is required/);
  });
});

describe('parseIndex', () => {
  const indexDoc = {
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifestList,
    manifests: [
      {
        mediaType: MediaTypes.dockerManifest,
        digest: D1,
        size: 3,
        platform: { architecture: 'arm', os: 'linux', variant: 'v7', features: ['sse4'] },
      },
    ],
  };

  it('accepts a Docker manifest list', () => {
    const idx = parseIndex(JSON.stringify(indexDoc));
    assert.equal(idx.manifests[0]?.platform?.variant, 'v7');
    assert.deepEqual(idx.manifests[0]?.platform?.features, ['sse4']);
  });

  it('rejects a manifest and missing manifests', () => {
    rejects(() => parseIndex(JSON.stringify(manifestDoc())), /is an image manifest, not an index/);
    rejects(() => parseIndex(JSON.stringify({ schemaVersion: 2 })), /manifests: is required/);
    rejects(
      () => parseIndex(JSON.stringify({ ...indexDoc, manifests: [{}] })),
      /manifests\[0\]\.mediaType: is required/,
    );
  });
});

describe('parseImageDocument', () => {
  it('tells manifests and indexes apart by mediaType, content type, then shape', () => {
    assert.equal(parseImageDocument(JSON.stringify(manifestDoc())).kind, 'manifest');
    const { mediaType: _, ...bare } = manifestDoc();
    assert.equal(parseImageDocument(JSON.stringify(bare)).kind, 'manifest');
    const index = { schemaVersion: 2, manifests: [] };
    assert.equal(parseImageDocument(JSON.stringify(index)).kind, 'index');
    assert.equal(
      parseImageDocument(JSON.stringify(index), `${MediaTypes.ociIndex}; charset=utf-8`).kind,
      'index',
    );
    rejects(() => parseImageDocument('{"schemaVersion":2}'), /cannot tell which/);
    rejects(() => parseImageDocument('{}', MediaTypes.dockerManifestSchema1Signed), /schema 1/);
  });
});

describe('parseConfig', () => {
  const base = {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [D1] },
  };

  it('keeps Docker nulls and unknown fields so configs round-trip', () => {
    const c = parseConfig(
      JSON.stringify({
        ...base,
        config: {
          Hostname: '',
          Env: ['A=1'],
          Cmd: null,
          Volumes: null,
          OnBuild: null,
          Labels: null,
          Custom: 7,
        },
        container: 'abc',
        docker_version: '20.10',
        mystery: { x: 1 },
      }),
    );
    assert.equal(c.config?.Cmd, null);
    assert.equal(c.config?.Volumes, null);
    assert.equal((c.config as Record<string, unknown>).Custom, 7);
    assert.deepEqual((c as unknown as Record<string, unknown>).mystery, { x: 1 });
    assert.equal(c.container, 'abc');
  });

  it('reads Docker string-form Cmd/Entrypoint as one-element lists', () => {
    const c = parseConfig(JSON.stringify({ ...base, config: { Cmd: 'sh', Entrypoint: '/init' } }));
    assert.deepEqual(c.config?.Cmd, ['sh']);
    assert.deepEqual(c.config?.Entrypoint, ['/init']);
  });

  it('reads Healthcheck, ExposedPorts, history', () => {
    const c = parseConfig(
      JSON.stringify({
        ...base,
        created: '2024-01-02T03:04:05.123456789Z',
        config: {
          ExposedPorts: { '80/tcp': {} },
          Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 1_000_000_000, Retries: 2 },
        },
        history: [{ created: '2024-01-02T03:04:05+01:00', created_by: 'x', empty_layer: true, junk: 1 }],
      }),
    );
    assert.deepEqual(c.config?.ExposedPorts, { '80/tcp': {} });
    assert.equal(c.config?.Healthcheck?.Retries, 2);
    assert.deepEqual(c.history, [
      { created: '2024-01-02T03:04:05+01:00', created_by: 'x', empty_layer: true },
    ]);
  });

  const bad: [string, unknown, RegExp][] = [
    [
      'no architecture',
      { ...base, architecture: undefined },
      /^invalid image config: architecture: is required$/,
    ],
    ['no rootfs', { ...base, rootfs: undefined }, /rootfs: is required/],
    ['rootfs type', { ...base, rootfs: { type: 'x', diff_ids: [] } }, /rootfs\.type: must be "layers"/],
    [
      'bad diff_id',
      { ...base, rootfs: { type: 'layers', diff_ids: ['nope'] } },
      /rootfs\.diff_ids\[0\]: invalid digest/,
    ],
    ['Env not strings', { ...base, config: { Env: [1] } }, /config\.Env\[0\]: must be a string/],
    ['Labels not strings', { ...base, config: { Labels: { a: 1 } } }, /config\.Labels\.a: must be a string/],
    [
      'ExposedPorts value',
      { ...base, config: { ExposedPorts: { '80/tcp': 1 } } },
      /config\.ExposedPorts\."80\/tcp": must be a JSON object/,
    ],
    [
      'created not RFC 3339',
      { ...base, created: 'yesterday' },
      /created: "yesterday" is not an RFC 3339 timestamp/,
    ],
    [
      'history entry',
      { ...base, history: [{ empty_layer: 'yes' }] },
      /history\[0\]\.empty_layer: must be true or false/,
    ],
    [
      'Healthcheck Retries',
      { ...base, config: { Healthcheck: { Retries: 'x' } } },
      /config\.Healthcheck\.Retries: must be an integer/,
    ],
  ];
  for (const [name, doc, message] of bad) {
    it(`rejects ${name}`, () => rejects(() => parseConfig(JSON.stringify(doc)), message));
  }
});

// Serialisation checked against BuildKit's real output (shared/conformance/buildkit-image-goldens):
// parse each golden, serialise it with our typed serialiser, and require the same bytes.

import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { sha256Of } from '../../../src/digest/digest.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { parseConfig, parseIndex, parseManifest } from '../../../src/oci/parse.js';
import {
  configToJson,
  descriptorOf,
  descriptorToJson,
  indexToJson,
  manifestToJson,
  serializeConfig,
} from '../../../src/oci/serialize.js';
import type { ImageConfig, Manifest } from '../../../src/oci/types.js';
import { conformancePath, readConformanceText } from '../../helpers/conformance.js';

async function listJson(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listJson(path)));
    else if (entry.name.endsWith('.json')) out.push(path);
  }
  return out.sort();
}

describe('BuildKit goldens re-serialise byte for byte', async () => {
  const root = conformancePath('buildkit-image-goldens');
  const files = (await listJson(root)).map((f) => relative(root, f));

  it('covers all 58 documents', () => assert.equal(files.length, 58));

  for (const rel of files) {
    it(rel, async () => {
      const text = await readConformanceText('buildkit-image-goldens', rel);
      if (rel.endsWith('config.json')) {
        assert.equal(configToJson(parseConfig(text)), text);
      } else {
        const manifest = parseManifest(text);
        assert.equal(manifestToJson(manifest), text);
        // The manifest's config descriptor is the sha256 and length of the config's exact bytes.
        const caseDir = rel.split('/').slice(1, 3).join('/');
        const config = await readConformanceText('buildkit-image-goldens', 'common', caseDir, 'config.json');
        assert.equal(manifest.config.digest, sha256Of(config));
        assert.equal(manifest.config.size, Buffer.byteLength(config));
      }
    });
  }

  it('the exec history entry uses Go escaping (\\u003e), which JSON.stringify would not', async () => {
    const text = await readConformanceText('buildkit-image-goldens', 'common/default-gzip/v30/config.json');
    assert.match(text, /\\u003e/);
    assert.notEqual(JSON.stringify(JSON.parse(text)), text);
  });
});

describe('typed serialisation', () => {
  const d = sha256Of('x');

  it('orders config keys: sorted top level, Docker order inside config, OCI order in history', () => {
    // Built in a deliberately scrambled order.
    const config = {
      rootfs: { diff_ids: [d], type: 'layers' },
      history: [
        { empty_layer: true, comment: 'c', author: 'a', created_by: 'b', created: '2015-10-21T07:28:00Z' },
      ],
      os: 'linux',
      config: {
        Shell: ['/bin/sh', '-c'],
        Labels: { z: '1', a: '2' },
        Cmd: ['sh'],
        Env: ['A=1'],
        User: 'u',
        WorkingDir: '/w',
        Healthcheck: { Retries: 1, Test: ['NONE'] },
        ExposedPorts: { '443/tcp': {}, '80/tcp': {} },
        Custom: true,
      },
      created: '2015-10-21T07:28:00Z',
      architecture: 'amd64',
      variant: 'v8',
    } as unknown as ImageConfig;
    assert.equal(
      configToJson(config),
      '{"architecture":"amd64","config":{"User":"u","ExposedPorts":{"443/tcp":{},"80/tcp":{}},"Env":["A=1"],' +
        '"Cmd":["sh"],"Healthcheck":{"Test":["NONE"],"Retries":1},"WorkingDir":"/w","Labels":{"a":"2","z":"1"},' +
        '"Shell":["/bin/sh","-c"],"Custom":true},"created":"2015-10-21T07:28:00Z",' +
        '"history":[{"created":"2015-10-21T07:28:00Z","created_by":"b","author":"a","comment":"c","empty_layer":true}],' +
        '"os":"linux","rootfs":{"type":"layers","diff_ids":["' +
        d +
        '"]},"variant":"v8"}',
    );
  });

  it('escapes HTML characters in configs', () => {
    const bytes = serializeConfig({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      history: [{ created_by: 'RUN a && b > c' }],
    });
    assert.match(Buffer.from(bytes).toString(), /a \\u0026\\u0026 b \\u003e c/);
  });

  it('writes manifests in struct order with sorted annotations and drops unknown fields', () => {
    const manifest = {
      annotations: { b: '1', a: '2' },
      layers: [{ size: 1, digest: d, mediaType: MediaTypes.ociLayer, extra: 'x' }],
      config: { size: 2, digest: d, mediaType: MediaTypes.ociConfig },
      mediaType: MediaTypes.ociManifest,
      schemaVersion: 2,
      bogus: 1,
    } as unknown as Manifest;
    assert.equal(
      manifestToJson(manifest),
      `{\n  "schemaVersion": 2,\n  "mediaType": "${MediaTypes.ociManifest}",\n  "config": {\n    "mediaType": "${MediaTypes.ociConfig}",\n` +
        `    "digest": "${d}",\n    "size": 2\n  },\n  "layers": [\n    {\n      "mediaType": "${MediaTypes.ociLayer}",\n` +
        `      "digest": "${d}",\n      "size": 1\n    }\n  ],\n  "annotations": {\n    "a": "2",\n    "b": "1"\n  }\n}`,
    );
  });

  it('round-trips an index with platforms', () => {
    const text = indexToJson({
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        {
          mediaType: MediaTypes.ociManifest,
          digest: d,
          size: 5,
          platform: { variant: 'v7', os: 'linux', architecture: 'arm' },
        },
      ],
    });
    assert.match(text, /"architecture": "arm",\n {8}"os": "linux",\n {8}"variant": "v7"/);
    assert.equal(indexToJson(parseIndex(text)), text);
  });

  it('descriptorOf and descriptorToJson', () => {
    const bytes = Buffer.from('{}');
    const desc = descriptorOf(bytes, MediaTypes.ociEmpty, { annotations: { k: 'v' } });
    assert.deepEqual(desc, {
      mediaType: MediaTypes.ociEmpty,
      digest: sha256Of(bytes),
      size: 2,
      annotations: { k: 'v' },
    });
    assert.equal(
      descriptorToJson(desc),
      `{"mediaType":"${MediaTypes.ociEmpty}","digest":"${sha256Of(bytes)}","size":2,"annotations":{"k":"v"}}`,
    );
  });
});

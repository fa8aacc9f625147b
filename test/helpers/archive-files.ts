// Reading image archives back in tests: every file of a tar, and schema validation of every OCI
// document an archive (or an OCI layout directory) holds.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { readTar } from '../../src/archive/tar-reader.js';
import { digestHex, sha256Of } from '../../src/digest/digest.js';
import { loadOciSchemas } from './oci-schema.js';

export async function archiveFiles(archive: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const entry of readTar(Readable.from([archive]))) {
    const chunks: Buffer[] = [];
    for await (const c of entry.body) chunks.push(c);
    out.set(entry.path.replace(/^\.\//, ''), Buffer.concat(chunks));
  }
  return out;
}

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked field by field
export function jsonFile(files: Map<string, Buffer>, path: string): any {
  const buf = files.get(path);
  assert.ok(buf, `${path} present`);
  return JSON.parse(buf.toString('utf8'));
}

/** oci-layout, index.json, each manifest and config: schema-valid; each layer present with its digest and size. */
export async function validateArchiveDocuments(files: Map<string, Buffer>): Promise<number> {
  const schemas = await loadOciSchemas();
  let documents = 0;
  const check = (kind: 'index' | 'manifest' | 'config' | 'layout', doc: unknown, where: string) => {
    documents++;
    assert.deepEqual(schemas.validateStrict(kind, doc).errors, [], `${where} (${kind})`);
  };
  check('layout', jsonFile(files, 'oci-layout'), 'oci-layout');
  const index = jsonFile(files, 'index.json');
  check('index', index, 'index.json');
  for (const d of index.manifests) {
    const manifest = jsonFile(files, `blobs/sha256/${digestHex(d.digest)}`);
    check('manifest', manifest, d.digest);
    check(
      'config',
      jsonFile(files, `blobs/sha256/${digestHex(manifest.config.digest)}`),
      manifest.config.digest,
    );
    for (const layer of manifest.layers) {
      const blob = files.get(`blobs/sha256/${digestHex(layer.digest)}`);
      assert.ok(blob, `layer ${layer.digest} present`);
      assert.equal(sha256Of(blob), layer.digest);
      assert.equal(blob.length, layer.size);
    }
  }
  return documents;
}

// The build memo's edit replay: what the `strata` front program needs to rebuild the top layer of
// a COPY-last image without Node when only the copied files changed (native/edit_replay.c).
//
// A build whose image ends in a plain COPY of context files and directories
// (BuildResult.replayable) depends on the content of the copied files no other step read
// ("hot") only through that layer: the same Dockerfile, the same rest of the context, the same
// store give the same image but for the layer, its digest and what names it (config, manifest,
// image record, tags) and the times. The record written here describes those as templates cut
// from the bytes this build actually wrote, with holes ("\0NAME\0") where a replay puts its own
// values:
//
//   entry    a tar header of the layer: a directory the copy wrote into (D: its mtime the
//            replay's time, as writing a file into it gives it), one it did not (K: kept as it
//            is), or a copied file (F<n>: file n's size, mtime and bytes); trailer: the zero
//            bytes that end the archive
//   tpl      config, manifest, and what the replay and the no-op after it print
//   tpath    + tbody: a store record to write atomically (the image record, each tag)
//   own      a blob of this image that the replay replaces (its pin is dropped)
//   store    the blobs and ingest folders, the metadata temp folder, the gc lock
//   hot      a copied file, relative to the context, whose content may change; cold: one another
//            step read too, which must not; in the order F<n> counts them
//   masked   the context's digest with the hot files' content left out (native/tree_fingerprint.h,
//            struct tree_hot)
//
// Holes: LAYER, LAYER_SIZE, CONFIG, CONFIG_HEX, CONFIG_SIZE, MANIFEST, MANIFEST_SIZE, NOW_GO
// (formatGoTime), NOW_ISO (toISOString). Every template is checked here: filled with this
// build's own values it gives back the bytes written, or there is no replay section.

import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BLOCK_SIZE, computeChecksum, decodeHeader, paddingFor } from '../archive/tar-header.js';
import type { BuildResult, CopiedFile } from '../build/engine.js';
import { type Digest, digestHex } from '../digest/digest.js';
import { serializeConfig, serializeManifest } from '../oci/serialize.js';
import type { ImageConfig, Manifest } from '../oci/types.js';
import { IMAGE_ID_LABEL } from '../store/image-store.js';
import type { Store } from '../store/store.js';
import { treeFingerprint } from '../sys/native.js';
import { MAX_CONTEXT_ENTRIES, memoRecord as record } from './build-memo.js';

/** Larger layers are left to Node (the front program holds the whole tar in memory). */
const MAX_LAYER_BYTES = 4 << 20;
/** Copied files at most (native/edit_replay.c MAX_HOT). */
const MAX_FILES = 4096;
const UNCOMPRESSED = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.docker.image.rootfs.diff.tar',
]);

type Values = Record<string, string>;

/** A template's bytes with `values` in its holes (what native/edit_replay.c does). */
function fillTemplate(template: string, values: Values): string {
  const parts = template.split('\0');
  if (parts.length % 2 === 0) throw new Error('a hole is not closed');
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) out += parts[i];
    else {
      const v = values[parts[i] as string];
      if (v === undefined) throw new Error(`no value for ${parts[i]}`);
      out += v;
    }
  }
  return out;
}

const hole = (name: string) => `\0${name}\0`;

/** `text` with every occurrence of each value replaced by its hole; `want` says how many of
 * each there must be (at least one when absent). */
function cut(text: string, holes: Array<[string, string, number?]>): string | undefined {
  let out = text;
  for (const [value, name, want] of holes) {
    const n = out.split(value).length - 1;
    if (want === undefined ? n < 1 : n !== want) return undefined;
    out = out.split(value).join(hole(name));
  }
  return out;
}

interface TarEntry {
  header: Buffer;
  type: string;
  name: string;
  size: number;
  data: Buffer;
}

const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
const isZeroPadding = (bytes: Buffer) => bytes.every((b) => b === 0);

/** The entries of a tar whose size, mtime and checksum fields are exactly as the replay writes
 * them (octal digits and a NUL; the checksum with a NUL and a space, as Strata's tar writer
 * does), or why not. */
function readTar(tar: Buffer): { entries: TarEntry[]; trailer: number } | string {
  const entries: TarEntry[] = [];
  const field = (h: Buffer, at: number, len: number) => h.subarray(at, at + len).toString('latin1');
  let at = 0;
  while (at + BLOCK_SIZE <= tar.length) {
    const block = tar.subarray(at, at + BLOCK_SIZE);
    let h: ReturnType<typeof decodeHeader>;
    try {
      h = decodeHeader(block, at);
    } catch {
      return 'a layer header does not decode';
    }
    if (h === undefined) break;
    if (
      field(block, 124, 12) !== octal(h.size, 12) ||
      field(block, 136, 12) !== octal(h.mtime, 12) ||
      field(block, 148, 8) !== `${octal(computeChecksum(block).unsigned, 7)} `
    )
      return 'a layer header is not in the form the replay writes';
    const end = at + BLOCK_SIZE + h.size;
    if (!isZeroPadding(tar.subarray(end, end + paddingFor(h.size))))
      return 'a layer entry is not padded with zeros';
    entries.push({
      header: Buffer.from(block),
      type: h.typeflag,
      name: h.name.replace(/\/$/, ''),
      size: h.size,
      data: tar.subarray(at + BLOCK_SIZE, end),
    });
    at = end + paddingFor(h.size);
  }
  const rest = tar.subarray(at);
  if (rest.length < 2 * BLOCK_SIZE || !isZeroPadding(rest))
    return 'the layer does not end as the replay ends it';
  return { entries, trailer: rest.length };
}

/** An image record or a name as FsRecordStore writes them: the fields a replay sets. */
interface RecordJson {
  key: string;
  updatedAt: string;
  value: {
    target: { digest: string; size: number };
    createdAt: string;
    labels?: Record<string, string>;
  };
}

export interface ReplayInput {
  store: Store;
  result: BuildResult;
  contextDir: string;
  /** The top-level directories the context's fingerprint prunes, and its digest. */
  pruned: string[];
  treeDigest: string;
  /** What the build printed (stdout; stderr after its progress), and the no-op transcript the
   * memo answers with; the replay prints replayTranscript before `stderr`. */
  stdout: string;
  stderr: string;
  noOpTranscript: string;
  replayTranscript: string;
}

export interface ReplaySection {
  records: Buffer[];
  /** The newest change among the context entries a replay depends on (not the copied files):
   * a record whose tree is racy only because of the copied files can still replay. */
  newestNs: bigint;
}

/** The memo's replay records, or why this build has none. */
export async function replayRecords(i: ReplayInput): Promise<ReplaySection | string> {
  const { result, store } = i;
  const step = result.replayable;
  if (step === undefined) return 'its image does not end in a COPY of context files and directories';
  const files = step.files;
  if (files.length > MAX_FILES) return `its last COPY copies more than ${MAX_FILES} files`;
  if (!files.some((f) => !f.shared)) return 'its last COPY copies only files other steps read too';
  if (new Set(files.map((f) => f.path)).size !== files.length) return 'its last COPY copies a file twice';
  const image = result.image;
  const layers = image.manifest.layers;
  const top = layers[layers.length - 1];
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  const diffId = diffIds[diffIds.length - 1];
  if (top === undefined || diffId === undefined || top.digest !== diffId || !UNCOMPRESSED.has(top.mediaType))
    return 'its top layer is compressed';
  if (top.size > MAX_LAYER_BYTES) return 'its top layer is large';

  // The layer: directories and the copied files, nothing else.
  const tar = readFileSync(store.content.blobPath(top.digest));
  const parsed = readTar(tar);
  if (typeof parsed === 'string') return parsed;
  const out: Buffer[] = [];
  const used = new Set<number>();
  const names = parsed.entries.map((e) => e.name);
  for (const e of parsed.entries) {
    const name = e.name;
    if (e.type === '5') {
      if (e.size !== 0) return 'a directory of the layer has a size';
      // A directory the copy wrote into has the copy's time (this build's, or an earlier one's
      // when the step came from the cache), which a replay makes its own; one it wrote nothing
      // into keeps what it has (a copied empty directory: its source's time, which is pinned).
      const filled = names.some((other) => other.startsWith(`${name}/`));
      out.push(record('entry', Buffer.concat([Buffer.from(filled ? 'D\0' : 'K\0'), e.header])));
      continue;
    }
    if (e.type !== '0') return 'the layer holds more than directories and files';
    // Which file this is: the only one copied (it may have been renamed: COPY app.py /srv/main.py),
    // or the one whose path below what was copied ends its name (the longest such, as a shorter
    // one is a suffix of it).
    let found = files.length === 1 && !used.has(0) ? 0 : -1;
    for (const [k, f] of files.entries()) {
      if (files.length === 1 || used.has(k) || !(name === f.tail || name.endsWith(`/${f.tail}`))) continue;
      if (found < 0 || f.tail.length > (files[found] as CopiedFile).tail.length) found = k;
    }
    if (found < 0) return `cannot tell which file ${e.name} of the layer was copied from`;
    const f = files[found] as CopiedFile;
    const path = join(i.contextDir, f.path);
    const st = lstatSync(path);
    // Its mtime may be another's: a COPY from the cache made by an earlier build of a file with
    // the same content. A replay writes the file's own, as a build that misses the cache does.
    if (!st.isFile() || st.size !== e.size || !readFileSync(path).equals(e.data))
      return `${f.path} is not in the layer as it is now`;
    used.add(found);
    out.push(record('entry', Buffer.concat([Buffer.from(`F${found}\0`), e.header])));
  }
  if (used.size !== files.length) return 'a copied file is not in the layer';
  out.push(record('trailer', String(parsed.trailer)));

  // Config: the top layer's diffID, and the times of the steps from the COPY on.
  const configBytes = readFileSync(store.content.blobPath(image.id)).toString('utf8');
  const config = JSON.parse(configBytes) as ImageConfig;
  const created = config.created;
  const history = config.history ?? [];
  let lastLayer = -1;
  history.forEach((h, n) => {
    if (h.empty_layer !== true) lastLayer = n;
  });
  if (created === undefined || lastLayer < 0) return 'its config has no times to replace';
  const SENT_T = '2199-01-01T00:00:00.123456789Z';
  const SENT_D = `sha256:${'e'.repeat(63)}f`;
  const sentinel = structuredClone(config);
  sentinel.created = SENT_T;
  for (let n = lastLayer; n < history.length; n++) {
    if (history[n]?.created !== created) return 'its last steps have times of their own';
    (sentinel.history as NonNullable<ImageConfig['history']>)[n] = { ...history[n], created: SENT_T };
  }
  (sentinel.rootfs as { diff_ids: string[] }).diff_ids[diffIds.length - 1] = SENT_D;
  const configTpl = cut(Buffer.from(serializeConfig(sentinel)).toString('utf8'), [
    [SENT_T, 'NOW_GO'],
    [SENT_D, 'LAYER', 1],
  ]);
  if (configTpl === undefined || fillTemplate(configTpl, { NOW_GO: created, LAYER: diffId }) !== configBytes)
    return 'its config does not come back from a template';

  // Manifest: the config's and the layer's descriptors.
  const manifestBytes = readFileSync(store.content.blobPath(image.manifestDescriptor.digest)).toString(
    'utf8',
  );
  const manifest = JSON.parse(manifestBytes) as Manifest;
  const m = structuredClone(manifest);
  const SENT_CD = `sha256:${'c'.repeat(63)}d`;
  const SENT_LD = `sha256:${'a'.repeat(63)}b`;
  m.config = { ...m.config, digest: SENT_CD as Digest, size: 987654321012345 };
  m.layers[m.layers.length - 1] = {
    ...(m.layers[m.layers.length - 1] as Manifest['layers'][number]),
    digest: SENT_LD as Digest,
    size: 876543210123456,
  };
  const manifestTpl = cut(Buffer.from(serializeManifest(m)).toString('utf8'), [
    [SENT_CD, 'CONFIG', 1],
    ['987654321012345', 'CONFIG_SIZE', 1],
    [SENT_LD, 'LAYER', 1],
    ['876543210123456', 'LAYER_SIZE', 1],
  ]);
  const values: Values = {
    CONFIG: image.id,
    CONFIG_HEX: digestHex(image.id),
    CONFIG_SIZE: String(Buffer.byteLength(configBytes)),
    LAYER: diffId,
    LAYER_SIZE: String(top.size),
    MANIFEST: image.manifestDescriptor.digest,
    MANIFEST_SIZE: String(image.manifestDescriptor.size),
    NOW_GO: created,
  };
  if (manifestTpl === undefined || fillTemplate(manifestTpl, values) !== manifestBytes)
    return 'its manifest does not come back from a template';

  // The image record and the tags, as records.put and names.set write them.
  const imagePath = store.images.records.pathOf(image.id);
  const imagePathTpl = cut(imagePath, [[digestHex(image.id), 'CONFIG_HEX', 1]]);
  if (imagePathTpl === undefined) return 'its image record is not named by its ID';
  const SENT_ISO = '2199-02-02T02:02:02.222Z';
  // Records are JSON.stringify's output (FsRecordStore.put): parsed and written again with
  // sentinels in the replay's places, they give its templates.
  const recordTemplate = (
    path: string,
    edit: (rec: RecordJson) => void,
    holes: Array<[string, string, number?]>,
  ) => {
    const text = readFileSync(path, 'utf8');
    const rec = JSON.parse(text) as RecordJson;
    if (JSON.stringify(rec) !== text) return undefined;
    edit(rec);
    return cut(JSON.stringify(rec), holes);
  };
  const imageTpl = recordTemplate(
    imagePath,
    (rec) => {
      rec.key = SENT_CD;
      rec.updatedAt = SENT_ISO;
      rec.value.target = { ...rec.value.target, digest: SENT_LD, size: 876543210123456 };
      rec.value.createdAt = SENT_ISO;
    },
    [
      [SENT_CD, 'CONFIG', 1],
      [SENT_LD, 'MANIFEST', 1],
      ['876543210123456', 'MANIFEST_SIZE', 1],
      [SENT_ISO, 'NOW_ISO', 2],
    ],
  );
  if (imageTpl === undefined) return 'its image record does not come back from a template';
  // The image record first: native/edit_replay.c writes it under the gc lock.
  const writes = [{ path: imagePathTpl, body: imageTpl }];
  for (const tag of result.tags) {
    const path = store.meta.names.pathOf(tag);
    const tpl = recordTemplate(
      path,
      (rec) => {
        rec.updatedAt = SENT_ISO;
        rec.value.target = { ...rec.value.target, digest: SENT_LD, size: 876543210123456 };
        if (rec.value.labels?.[IMAGE_ID_LABEL] === image.id) rec.value.labels[IMAGE_ID_LABEL] = SENT_CD;
      },
      [
        [SENT_CD, 'CONFIG', 1],
        [SENT_LD, 'MANIFEST', 1],
        ['876543210123456', 'MANIFEST_SIZE', 1],
        [SENT_ISO, 'NOW_ISO', 1],
      ],
    );
    if (tpl === undefined) return `its tag ${tag} does not come back from a template`;
    writes.push({ path, body: tpl });
  }

  // What the replay prints, and the no-op after it.
  const texts: Array<[string, string]> = [
    ['stdout', i.stdout],
    ['stderr', `${i.replayTranscript}${i.stderr}`],
    ['noop-stdout', i.stdout],
    ['noop-stderr', `${i.noOpTranscript}${i.stderr}`],
  ];
  for (const [name, text] of texts) {
    const tpl = text
      .split(image.id)
      .join(hole('CONFIG'))
      .split(image.manifestDescriptor.digest)
      .join(hole('MANIFEST'));
    if (text.includes('\0') || tpl.includes(digestHex(image.id).slice(0, 12)))
      return 'its output names the image in a form the replay does not write';
    out.push(record('tpl', `${name}\0${tpl}`));
  }
  out.push(record('tpl', `config\0${configTpl}`), record('tpl', `manifest\0${manifestTpl}`));
  for (const w of writes) out.push(record('tpath', w.path), record('tbody', w.body));
  for (const d of [image.manifestDescriptor.digest, image.id, top.digest])
    out.push(record('own', store.content.blobPath(d)));
  out.push(
    record(
      'store',
      [
        join(store.content.root, 'blobs', 'sha256'),
        store.content.ingestDir,
        store.meta.tempDir,
        store.meta.lockPath('gc'),
      ].join('\0'),
    ),
  );

  // The context with the hot files' content left out, walked again: it must be the tree the
  // build saw (the same exact digest), so the masked one is of that tree too.
  const walked = await treeFingerprint(
    i.contextDir,
    MAX_CONTEXT_ENTRIES,
    i.pruned,
    files.filter((f) => !f.shared).map((f) => f.path),
    files.filter((f) => f.shared).map((f) => f.path),
  );
  if (walked?.masked === undefined || walked.maskedNewestNs === undefined)
    return 'the native addon cannot leave files out of the context digest';
  if (walked.digest !== i.treeDigest) return 'the context changed during the build';
  // In the order F<n> counts them (native/edit_replay.c lists them so).
  for (const f of files) out.push(record(f.shared ? 'cold' : 'hot', f.path));
  out.push(record('masked', walked.masked));
  return { records: out, newestNs: walked.maskedNewestNs };
}

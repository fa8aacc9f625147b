// Runtime validation of image documents: bytes (or text) in, typed objects out, or EINVAL
// naming the field that is wrong (`invalid image manifest: layers[1].digest: …`).
//
// The bar is "decodes into the upstream Go types" (what containerd, BuildKit and the OCI
// validator require first), plus digests that parse and sizes that are exact integers. JSON
// null counts as absent, as in Go, except inside the container config where Docker writes
// `null` on purpose and we keep it so configs round-trip byte for byte. Unknown fields are
// dropped from manifests, indexes and descriptors (Go structs drop them) but kept at the top
// level of a config and inside its `config` (BuildKit's exporter carries them over).

import { type Digest, parseDigest } from '../digest/digest.js';
import { BuilderError, isBuilderError } from '../errors.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  MEDIA_TYPE_RE,
  type MediaType,
  MediaTypes,
} from './media-types.js';
import type {
  Annotations,
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  ImageConfig,
  Index,
  Manifest,
  Platform,
  RootFS,
} from './types.js';

type JsonObject = Record<string, unknown>;

class Invalid extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function fail(path: string, problem: string): never {
  throw new Invalid(path, problem);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? name : `${path}.${name}`;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: unknown, path: string): JsonObject {
  if (!isObject(v)) fail(path, `must be a JSON object, not ${describe(v)}`);
  return v;
}

function str(o: JsonObject, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(join(path, key), `must be a string, not ${describe(v)}`);
  return v;
}

function requiredStr(o: JsonObject, key: string, path: string): string {
  const v = str(o, key, path);
  if (v === undefined) fail(join(path, key), 'is required');
  return v;
}

function bool(o: JsonObject, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(join(path, key), `must be true or false, not ${describe(v)}`);
  return v;
}

function integer(v: unknown, path: string, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, `must be an integer, not ${describe(v)}`);
  if (!Number.isSafeInteger(v)) fail(path, `${v} is beyond the exactly representable range (2^53-1)`);
  if (v < min) fail(path, `must be at least ${min}, not ${v}`);
  return v;
}

function optInteger(o: JsonObject, key: string, path: string, min?: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return integer(v, join(path, key), min);
}

function strings(v: unknown, path: string): string[] {
  if (!Array.isArray(v)) fail(path, `must be an array of strings, not ${describe(v)}`);
  v.forEach((item, i) => {
    if (typeof item !== 'string') fail(join(path, i), `must be a string, not ${describe(item)}`);
  });
  return [...(v as string[])];
}

function optStrings(o: JsonObject, key: string, path: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return strings(v, join(path, key));
}

function stringMap(v: unknown, path: string): Record<string, string> {
  const o = object(v, path);
  const out: Record<string, string> = {};
  for (const [k, item] of Object.entries(o)) {
    if (typeof item !== 'string') fail(join(path, k), `must be a string, not ${describe(item)}`);
    out[k] = item;
  }
  return out;
}

function optAnnotations(o: JsonObject, key: string, path: string): Annotations | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  return stringMap(v, join(path, key));
}

function mediaType(v: string, path: string): MediaType {
  if (!MEDIA_TYPE_RE.test(v)) fail(path, `${JSON.stringify(v)} is not a media type (type/subtype)`);
  return v;
}

function digest(v: unknown, path: string): Digest {
  if (typeof v !== 'string') fail(path, `must be a digest string, not ${describe(v)}`);
  try {
    return parseDigest(v);
  } catch (err) {
    fail(path, isBuilderError(err) ? err.message : String(err));
  }
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

function timestamp(o: JsonObject, key: string, path: string): string | undefined {
  const v = str(o, key, path);
  if (v !== undefined && !RFC3339_RE.test(v)) {
    fail(join(path, key), `${JSON.stringify(v)} is not an RFC 3339 timestamp (2006-01-02T15:04:05Z)`);
  }
  return v;
}

/** Assigns the defined entries of `fields` onto a new object, in the given order. */
function defined<T extends object>(fields: { [K in keyof T]: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out as T;
}

function platformAt(v: unknown, path: string): Platform {
  const o = object(v, path);
  return defined<Platform>({
    architecture: requiredStr(o, 'architecture', path),
    os: requiredStr(o, 'os', path),
    'os.version': str(o, 'os.version', path),
    'os.features': optStrings(o, 'os.features', path),
    variant: str(o, 'variant', path),
    features: optStrings(o, 'features', path),
  });
}

function descriptorAt(v: unknown, path: string): Descriptor {
  const o = object(v, path);
  const mt = requiredStr(o, 'mediaType', path);
  if (o.digest === undefined || o.digest === null) fail(join(path, 'digest'), 'is required');
  if (o.size === undefined || o.size === null) fail(join(path, 'size'), 'is required');
  const data = str(o, 'data', path);
  if (data !== undefined && !BASE64_RE.test(data)) {
    fail(join(path, 'data'), 'must be standard base64 with padding');
  }
  const artifactType = str(o, 'artifactType', path);
  return defined<Descriptor>({
    mediaType: mediaType(mt, join(path, 'mediaType')),
    digest: digest(o.digest, join(path, 'digest')),
    size: integer(o.size, join(path, 'size'), 0),
    urls: optStrings(o, 'urls', path),
    annotations: optAnnotations(o, 'annotations', path),
    data,
    platform:
      o.platform === undefined || o.platform === null
        ? undefined
        : platformAt(o.platform, join(path, 'platform')),
    artifactType:
      artifactType === undefined ? undefined : mediaType(artifactType, join(path, 'artifactType')),
  });
}

function descriptorsAt(o: JsonObject, key: string, path: string): Descriptor[] {
  const v = o[key];
  const at = join(path, key);
  if (v === undefined || v === null) fail(at, 'is required');
  if (!Array.isArray(v)) fail(at, `must be an array of descriptors, not ${describe(v)}`);
  return v.map((item, i) => descriptorAt(item, join(at, i)));
}

function schemaVersion(o: JsonObject, kind: 'manifest' | 'index'): 2 {
  const v = o.schemaVersion;
  if (v === undefined || v === null) fail('schemaVersion', 'is required');
  if (v === 1) {
    fail(
      'schemaVersion',
      'Docker schema 1 manifests are not supported (push the image again with a current Docker)',
    );
  }
  if (v !== 2) fail('schemaVersion', `must be 2 for an image ${kind}, not ${describe(v)}`);
  return 2;
}

function documentMediaType(o: JsonObject, want: 'manifest' | 'index'): MediaType | undefined {
  const mt = str(o, 'mediaType', '');
  if (mt === undefined) return undefined;
  if (want === 'manifest' ? isManifestMediaType(mt) : isIndexMediaType(mt)) return mt;
  if (isSchema1MediaType(mt)) fail('mediaType', 'Docker schema 1 manifests are not supported');
  if (want === 'manifest' && isIndexMediaType(mt))
    fail('mediaType', `${mt} is an index, not an image manifest`);
  if (want === 'index' && isManifestMediaType(mt))
    fail('mediaType', `${mt} is an image manifest, not an index`);
  const expected =
    want === 'manifest'
      ? [MediaTypes.ociManifest, MediaTypes.dockerManifest]
      : [MediaTypes.ociIndex, MediaTypes.dockerManifestList];
  fail('mediaType', `${JSON.stringify(mt)} is not ${expected.join(' or ')}`);
}

function decode(input: Uint8Array | string, kind: string): unknown {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      throw new BuilderError('EINVAL', `invalid ${kind}: not valid UTF-8`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BuilderError('EINVAL', `invalid ${kind}: not valid JSON (${(err as Error).message})`);
  }
}

function run<T>(kind: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Invalid) {
      throw new BuilderError(
        'EINVAL',
        `invalid ${kind}: ${err.path === '' ? '' : `${err.path}: `}${err.problem}`,
      );
    }
    throw err;
  }
}

/** Validates an already-decoded value as a descriptor. */
export function toDescriptor(value: unknown, what = 'descriptor'): Descriptor {
  return run(what, () => descriptorAt(value, ''));
}

export function parseDescriptor(input: Uint8Array | string): Descriptor {
  return toDescriptor(decode(input, 'descriptor'));
}

/** Validates an already-decoded value as an image manifest. */
export function toManifest(value: unknown): Manifest {
  return run('image manifest', () => {
    const o = object(value, '');
    const version = schemaVersion(o, 'manifest');
    const mt = documentMediaType(o, 'manifest');
    const artifactType = str(o, 'artifactType', '');
    if (o.config === undefined || o.config === null) fail('config', 'is required');
    return defined<Manifest>({
      schemaVersion: version,
      mediaType: mt,
      artifactType: artifactType === undefined ? undefined : mediaType(artifactType, 'artifactType'),
      config: descriptorAt(o.config, 'config'),
      layers: descriptorsAt(o, 'layers', ''),
      subject: o.subject === undefined || o.subject === null ? undefined : descriptorAt(o.subject, 'subject'),
      annotations: optAnnotations(o, 'annotations', ''),
    });
  });
}

export function parseManifest(input: Uint8Array | string): Manifest {
  return toManifest(decode(input, 'image manifest'));
}

/** Validates an already-decoded value as an image index (or Docker manifest list). */
export function toIndex(value: unknown): Index {
  return run('image index', () => {
    const o = object(value, '');
    const version = schemaVersion(o, 'index');
    const mt = documentMediaType(o, 'index');
    const artifactType = str(o, 'artifactType', '');
    return defined<Index>({
      schemaVersion: version,
      mediaType: mt,
      artifactType: artifactType === undefined ? undefined : mediaType(artifactType, 'artifactType'),
      manifests: descriptorsAt(o, 'manifests', ''),
      subject: o.subject === undefined || o.subject === null ? undefined : descriptorAt(o.subject, 'subject'),
      annotations: optAnnotations(o, 'annotations', ''),
    });
  });
}

export function parseIndex(input: Uint8Array | string): Index {
  return toIndex(decode(input, 'image index'));
}

export type ImageDocument = { kind: 'manifest'; manifest: Manifest } | { kind: 'index'; index: Index };

/**
 * A manifest or an index, told apart by the document's `mediaType`, else by `contentType`
 * (e.g. the registry's Content-Type header), else by shape (`manifests` vs `config`).
 */
export function parseImageDocument(input: Uint8Array | string, contentType?: string): ImageDocument {
  const value = decode(input, 'image manifest or index');
  let mt: string | undefined;
  if (isObject(value) && typeof value.mediaType === 'string') mt = value.mediaType;
  mt ??= contentType?.split(';')[0]?.trim();
  let kind: 'manifest' | 'index' | undefined;
  if (mt !== undefined && isIndexMediaType(mt)) kind = 'index';
  else if (mt !== undefined && isManifestMediaType(mt)) kind = 'manifest';
  else if (mt !== undefined && isSchema1MediaType(mt)) {
    throw new BuilderError('EINVAL', 'invalid image manifest: Docker schema 1 manifests are not supported');
  } else if (isObject(value) && Array.isArray(value.manifests)) kind = 'index';
  else if (isObject(value) && value.config !== undefined) kind = 'manifest';
  if (kind === 'index') return { kind, index: toIndex(value) };
  if (kind === 'manifest') return { kind, manifest: toManifest(value) };
  throw new BuilderError(
    'EINVAL',
    `invalid image manifest or index: cannot tell which${mt === undefined ? '' : ` (media type ${JSON.stringify(mt)})`}`,
  );
}

// Cmd/Entrypoint/Shell are Docker StrSlices: a bare string means a one-element list.
function strSlice(o: JsonObject, key: string, path: string): string[] | null | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === 'string') return [v];
  return strings(v, join(path, key));
}

function nullableStrings(o: JsonObject, key: string, path: string): string[] | null | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  return strings(v, join(path, key));
}

function objectSet(
  o: JsonObject,
  key: string,
  path: string,
): Record<string, Record<string, never>> | null | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  const set = object(v, join(path, key));
  const out: Record<string, Record<string, never>> = {};
  for (const [k, item] of Object.entries(set)) {
    if (item !== null) object(item, join(join(path, key), k));
    out[k] = {};
  }
  return out;
}

function healthAt(o: JsonObject, path: string): HealthConfig | null | undefined {
  const v = o.Healthcheck;
  if (v === undefined) return undefined;
  if (v === null) return null;
  const at = join(path, 'Healthcheck');
  const h = object(v, at);
  return defined<HealthConfig>({
    Test: nullableStrings(h, 'Test', at),
    Interval: optInteger(h, 'Interval', at),
    Timeout: optInteger(h, 'Timeout', at),
    StartPeriod: optInteger(h, 'StartPeriod', at),
    StartInterval: optInteger(h, 'StartInterval', at),
    Retries: optInteger(h, 'Retries', at),
  });
}

const CONTAINER_CONFIG_STRINGS = [
  'User',
  'WorkingDir',
  'StopSignal',
  'Hostname',
  'Domainname',
  'Image',
  'MacAddress',
] as const;
const CONTAINER_CONFIG_BOOLS = [
  'ArgsEscaped',
  'AttachStdin',
  'AttachStdout',
  'AttachStderr',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'NetworkDisabled',
] as const;

function containerConfigAt(v: unknown, path: string): ContainerConfig {
  const o = object(v, path);
  // Copy first so unknown fields keep their place, then replace the known ones by checked values.
  const out: Record<string, unknown> = { ...o };
  for (const key of CONTAINER_CONFIG_STRINGS) out[key] = str(o, key, path);
  for (const key of CONTAINER_CONFIG_BOOLS) out[key] = bool(o, key, path);
  out.Env = nullableStrings(o, 'Env', path);
  out.Entrypoint = strSlice(o, 'Entrypoint', path);
  out.Cmd = strSlice(o, 'Cmd', path);
  out.Shell = strSlice(o, 'Shell', path);
  out.OnBuild = nullableStrings(o, 'OnBuild', path);
  out.ExposedPorts = objectSet(o, 'ExposedPorts', path);
  out.Volumes = objectSet(o, 'Volumes', path);
  out.Labels =
    o.Labels === undefined || o.Labels === null ? o.Labels : stringMap(o.Labels, join(path, 'Labels'));
  out.Healthcheck = healthAt(o, path);
  out.StopTimeout =
    o.StopTimeout === undefined || o.StopTimeout === null
      ? o.StopTimeout
      : integer(o.StopTimeout, join(path, 'StopTimeout'));
  for (const [k, item] of Object.entries(out)) if (item === undefined) delete out[k];
  return out as ContainerConfig;
}

function rootfsAt(o: JsonObject): RootFS {
  const v = o.rootfs;
  if (v === undefined || v === null) fail('rootfs', 'is required');
  const r = object(v, 'rootfs');
  const type = requiredStr(r, 'type', 'rootfs');
  if (type !== 'layers') fail('rootfs.type', `must be "layers", not ${JSON.stringify(type)}`);
  const ids = r.diff_ids;
  if (ids === undefined || ids === null) fail('rootfs.diff_ids', 'is required');
  if (!Array.isArray(ids)) fail('rootfs.diff_ids', `must be an array of digests, not ${describe(ids)}`);
  return { type, diff_ids: ids.map((id, i) => digest(id, `rootfs.diff_ids[${i}]`)) };
}

function historyAt(o: JsonObject): History[] | undefined {
  const v = o.history;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail('history', `must be an array, not ${describe(v)}`);
  return v.map((item, i) => {
    const at = `history[${i}]`;
    const h = object(item, at);
    return defined<History>({
      created: timestamp(h, 'created', at),
      created_by: str(h, 'created_by', at),
      author: str(h, 'author', at),
      comment: str(h, 'comment', at),
      empty_layer: bool(h, 'empty_layer', at),
    });
  });
}

/** Validates an already-decoded value as an image config. */
export function toImageConfig(value: unknown): ImageConfig {
  return run('image config', () => {
    const o = object(value, '');
    const out: Record<string, unknown> = { ...o };
    out.created = timestamp(o, 'created', '');
    out.author = str(o, 'author', '');
    out.architecture = requiredStr(o, 'architecture', '');
    out.os = requiredStr(o, 'os', '');
    out['os.version'] = str(o, 'os.version', '');
    out['os.features'] = optStrings(o, 'os.features', '');
    out.variant = str(o, 'variant', '');
    out.config =
      o.config === undefined || o.config === null ? undefined : containerConfigAt(o.config, 'config');
    out.rootfs = rootfsAt(o);
    out.history = historyAt(o);
    out.container = str(o, 'container', '');
    out.docker_version = str(o, 'docker_version', '');
    out.comment = str(o, 'comment', '');
    out.container_config =
      o.container_config === undefined || o.container_config === null
        ? undefined
        : containerConfigAt(o.container_config, 'container_config');
    for (const [k, item] of Object.entries(out)) if (item === undefined) delete out[k];
    return out as unknown as ImageConfig;
  });
}

export function parseConfig(input: Uint8Array | string): ImageConfig {
  return toImageConfig(decode(input, 'image config'));
}

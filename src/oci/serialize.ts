// The bytes we write for image documents, matching what BuildKit writes (checked against
// shared/conformance/buildkit-image-goldens):
//
// * manifest and index: json.MarshalIndent with two spaces, no trailing newline, keys in the
//   order of the Go structs (schemaVersion, mediaType, artifactType, config, layers, subject,
//   annotations; descriptors: mediaType, digest, size, urls, annotations, data, platform,
//   artifactType); unknown fields are not written.
// * config: compact, no trailing newline. The top-level keys are sorted (BuildKit's exporter
//   patches the config as a Go map, and Go sorts map keys), unknown top-level keys included.
//   `config`/`container_config` follow Docker's container.Config field order (what daemon-built
//   base images carry and what `docker build` writes), with unknown keys after the known ones;
//   `rootfs` and each `history` entry follow the OCI structs (created, created_by, author,
//   comment, empty_layer). Maps (Labels, ExposedPorts, Volumes, annotations) are sorted.
//
// All strings use Go's escaping (see go-json.ts), so digests match what Go tools compute.

import { type Digest, sha256Of } from '../digest/digest.js';
import { goJsonStringify } from './go-json.js';
import type { MediaType } from './media-types.js';
import type {
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  ImageConfig,
  Index,
  Manifest,
  Platform,
} from './types.js';

type Ordered = Map<string, unknown>;

function ordered(
  source: object,
  keys: readonly string[],
  convert: Record<string, (v: unknown) => unknown> = {},
): Ordered {
  const out: Ordered = new Map();
  const record = source as Record<string, unknown>;
  for (const key of keys) {
    const value = record[key];
    if (value === undefined) continue;
    const conv = convert[key];
    out.set(key, conv === undefined || value === null ? value : conv(value));
  }
  return out;
}

function sortedMap(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return new Map(keys.map((k) => [k, (value as Record<string, unknown>)[k]]));
}

const PLATFORM_KEYS = ['architecture', 'os', 'os.version', 'os.features', 'variant', 'features'] as const;
const DESCRIPTOR_KEYS = [
  'mediaType',
  'digest',
  'size',
  'urls',
  'annotations',
  'data',
  'platform',
  'artifactType',
] as const;
const MANIFEST_KEYS = [
  'schemaVersion',
  'mediaType',
  'artifactType',
  'config',
  'layers',
  'subject',
  'annotations',
] as const;
const INDEX_KEYS = [
  'schemaVersion',
  'mediaType',
  'artifactType',
  'manifests',
  'subject',
  'annotations',
] as const;

/** moby's container.Config field order. */
const CONTAINER_CONFIG_KEYS = [
  'Hostname',
  'Domainname',
  'User',
  'AttachStdin',
  'AttachStdout',
  'AttachStderr',
  'ExposedPorts',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'Env',
  'Cmd',
  'Healthcheck',
  'ArgsEscaped',
  'Image',
  'Volumes',
  'WorkingDir',
  'Entrypoint',
  'NetworkDisabled',
  'MacAddress',
  'OnBuild',
  'Labels',
  'StopSignal',
  'StopTimeout',
  'Shell',
] as const satisfies readonly (keyof ContainerConfig)[];

const HEALTH_KEYS = [
  'Test',
  'Interval',
  'Timeout',
  'StartPeriod',
  'StartInterval',
  'Retries',
] as const satisfies readonly (keyof HealthConfig)[];
const HISTORY_KEYS = [
  'created',
  'created_by',
  'author',
  'comment',
  'empty_layer',
] as const satisfies readonly (keyof History)[];

function platformValue(p: unknown): Ordered {
  return ordered(p as Platform, PLATFORM_KEYS);
}

function descriptorValue(d: unknown): Ordered {
  return ordered(d as Descriptor, DESCRIPTOR_KEYS, { annotations: sortedMap, platform: platformValue });
}

function descriptorList(list: unknown): unknown {
  return (list as Descriptor[]).map(descriptorValue);
}

function containerConfigValue(c: unknown): Ordered {
  const out = ordered(c as ContainerConfig, CONTAINER_CONFIG_KEYS, {
    ExposedPorts: sortedMap,
    Volumes: sortedMap,
    Labels: sortedMap,
    Healthcheck: (h) => ordered(h as HealthConfig, HEALTH_KEYS),
  });
  const known: ReadonlySet<string> = new Set(CONTAINER_CONFIG_KEYS);
  for (const [k, v] of Object.entries(c as object)) {
    if (!known.has(k) && v !== undefined) out.set(k, v);
  }
  return out;
}

/** The manifest as BuildKit writes it (2-space indent, struct key order, no final newline). */
export function manifestToJson(manifest: Manifest): string {
  const value = ordered(manifest, MANIFEST_KEYS, {
    config: descriptorValue,
    layers: descriptorList,
    subject: descriptorValue,
    annotations: sortedMap,
  });
  return goJsonStringify(value, { indent: '  ' });
}

/** The index (or manifest list) as BuildKit writes it. */
export function indexToJson(index: Index): string {
  const value = ordered(index, INDEX_KEYS, {
    manifests: descriptorList,
    subject: descriptorValue,
    annotations: sortedMap,
  });
  return goJsonStringify(value, { indent: '  ' });
}

/** A descriptor, compact, in Go struct order (e.g. for an OCI layout's index or a cache record). */
export function descriptorToJson(descriptor: Descriptor): string {
  return goJsonStringify(descriptorValue(descriptor));
}

/** The image config as BuildKit's exporter writes it (compact, sorted top level). */
export function configToJson(config: ImageConfig): string {
  const record = config as unknown as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: Ordered = new Map();
  for (const key of keys) {
    const value = record[key];
    if (value === null) {
      out.set(key, value);
    } else if (key === 'config' || key === 'container_config') {
      out.set(key, containerConfigValue(value));
    } else if (key === 'rootfs') {
      out.set(key, ordered(value as object, ['type', 'diff_ids']));
    } else if (key === 'history') {
      out.set(
        key,
        (value as History[]).map((h) => ordered(h, HISTORY_KEYS)),
      );
    } else {
      out.set(key, value);
    }
  }
  return goJsonStringify(out);
}

export function serializeManifest(manifest: Manifest): Uint8Array {
  return Buffer.from(manifestToJson(manifest), 'utf8');
}

export function serializeIndex(index: Index): Uint8Array {
  return Buffer.from(indexToJson(index), 'utf8');
}

export function serializeConfig(config: ImageConfig): Uint8Array {
  return Buffer.from(configToJson(config), 'utf8');
}

/** A descriptor for some bytes: sha256 digest and exact length. */
export function descriptorOf(
  bytes: Uint8Array,
  mediaType: MediaType,
  extra: Partial<Omit<Descriptor, 'mediaType' | 'digest' | 'size'>> = {},
): Descriptor {
  const digest: Digest = sha256Of(bytes);
  return { mediaType, digest, size: bytes.byteLength, ...extra };
}

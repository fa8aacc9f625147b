// The image documents as TypeScript types: OCI image-spec v1.1 plus Docker's extensions to the
// config (`Healthcheck`, `OnBuild`, `Shell`, and the legacy daemon fields that old images
// carry). Field names are the JSON names. `null` is allowed where Go writes nil slices and maps
// (Docker writes `"Volumes":null`), so parsed configs round-trip byte for byte.

import type { Digest } from '../digest/digest.js';
import type { MediaType } from './media-types.js';

export type Annotations = Record<string, string>;

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  /** Docker manifest lists only (CPU features); OCI reserves it. */
  features?: string[];
}

export interface Descriptor {
  mediaType: MediaType;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Annotations;
  /** The content itself, base64 (standard alphabet, padded). */
  data?: string;
  platform?: Platform;
  artifactType?: MediaType;
}

/** An image manifest: OCI or Docker schema 2 (same shape, different media types). */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: MediaType;
  artifactType?: MediaType;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

/** An image index or a Docker manifest list. */
export interface Index {
  schemaVersion: 2;
  mediaType?: MediaType;
  artifactType?: MediaType;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

/** Docker's HEALTHCHECK, durations in nanoseconds. */
export interface HealthConfig {
  /** `[]` inherit, `["NONE"]` disabled, `["CMD", …]` exec, `["CMD-SHELL", cmd]` shell. */
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/**
 * The execution defaults (`config` inside the image config): OCI `ImageConfig` fields, Docker's
 * extensions, and the legacy fields of Docker's `container.Config` that daemon-built images
 * carry. Unknown fields found while parsing are kept as extra own properties.
 */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>> | null;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  // Docker extensions (moby/docker-image-spec)
  Healthcheck?: HealthConfig | null;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
  // Legacy fields of Docker's container.Config, carried over from daemon-built base images
  Hostname?: string;
  Domainname?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Image?: string;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  StopTimeout?: number | null;
}

export interface RootFS {
  type: 'layers';
  diff_ids: Digest[];
}

export interface History {
  /** RFC 3339 */
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/**
 * The image config (`application/vnd.oci.image.config.v1+json`, or Docker's
 * `…container.image.v1+json`). Unknown top-level fields found while parsing are kept.
 */
export interface ImageConfig {
  /** RFC 3339 */
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFS;
  history?: History[];
  // Legacy Docker fields, carried over as BuildKit does
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
  comment?: string;
}

/** The `oci-layout` file of an OCI image layout. */
export interface OciLayoutFile {
  imageLayoutVersion: '1.0.0';
}

// Docker's client configuration file (`config.json`), read and written in the format the docker
// CLI uses, so a login made by either tool is seen by the other:
//
//   {
//     "auths": {
//       "https://index.docker.io/v1/": {"auth": "<base64 user:password>"},
//       "registry.example.com": {"auth": "<base64 user:>", "identitytoken": "<refresh token>"},
//       "ghcr.io": {}                       ← the credential lives in a helper (credsStore)
//     },
//     "credsStore": "desktop",              ← docker-credential-desktop for every registry …
//     "credHelpers": {"gcr.io": "gcloud"}   ← … except these
//   }
//
// Keys of `auths` are registry hosts, except Docker Hub's, which docker writes as the legacy
// URL `https://index.docker.io/v1/`; old files may carry schemes and paths (`https://host/v1/`),
// so lookups compare hosts. Fields we do not know are kept on rewrite. Which file to use is the
// CLI's decision ($DOCKER_CONFIG or ~/.docker/config.json): everything here takes a path.
//
// Writes are atomic (temp file in the same directory, fsync, rename) with mode 0600, as the file
// holds secrets; the directory is created 0700 when missing.

import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BuilderError } from '../errors.js';

/** Docker Hub's registry host as references name it. */
export const DOCKER_HUB_HOST = 'docker.io';
/** The key docker uses for Docker Hub in `auths` and with credential helpers. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export interface AuthEntry {
  /** base64 of `username:password`. */
  auth?: string;
  username?: string;
  password?: string;
  /** An OAuth2 refresh token the registry's token server issued at login. */
  identitytoken?: string;
  /** A bearer token to send as is. */
  registrytoken?: string;
  email?: string;
  [other: string]: unknown;
}

export interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

/** Username and password decoded from an `auths` entry (`auth` wins over the split fields). */
export function decodeAuthEntry(entry: AuthEntry): { username: string; password: string } {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) throw new BuilderError('EINVAL', 'invalid auth entry in the docker config (no ":")');
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return {
    username: typeof entry.username === 'string' ? entry.username : '',
    password: typeof entry.password === 'string' ? entry.password : '',
  };
}

/** The `auth` field docker writes: base64 of `username:password`, empty when both are empty. */
export function encodeAuth(username: string, password: string): string {
  if (username === '' && password === '') return '';
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** The registry host a config key or a user's argument names: `https://host/v1/` → `host`. */
export function hostOfKey(key: string): string {
  let host = key.trim();
  const scheme = host.indexOf('://');
  if (scheme >= 0) host = host.slice(scheme + 3);
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  if (
    host === 'index.docker.io' ||
    host === 'registry-1.docker.io' ||
    host === 'registry.hub.docker.com' ||
    host === DOCKER_HUB_HOST
  )
    return DOCKER_HUB_HOST;
  return host;
}

/** The key docker writes for a registry: Docker Hub's legacy URL, else the host. */
export function configKeyOf(registry: string): string {
  const host = hostOfKey(registry);
  return host === DOCKER_HUB_HOST ? DOCKER_HUB_KEY : host;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Reads the config file; a missing file is an empty config. EINVAL when it is not JSON. */
export async function readDockerConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return {};
    throw err;
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BuilderError('EINVAL', `${path} is not valid JSON`, {
      cause: err instanceof Error ? new Error(err.message) : undefined,
      hint: 'Fix or remove the file; strata login writes a new one.',
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new BuilderError('EINVAL', `${path} does not hold a JSON object`);
  const config = parsed as DockerConfigFile;
  if (config.auths !== undefined && (typeof config.auths !== 'object' || config.auths === null))
    throw new BuilderError('EINVAL', `${path}: "auths" must be an object`);
  return config;
}

/**
 * Writes the config as docker does (tab-indented JSON), atomically, mode 0600. The directory
 * is created (0700) when missing.
 */
export async function writeDockerConfig(path: string, config: DockerConfigFile): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // node:crypto only here (login, logout): loaded at every start it costs ~3 ms.
  const { randomBytes } = await import('node:crypto');
  const temp = join(dir, `.config.json.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(temp, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      await fh.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(temp, 0o600);
    await rename(temp, path);
    renamed = true;
  } finally {
    if (!renamed) await rm(temp, { force: true }).catch(() => {});
  }
}

/** The entry for `registry` (by host), with the key it was found under. */
export function findAuthEntry(
  config: DockerConfigFile,
  registry: string,
): { key: string; entry: AuthEntry } | undefined {
  const auths = config.auths ?? {};
  const host = hostOfKey(registry);
  const preferred = configKeyOf(host);
  const exact = auths[preferred];
  if (exact !== undefined) return { key: preferred, entry: exact };
  for (const [key, entry] of Object.entries(auths)) {
    if (hostOfKey(key) === host) return { key, entry };
  }
  return undefined;
}

/** The credential helper configured for `registry`: credHelpers[host], else credsStore. */
export function helperFor(config: DockerConfigFile, registry: string): string | undefined {
  const host = hostOfKey(registry);
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (hostOfKey(key) === host && typeof helper === 'string' && helper !== '') return helper;
  }
  return typeof config.credsStore === 'string' && config.credsStore !== '' ? config.credsStore : undefined;
}

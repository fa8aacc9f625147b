// Credentials per registry host (ggcr's authn.Keychain): the registry client asks a Keychain
// for the credential of the host it talks to, and never sees where it came from.
//
// DockerConfigKeychain reads docker's config.json as the docker CLI does: the helper named in
// credHelpers[host], else the credsStore helper, else the `auths` entry; a helper that has
// nothing falls back to the file's entry. Docker Hub is looked up under
// `https://index.docker.io/v1/`, everything else under its host (older keys with a scheme or a
// path match by host). The file is re-read on each lookup: a login in another terminal counts.

import { CredentialHelper, type HelperRunner, spawnHelper, TOKEN_USERNAME } from './credential-helper.js';
import {
  configKeyOf,
  type DockerConfigFile,
  decodeAuthEntry,
  encodeAuth,
  findAuthEntry,
  helperFor,
  hostOfKey,
  readDockerConfig,
  writeDockerConfig,
} from './docker-config.js';

/** What a registry accepts as proof: a password, an identity (refresh) token, or a bearer token. */
export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token: exchanged at the token server with grant_type=refresh_token. */
  identityToken?: string;
  /** A bearer token sent as it is. */
  registryToken?: string;
}

export interface Keychain {
  /** The credential for a registry host (`docker.io`, `127.0.0.1:5000`), or undefined (anonymous). */
  resolve(registry: string): Promise<Credential | undefined>;
}

/** No credentials for anyone. */
export const anonymousKeychain: Keychain = { resolve: async () => undefined };

/** Fixed credentials by host (tests, `login` verifying what the user typed). */
export function staticKeychain(byHost: Record<string, Credential>): Keychain {
  const map = new Map(Object.entries(byHost).map(([k, v]) => [hostOfKey(k), v]));
  return { resolve: async (registry) => map.get(hostOfKey(registry)) };
}

/** True when the credential carries anything to authenticate with. */
export function hasSecret(c: Credential | undefined): c is Credential {
  return (
    c !== undefined &&
    ((c.password !== undefined && c.password !== '') ||
      (c.identityToken !== undefined && c.identityToken !== '') ||
      (c.registryToken !== undefined && c.registryToken !== ''))
  );
}

export interface DockerConfigOptions {
  /** The config.json to read and write (the CLI picks $DOCKER_CONFIG or ~/.docker). */
  configPath: string;
  /** Runs credential helpers; default spawns `docker-credential-<name>` from PATH. */
  runHelper?: HelperRunner;
}

export class DockerConfigKeychain implements Keychain {
  readonly configPath: string;
  readonly #run: HelperRunner;

  constructor(options: DockerConfigOptions) {
    this.configPath = options.configPath;
    this.#run = options.runHelper ?? spawnHelper();
  }

  async resolve(registry: string): Promise<Credential | undefined> {
    const config = await readDockerConfig(this.configPath);
    const key = configKeyOf(registry);
    const helper = helperFor(config, registry);
    if (helper !== undefined) {
      const found = await new CredentialHelper(helper, this.#run).get(key);
      if (found !== undefined) {
        return found.username === TOKEN_USERNAME
          ? { identityToken: found.secret }
          : { username: found.username, password: found.secret };
      }
    }
    return credentialFromFile(config, registry);
  }
}

function credentialFromFile(config: DockerConfigFile, registry: string): Credential | undefined {
  const found = findAuthEntry(config, registry);
  if (found === undefined) return undefined;
  const { entry } = found;
  const { username, password } = decodeAuthEntry(entry);
  const out: Credential = {};
  if (username !== '') out.username = username;
  if (password !== '') out.password = password;
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '')
    out.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '')
    out.registryToken = entry.registrytoken;
  return hasSecret(out) ? out : undefined;
}

export interface SavedLogin {
  /** The key written (`https://index.docker.io/v1/` or the host). */
  key: string;
  /** The credential helper that holds the secret, when one is configured. */
  helper?: string;
}

/**
 * Stores a login as `docker login` does: in the configured credential helper (leaving an empty
 * `auths` entry in the file), else base64 in `auths` (plus `identitytoken` when the registry
 * gave one, in which case no password is kept). Other entries and fields are left alone.
 */
export async function saveLogin(
  options: DockerConfigOptions,
  registry: string,
  login: { username: string; password?: string; identityToken?: string },
): Promise<SavedLogin> {
  const config = await readDockerConfig(options.configPath);
  const key = configKeyOf(registry);
  const helper = helperFor(config, registry);
  const auths = { ...(config.auths ?? {}) };
  // Replace the entry under any equivalent key (an old `https://host/v1/`) with the canonical one.
  for (const k of Object.keys(auths)) if (hostOfKey(k) === hostOfKey(registry)) delete auths[k];
  if (helper !== undefined) {
    const secret = login.identityToken ?? login.password ?? '';
    const username = login.identityToken !== undefined ? TOKEN_USERNAME : login.username;
    await new CredentialHelper(helper, options.runHelper ?? spawnHelper()).store(key, {
      username,
      secret,
    });
    auths[key] = {};
  } else if (login.identityToken !== undefined) {
    auths[key] = { auth: encodeAuth(login.username, ''), identitytoken: login.identityToken };
  } else {
    auths[key] = { auth: encodeAuth(login.username, login.password ?? '') };
  }
  await writeDockerConfig(options.configPath, { ...config, auths });
  return helper === undefined ? { key } : { key, helper };
}

/** Removes a login from the helper and the file, as `docker logout`; `removed` is false when there was none. */
export async function removeLogin(
  options: DockerConfigOptions,
  registry: string,
): Promise<{ key: string; removed: boolean }> {
  const config = await readDockerConfig(options.configPath);
  const key = configKeyOf(registry);
  const helper = helperFor(config, registry);
  let removed = false;
  if (helper !== undefined) {
    removed = await new CredentialHelper(helper, options.runHelper ?? spawnHelper()).erase(key);
  }
  const auths = { ...(config.auths ?? {}) };
  for (const k of Object.keys(auths)) {
    if (hostOfKey(k) === hostOfKey(registry)) {
      delete auths[k];
      removed = true;
    }
  }
  if (removed || config.auths !== undefined)
    await writeDockerConfig(options.configPath, { ...config, auths });
  return { key, removed };
}

// Registry settings from the environment, decided here and only here (the library takes
// explicit options): the docker config file ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json) and the insecure registries ($STRATA_INSECURE_REGISTRIES, comma- or
// space-separated hosts; localhost and 127.0.0.0/8 need no entry).

import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawnHelper } from '../auth/credential-helper.js';
import { DockerConfigKeychain, type DockerConfigOptions } from '../auth/keychain.js';
import { BuilderError } from '../errors.js';
import { parseRegistryList, Registries, type RegistryOptions } from '../registry/registries.js';

export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  const dir = env.DOCKER_CONFIG;
  if (dir !== undefined && dir !== '') return join(dir, 'config.json');
  return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.docker', 'config.json');
}

export function dockerConfigOptions(env: NodeJS.ProcessEnv): DockerConfigOptions {
  return { configPath: dockerConfigPath(env), runHelper: spawnHelper({ env }) };
}

/** `--tls-verify` as given: undefined when absent. */
export function tlsVerifyOption(value: string | boolean | string[] | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  const text = Array.isArray(value) ? (value[value.length - 1] ?? '') : value;
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(text)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(text)) return false;
  throw new BuilderError('EINVAL', `invalid argument "${text}" for "--tls-verify" flag: not a boolean`);
}

export function registryOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  extra: { tlsVerify?: boolean; debug?: (line: string) => void } = {},
): RegistryOptions {
  const options: RegistryOptions = {
    keychain: new DockerConfigKeychain(dockerConfigOptions(env)),
    insecureRegistries: parseRegistryList(env.STRATA_INSECURE_REGISTRIES),
  };
  if (extra.tlsVerify !== undefined) options.tlsVerify = extra.tlsVerify;
  if (env.STRATA_REGISTRY_DEBUG === '1') options.log = (l) => process.stderr.write(`registry: ${l}\n`);
  return options;
}

export function registriesFromEnv(env: NodeJS.ProcessEnv, extra: { tlsVerify?: boolean } = {}): Registries {
  return new Registries(registryOptionsFromEnv(env, extra));
}

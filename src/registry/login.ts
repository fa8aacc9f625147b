// `login`: check a username and password against a registry before they are stored, the way
// docker login does: Basic registries must accept them on /v2/; Bearer registries' token
// servers must issue a token for them (asked with offline_token=true, so a server that hands
// out refresh tokens gives one, which is then stored instead of the password).

import { staticKeychain } from '../auth/keychain.js';
import { BuilderError } from '../errors.js';
import { RegistryError, RegistryNetworkError } from './errors.js';
import { Registries, type RegistryOptions } from './registries.js';

export interface LoginResult {
  /** A refresh token to store instead of the password, when the registry issued one. */
  identityToken?: string;
}

export async function verifyLogin(
  registry: string,
  login: { username: string; password: string },
  options: Omit<RegistryOptions, 'keychain'> = {},
  signal?: AbortSignal,
): Promise<LoginResult> {
  if (login.username === '') throw new BuilderError('EINVAL', 'a username is required');
  if (login.password === '') throw new BuilderError('EINVAL', 'a password is required');
  const registries = new Registries({
    ...options,
    keychain: staticKeychain({ [registry]: { username: login.username, password: login.password } }),
  });
  try {
    return await registries.client(registry).transport.verifyLogin(signal);
  } catch (err) {
    if (err instanceof RegistryError && (err.status === 401 || err.status === 403)) {
      const said = err.diagnostics[0]?.message ?? 'incorrect username or password';
      throw new BuilderError('EUNAUTHORIZED', `login to ${registry} failed: unauthorized: ${said}`, {
        cause: err,
        hint: 'Check the username and the password (or access token).',
      });
    }
    if (err instanceof RegistryNetworkError)
      throw new BuilderError('EUNAVAILABLE', `login to ${registry} failed: cannot reach it`, {
        cause: err,
        ...(err.hint === undefined ? {} : { hint: err.hint }),
      });
    throw err;
  } finally {
    registries.close();
  }
}

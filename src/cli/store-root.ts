// Where the store lives, decided here and only here (the library takes explicit paths):
// $STRATA_ROOT, else /var/lib/strata when running as root, else $XDG_DATA_HOME/strata
// (~/.local/share/strata by default).

import { homedir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../store/store.js';

export function resolveStoreRoot(env: NodeJS.ProcessEnv): string {
  const explicit = env.STRATA_ROOT;
  if (explicit !== undefined && explicit !== '') return explicit;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/strata';
  const dataHome =
    env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== ''
      ? env.XDG_DATA_HOME
      : join(env.HOME ?? homedir(), '.local', 'share');
  return join(dataHome, 'strata');
}

export function openCliStore(env: NodeJS.ProcessEnv): Promise<Store> {
  return Store.open(resolveStoreRoot(env));
}

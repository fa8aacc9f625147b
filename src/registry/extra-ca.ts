// NODE_EXTRA_CA_CERTS, deferred to the first TLS connection.
//
// Node parses that file into its root store at every start, before any of our code runs: with
// Debian's whole bundle (/etc/ssl/certs/ca-certificates.crt, a common setting) that is ~50 ms of
// every command, most of which never open a TLS connection. So the `strata` front program
// (native/strata_front.c) hands the variable to the CLI under MOVED_EXTRA_CA instead; the CLI puts
// it back first thing (whatever it runs, and the build memo's key, see the environment as the
// user set it) and keeps the file name here. The TLS the CLI opens itself (registry exchanges,
// ADD downloads: registry/http.ts) then adds those certificates to Node's default store, as
// Node would have. This module imports nothing: the CLI calls it at every start.

export const MOVED_EXTRA_CA = 'STRATA_MOVED_NODE_EXTRA_CA_CERTS';

let movedFile: string | undefined;

/** Puts NODE_EXTRA_CA_CERTS back from where the front program moved it, and remembers that Node
 * has not loaded it. */
export function takeMovedExtraCa(env: NodeJS.ProcessEnv): void {
  const file = env[MOVED_EXTRA_CA];
  if (file === undefined) return;
  delete env[MOVED_EXTRA_CA];
  env.NODE_EXTRA_CA_CERTS = file;
  movedFile = file === '' ? undefined : file;
}

/** The extra certificates file Node did not load at start, if any. */
export function deferredExtraCaFile(): string | undefined {
  return movedFile;
}

/** A copy of `env` with NODE_EXTRA_CA_CERTS moved as the front program moves it: for a Node
 * process the CLI starts itself (a detached container's supervisor), which opens no TLS and
 * whose main() puts it back. */
export function withExtraCaMoved(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (file === undefined || file === '') return env;
  const { NODE_EXTRA_CA_CERTS: _moved, ...rest } = env;
  return { ...rest, [MOVED_EXTRA_CA]: file };
}

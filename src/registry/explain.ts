// Turns a failure of a pull or a push into what a user can act on, once, at that boundary:
// "pulling X" / "pushing X" with the registry's own words as the cause and a hint. Docker Hub's
// most common surprise gets its own explanation: a name without a user (`webapp-rockets`) is
// docker.io/library/webapp-rockets, the official images' namespace, where nobody else may push.

import { BuilderError, type ErrorCode, isBuilderError } from '../errors.js';
import type { Reference } from '../reference/reference.js';
import { RegistryError, RegistryNetworkError } from './errors.js';

export interface ExplainContext {
  op: 'pull' | 'push';
  ref: Reference;
  /** Whether the keychain had a credential for the registry. */
  hasCredential: boolean;
}

function isDenied(err: RegistryError): boolean {
  return err.status === 401 || err.status === 403 || err.has('DENIED') || err.has('UNAUTHORIZED');
}

export function explainRegistryFailure(err: unknown, ctx: ExplainContext): BuilderError {
  const { op, ref } = ctx;
  const shown = ref.familiarString();
  const name = ref.familiarName();
  if (err instanceof BuilderError && err.message.startsWith(op === 'pull' ? 'pulling ' : 'pushing '))
    return err; // explained already
  const wrap = (code: ErrorCode, message: string, hint?: string) =>
    new BuilderError(code, message, { cause: err, ...(hint === undefined ? {} : { hint }) });

  if (err instanceof RegistryError) {
    const diag = err.diagnostics[0];
    const said = diag === undefined ? `${err.status}` : `${diag.code.toLowerCase()}: ${diag.message}`;
    if (op === 'push' && isDenied(err)) {
      if (ref.domain === 'docker.io' && ref.path.startsWith('library/') && !ref.path.slice(8).includes('/')) {
        const bare = ref.path.slice('library/'.length);
        return wrap(
          'EUNAUTHORIZED',
          `pushing ${shown}: denied: requested access to the resource is denied`,
          `On Docker Hub "${bare}" means docker.io/library/${bare}, the namespace of official images, where only Docker may push. ` +
            `Name the image after your Docker Hub login: strata tag ${shown} <login>/${bare}${ref.tag !== undefined ? `:${ref.tag}` : ''}, ` +
            `log in with strata login (your Docker Hub user and an access token), then strata push <login>/${bare}${ref.tag !== undefined ? `:${ref.tag}` : ''}.`,
        );
      }
      if (!ctx.hasCredential)
        return wrap(
          'EUNAUTHORIZED',
          `pushing ${shown}: ${said}`,
          `Log in first: strata login${ref.domain === 'docker.io' ? '' : ` ${ref.domain}`}${ref.domain === 'docker.io' ? ` (and the name must be <login>/${name.split('/').pop()} on Docker Hub)` : ''}`,
        );
      return wrap(
        'EUNAUTHORIZED',
        `pushing ${shown}: ${said}`,
        `The registry refused: check that your login may push to ${ref.domain === 'docker.io' ? `the "${ref.path.split('/')[0]}" namespace` : ref.name}, or log in again with strata login${ref.domain === 'docker.io' ? '' : ` ${ref.domain}`}.`,
      );
    }
    if (op === 'pull' && isDenied(err)) {
      return wrap(
        'EUNAUTHORIZED',
        `pull access denied for ${name}, repository does not exist or may require 'strata login': ${said}`,
        ctx.hasCredential
          ? `Check the name; your login for ${ref.domain} may not be allowed to read it.`
          : `Check the name, or log in: strata login${ref.domain === 'docker.io' ? '' : ` ${ref.domain}`}`,
      );
    }
    if (op === 'pull' && err.status === 404) {
      if (err.has('NAME_UNKNOWN'))
        return wrap(
          'ENOTFOUND',
          `pulling ${shown}: repository ${ref.name} not found: ${said}`,
          'Check the name.',
        );
      return wrap(
        'ENOTFOUND',
        `manifest for ${shown} not found: ${said}`,
        ref.tag !== undefined ? `Check the tag; strata pull -a ${name} gets every tag.` : 'Check the digest.',
      );
    }
    return wrap(err.code, `${op === 'pull' ? 'pulling' : 'pushing'} ${shown}: ${said}`, err.hint);
  }
  if (err instanceof RegistryNetworkError) {
    const why = err.untrusted
      ? `the TLS certificate of ${ref.domain} is not trusted`
      : `cannot reach ${ref.domain}`;
    return wrap(
      'EUNAVAILABLE',
      `${op === 'pull' ? 'pulling' : 'pushing'} ${shown}: ${why}`,
      err.hint ?? 'Check the network and the registry address, then try again.',
    );
  }
  const verb = `${op === 'pull' ? 'pulling' : 'pushing'} ${shown}`;
  if (isBuilderError(err)) return wrap(err.code, verb, err.hint);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return wrap(code === 'ECONNRESET' || code === 'EPIPE' ? 'EUNAVAILABLE' : 'EINTERNAL', verb);
}

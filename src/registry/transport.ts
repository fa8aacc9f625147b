// The HTTP side of one registry (ggcr remote/transport): ping, authentication, retries,
// redirects, registry errors as data, and nothing secret in messages or logs.
//
// * Ping: `GET /v2/` once (memoized) tells the scheme and how to authenticate: 200 → nothing,
//   401 → the WWW-Authenticate challenge (Basic, or Bearer with realm and service). Plain HTTP
//   is tried only for insecure registries (localhost, 127.0.0.0/8 and ::1 always, as docker;
//   others when configured or with --tls-verify=false), after HTTPS without verification.
// * Basic: the keychain's username and password on every request.
// * Bearer: a token per set of scopes (`repository:user/app:pull,push`), fetched from the realm
//   anonymously, with Basic credentials (GET), or with an identity token (POST
//   grant_type=refresh_token), cached until shortly before it expires and shared by concurrent
//   requests (the cache holds promises). A 401 on a request (expired token, or
//   `insufficient_scope` naming more scopes) drops the token and tries once more.
// * Retries: every request goes through withRetry() (retry.ts) unless the caller owns the retry
//   (an upload session is repeated as a whole).
// * Redirects (blob downloads to object storage) are followed for GET and HEAD, at most 5, and
//   the Authorization header is not sent to another host.

import { anonymousKeychain, type Credential, hasSecret, type Keychain } from '../auth/keychain.js';
import { BuilderError } from '../errors.js';
import { type Challenge, challengeScopes, parseChallenges } from './challenge.js';
import {
  ERROR_BODY_MAX,
  parseDiagnostics,
  parseRetryAfter,
  RegistryError,
  RegistryNetworkError,
} from './errors.js';
import {
  followRedirects,
  type HttpAgents,
  type HttpResponse,
  httpExchange,
  makeAgents,
  readBody,
  readCapped,
} from './http.js';
import { redactUrl } from './redact.js';
import { type RetryNotice, type RetryPolicy, resolveRetryPolicy, withRetry } from './retry.js';

export const DEFAULT_USER_AGENT = 'strata/0.1';
/** The client_id sent to token servers (docker sends "docker"). */
export const CLIENT_ID = 'strata';
const MAX_REDIRECTS = 5;
const TOKEN_BODY_MAX = 1024 * 1024;

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface TransportOptions {
  keychain?: Keychain;
  /** Allow plain HTTP and unverified TLS for this registry. */
  insecure?: boolean;
  userAgent?: string;
  retry?: Partial<RetryPolicy>;
  /** Socket idle time before a request fails (ETIMEDOUT, retried). Default 120 s. */
  timeoutMs?: number;
  /** Debug lines (method, redacted URL, status); silent by default. */
  log?: (line: string) => void;
  /** Told before each retry wait. */
  onRetry?: (notice: RetryNotice & { what: string }) => void;
}

export interface RegistryRequest {
  method: HttpMethod;
  /** A path from the registry root (`/v2/…`), or an absolute URL (an upload Location). */
  url: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Token scopes this request needs, e.g. `repository:user/app:pull`. */
  scopes: string[];
  /** Statuses that mean success; any other is a RegistryError. */
  expect: number[];
  /** false: a single try (the caller repeats a bigger unit). Default true. */
  retry?: boolean;
  signal?: AbortSignal;
  onBodyProgress?: (bytes: number) => void;
}

export interface TransportStats {
  requests: number;
  retries: number;
  tokenFetches: number;
}

export interface PingResult {
  scheme: 'https' | 'http';
  /** How the registry wants to be authenticated; undefined when /v2/ answered 200. */
  challenge: Challenge | undefined;
}

interface TokenEntry {
  token: string;
  /** ms since epoch; refetch after this. */
  renewAt: number;
  refreshToken?: string;
}

/** `repository:<path>:<actions>` */
export function repositoryScope(path: string, actions: 'pull' | 'push' | 'pull,push'): string {
  return `repository:${path}:${actions}`;
}

/** True for the hosts docker always treats as insecure: localhost, 127.0.0.0/8, ::1. */
export function isLocalRegistry(registry: string): boolean {
  let host = registry.toLowerCase();
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.includes(':') && host.split(':').length === 2) host = host.slice(0, host.indexOf(':'));
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The host the API lives on: Docker Hub's is registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export class RegistryTransport {
  /** The registry as references name it (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  readonly host: string;
  readonly insecure: boolean;
  readonly stats: TransportStats = { requests: 0, retries: 0, tokenFetches: 0 };
  readonly #keychain: Keychain;
  readonly #policy: RetryPolicy;
  readonly #agents: HttpAgents;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #log: ((line: string) => void) | undefined;
  readonly #onRetry: TransportOptions['onRetry'];
  #ping: Promise<PingResult> | undefined;
  /** A challenge learnt from a 401 when /v2/ itself was open. */
  #lateChallenge: Challenge | undefined;
  #credential: Promise<Credential | undefined> | undefined;
  readonly #tokens = new Map<string, Promise<TokenEntry>>();

  constructor(registry: string, options: TransportOptions = {}) {
    this.registry = registry;
    this.host = apiHost(registry);
    this.insecure = options.insecure ?? false;
    this.#keychain = options.keychain ?? anonymousKeychain;
    this.#policy = resolveRetryPolicy(options.retry);
    this.#agents = makeAgents({ verifyTls: !this.insecure });
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#log = options.log;
    this.#onRetry = options.onRetry;
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#agents.destroy();
  }

  /** Runs `fn` under this transport's retry policy (for units bigger than one request). */
  retrying<T>(what: string, fn: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(this.#policy, fn, {
      ...(signal === undefined ? {} : { signal }),
      onRetry: (n) => {
        this.stats.retries++;
        this.#log?.(`retrying ${what} in ${n.delayMs} ms after: ${(n.error as Error).message}`);
        this.#onRetry?.({ ...n, what });
      },
    });
  }

  credential(): Promise<Credential | undefined> {
    this.#credential ??= this.#keychain.resolve(this.registry);
    this.#credential.catch(() => {
      this.#credential = undefined;
    });
    return this.#credential;
  }

  // -------------------------------------------------------------------------------------------
  // Ping

  ping(signal?: AbortSignal): Promise<PingResult> {
    this.#ping ??= this.#doPing(signal);
    this.#ping.catch(() => {
      this.#ping = undefined; // a failed ping may be tried again later
    });
    return this.#ping;
  }

  async #doPing(signal: AbortSignal | undefined): Promise<PingResult> {
    const tryScheme = async (scheme: 'https' | 'http', retry: boolean): Promise<PingResult> => {
      const url = new URL(`${scheme}://${this.host}/v2/`);
      const once = async () => {
        const res = await this.#exchange('GET', url, {}, undefined, signal);
        const body = await readCapped(res.body, ERROR_BODY_MAX);
        if (res.status === 200) return { scheme, challenge: undefined };
        if (res.status === 401) {
          const challenges = parseChallenges(res.headers['www-authenticate']);
          const challenge =
            challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
          if (challenge === undefined)
            throw new RegistryError({
              status: 401,
              method: 'GET',
              url: redactUrl(url),
              diagnostics: parseDiagnostics(body),
              hint: 'The registry asks for authentication in a way strata does not support (neither Basic nor Bearer).',
            });
          return { scheme, challenge };
        }
        throw this.#errorOf('GET', url, res, body);
      };
      return retry ? this.retrying(`GET ${redactUrl(url)}`, once, signal) : once();
    };
    if (!this.insecure) return tryScheme('https', true);
    try {
      return await tryScheme('https', false);
    } catch (err) {
      if (!(err instanceof RegistryNetworkError)) throw err;
      this.#log?.(`${this.host}: HTTPS failed (${err.message}); trying plain HTTP`);
      return tryScheme('http', true);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /**
   * Sends a request (with authentication, redirects and retries) and hands a successful
   * response to `consume`; a temporary failure inside `consume` (a broken body) repeats the
   * whole exchange. The body is drained or destroyed afterwards.
   */
  async send<T>(req: RegistryRequest, consume: (res: HttpResponse) => Promise<T>): Promise<T> {
    const one = async (): Promise<T> => {
      const res = await this.#authorized(req);
      try {
        return await consume(res);
      } finally {
        if (!res.body.readableEnded) res.body.destroy();
      }
    };
    if (req.retry === false) return one();
    return this.retrying(`${req.method} ${redactUrl(await this.resolveUrl(req))}`, one, req.signal);
  }

  /** send() reading the body into memory (at most `max` bytes, default 16 MiB). */
  async request(
    req: RegistryRequest,
    max = 16 * 1024 * 1024,
  ): Promise<{ status: number; headers: HttpResponse['headers']; url: URL; body: Buffer }> {
    return this.send(req, async (res) => ({
      status: res.status,
      headers: res.headers,
      url: res.url,
      body: req.method === 'HEAD' ? Buffer.alloc(0) : await readBody(res.body, max, `${req.method} response`),
    }));
  }

  /** The absolute URL of a request (after the ping decided the scheme). */
  async resolveUrl(req: Pick<RegistryRequest, 'url' | 'query'>, signal?: AbortSignal): Promise<URL> {
    let url: URL;
    if (/^https?:\/\//.test(req.url)) url = new URL(req.url);
    else {
      const { scheme } = await this.ping(signal);
      url = new URL(`${scheme}://${this.host}${req.url}`);
    }
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    return url;
  }

  async #authorized(req: RegistryRequest): Promise<HttpResponse> {
    const url = await this.resolveUrl(req, req.signal);
    let scopes = req.scopes;
    let auth = await this.#authorization(scopes, false, req.signal);
    let res = await this.#follow(req, url, auth);
    if (res.status === 401) {
      const body = await readCapped(res.body, ERROR_BODY_MAX);
      const challenges = parseChallenges(res.headers['www-authenticate']);
      const bearer = challenges.find((c) => c.scheme === 'bearer');
      const basic = challenges.find((c) => c.scheme === 'basic');
      const fresh = bearer ?? basic;
      const ping = await this.ping(req.signal);
      if (fresh !== undefined && ping.challenge === undefined) this.#lateChallenge = fresh;
      if (bearer !== undefined) scopes = [...new Set([...scopes, ...challengeScopes(bearer)])];
      const canRetry =
        fresh !== undefined &&
        (fresh.scheme === 'bearer' || (auth === undefined && hasSecret(await this.credential())));
      if (!canRetry) throw await this.#unauthorized(req.method, url, res, body);
      auth = await this.#authorization(scopes, true, req.signal, fresh);
      res = await this.#follow(req, url, auth);
      if (res.status === 401) {
        const again = await readCapped(res.body, ERROR_BODY_MAX);
        throw await this.#unauthorized(req.method, url, res, again);
      }
    }
    if (!req.expect.includes(res.status)) {
      const body = req.method === 'HEAD' ? '' : await readCapped(res.body, ERROR_BODY_MAX);
      res.body.resume();
      if (res.status === 403) throw await this.#unauthorized(req.method, res.url, res, body);
      throw this.#errorOf(req.method, res.url, res, body);
    }
    return res;
  }

  /** One exchange, following redirects for GET/HEAD. */
  async #follow(req: RegistryRequest, url: URL, auth: string | undefined): Promise<HttpResponse> {
    const send = (current: URL) => {
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      if (auth !== undefined && current.host === url.host) headers.authorization = auth;
      return this.#exchange(req.method, current, headers, req.body, req.signal, req.onBodyProgress);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(url);
    return followRedirects(
      url,
      MAX_REDIRECTS,
      send,
      () => new BuilderError('EINVAL', `${req.method} ${redactUrl(url)}: too many redirects`),
    );
  }

  async #exchange(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    onBodyProgress?: (bytes: number) => void,
  ): Promise<HttpResponse> {
    this.stats.requests++;
    if (url.protocol === 'http:' && !this.insecure && url.host === this.host)
      throw new BuilderError('EINVAL', `refusing plain HTTP to ${this.registry}`, {
        hint: `Mark it insecure (STRATA_INSECURE_REGISTRIES=${this.registry}) or use --tls-verify=false.`,
      });
    try {
      const res = await httpExchange({
        method,
        url,
        headers: { 'user-agent': this.#userAgent, ...headers },
        ...(body === undefined ? {} : { body }),
        agents: this.#agents,
        timeoutMs: this.#timeoutMs,
        ...(signal === undefined ? {} : { signal }),
        ...(onBodyProgress === undefined ? {} : { onBodyProgress }),
      });
      this.#log?.(`${method} ${redactUrl(url)} → ${res.status}`);
      return res;
    } catch (err) {
      if (signal?.aborted) throw new BuilderError('ECANCELED', `${method} ${redactUrl(url)}: canceled`);
      this.#log?.(`${method} ${redactUrl(url)} → ${(err as Error).message}`);
      throw new RegistryNetworkError(method, redactUrl(url), err);
    }
  }

  #errorOf(method: string, url: URL, res: HttpResponse, body: string): RegistryError {
    const retryAfterMs = parseRetryAfter(
      typeof res.headers['retry-after'] === 'string' ? res.headers['retry-after'] : undefined,
    );
    return new RegistryError({
      status: res.status,
      method,
      url: redactUrl(url),
      diagnostics: parseDiagnostics(body),
      bodyText: body,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  async #unauthorized(method: string, url: URL, res: HttpResponse, body: string): Promise<RegistryError> {
    const cred = await this.credential().catch(() => undefined);
    const e = this.#errorOf(method, url, res, body);
    const hint = hasSecret(cred)
      ? `The registry refused the credentials stored for ${this.registry}, or they do not allow this: check the name and your rights, or log in again with strata login ${this.registry}.`
      : `Log in first: strata login ${this.registry}`;
    return new RegistryError({
      status: res.status,
      method,
      url: e.url,
      diagnostics: e.diagnostics,
      bodyText: body,
      hint,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Authentication

  async #authorization(
    scopes: string[],
    renew: boolean,
    signal: AbortSignal | undefined,
    override?: Challenge,
  ): Promise<string | undefined> {
    const ping = await this.ping(signal);
    const challenge = override ?? ping.challenge ?? this.#lateChallenge;
    if (challenge === undefined) return undefined;
    const cred = await this.credential();
    if (challenge.scheme === 'basic') {
      if (cred?.username === undefined || cred.password === undefined) return undefined;
      return basicHeader(cred.username, cred.password);
    }
    if (cred?.registryToken !== undefined && cred.registryToken !== '') return `Bearer ${cred.registryToken}`;
    const entry = await this.#bearer(challenge, scopes, cred, renew, signal);
    return `Bearer ${entry.token}`;
  }

  #bearer(
    challenge: Challenge,
    scopes: string[],
    cred: Credential | undefined,
    renew: boolean,
    signal: AbortSignal | undefined,
  ): Promise<TokenEntry> {
    const realm = challenge.params.realm;
    if (realm === undefined || realm === '')
      throw new BuilderError('EINVAL', `${this.registry} sent a Bearer challenge without a realm`);
    const key = `${realm}|${challenge.params.service ?? ''}|${[...scopes].sort().join(' ')}`;
    const cached = this.#tokens.get(key);
    if (cached !== undefined && !renew) {
      return cached.then((entry) => {
        if (entry.renewAt > Date.now()) return entry;
        this.#tokens.delete(key);
        return this.#bearer(challenge, scopes, cred, true, signal);
      });
    }
    const pending = this.fetchToken(challenge, scopes, cred, {}, signal);
    this.#tokens.set(key, pending);
    pending.catch(() => {
      if (this.#tokens.get(key) === pending) this.#tokens.delete(key);
    });
    return pending;
  }

  /**
   * Asks the token server of a Bearer challenge for a token. With an identity token: POST
   * grant_type=refresh_token; with a username and password: GET with Basic auth (and
   * `offline_token=true` when a refresh token is wanted, as docker login does); else anonymous.
   */
  async fetchToken(
    challenge: Challenge,
    scopes: string[],
    cred: Credential | undefined,
    options: { offline?: boolean } = {},
    signal?: AbortSignal,
  ): Promise<TokenEntry> {
    const realm = new URL(challenge.params.realm as string);
    const service = challenge.params.service;
    return this.retrying(
      `token from ${redactUrl(realm)}`,
      async () => {
        this.stats.tokenFetches++;
        const url = new URL(realm);
        let method: 'GET' | 'POST' = 'GET';
        let body: Uint8Array | undefined;
        const headers: Record<string, string> = { accept: 'application/json' };
        if (cred?.identityToken !== undefined && cred.identityToken !== '') {
          method = 'POST';
          const form = new URLSearchParams();
          form.set('grant_type', 'refresh_token');
          form.set('refresh_token', cred.identityToken);
          if (service !== undefined) form.set('service', service);
          if (scopes.length > 0) form.set('scope', scopes.join(' '));
          form.set('client_id', CLIENT_ID);
          body = Buffer.from(form.toString(), 'utf8');
          headers['content-type'] = 'application/x-www-form-urlencoded';
        } else {
          if (service !== undefined) url.searchParams.set('service', service);
          for (const s of scopes) url.searchParams.append('scope', s);
          if (cred?.username !== undefined && cred.password !== undefined) {
            headers.authorization = basicHeader(cred.username, cred.password);
            url.searchParams.set('account', cred.username);
            if (options.offline) {
              url.searchParams.set('offline_token', 'true');
              url.searchParams.set('client_id', CLIENT_ID);
            }
          }
        }
        const res = await this.#exchange(method, url, headers, body, signal);
        if (res.status !== 200) {
          const text = await readCapped(res.body, ERROR_BODY_MAX);
          const e = this.#errorOf(method, url, res, text);
          if (res.status === 401 || res.status === 403)
            throw await this.#unauthorized(method, url, res, text);
          throw e;
        }
        const raw = await readBody(res.body, TOKEN_BODY_MAX, 'token response');
        let parsed: {
          token?: unknown;
          access_token?: unknown;
          expires_in?: unknown;
          refresh_token?: unknown;
        };
        try {
          parsed = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new BuilderError('EINVAL', `the token server ${redactUrl(realm)} did not answer JSON`);
        }
        const token =
          typeof parsed.token === 'string' && parsed.token !== ''
            ? parsed.token
            : typeof parsed.access_token === 'string'
              ? parsed.access_token
              : '';
        if (token === '')
          throw new BuilderError('EINVAL', `the token server ${redactUrl(realm)} sent no token`);
        const expiresIn =
          typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
        const lifetimeMs = expiresIn * 1000;
        const entry: TokenEntry = {
          token,
          renewAt: Date.now() + lifetimeMs - Math.min(10_000, lifetimeMs / 10),
        };
        if (typeof parsed.refresh_token === 'string' && parsed.refresh_token !== '')
          entry.refreshToken = parsed.refresh_token;
        return entry;
      },
      signal,
    );
  }

  /**
   * Checks a credential the way `docker login` does: Basic against /v2/, or a token request
   * (asking for a refresh token) for Bearer. Resolves to the identity token to keep, if any.
   */
  async verifyLogin(signal?: AbortSignal): Promise<{ identityToken?: string }> {
    const ping = await this.ping(signal);
    const cred = await this.credential();
    if (ping.challenge === undefined) return {};
    if (ping.challenge.scheme === 'bearer') {
      const entry = await this.fetchToken(ping.challenge, [], cred, { offline: true }, signal);
      return entry.refreshToken === undefined ? {} : { identityToken: entry.refreshToken };
    }
    await this.request({
      method: 'GET',
      url: '/v2/',
      scopes: [],
      expect: [200],
      ...(signal ? { signal } : {}),
    });
    return {};
  }
}

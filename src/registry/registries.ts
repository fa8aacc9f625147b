// Options for talking to registries, resolved in one place (ggcr makeOptions), and a pool of
// one transport per registry host so tokens and connections are reused within a process.

import { anonymousKeychain, type Keychain } from '../auth/keychain.js';
import { BuilderError } from '../errors.js';
import { RegistryClient } from './client.js';
import type { RetryNotice, RetryPolicy } from './retry.js';
import { isLocalRegistry, RegistryTransport, type TransportStats } from './transport.js';

export interface RegistryOptions {
  /** Where credentials come from; default: none (anonymous). */
  keychain?: Keychain;
  /**
   * Registries reached over plain HTTP or unverified TLS (`host` or `host:port`), besides
   * localhost, 127.0.0.0/8 and ::1, which always are (as docker).
   */
  insecureRegistries?: string[];
  /** false: every registry is insecure (--tls-verify=false). Default true. */
  tlsVerify?: boolean;
  userAgent?: string;
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
  /** Blobs up to this size go up in one PUT (default 16 MiB). */
  monolithicMax?: number;
  /** PATCH size for larger blobs (default 16 MiB). */
  chunkSize?: number;
  /** Parallel blob transfers (default 3, docker's download default). */
  concurrency?: number;
  /** Debug lines, redacted. */
  log?: (line: string) => void;
  onRetry?: (notice: RetryNotice & { what: string }) => void;
}

export interface ResolvedRegistryOptions extends RegistryOptions {
  keychain: Keychain;
  insecureRegistries: string[];
  tlsVerify: boolean;
  monolithicMax: number;
  chunkSize: number;
  concurrency: number;
}

export function resolveRegistryOptions(options: RegistryOptions = {}): ResolvedRegistryOptions {
  const concurrency = options.concurrency ?? 3;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 32)
    throw new BuilderError('EINVAL', `concurrency must be 1 to 32, not ${concurrency}`);
  const chunkSize = options.chunkSize ?? 16 * 1024 * 1024;
  const monolithicMax = options.monolithicMax ?? 16 * 1024 * 1024;
  if (!(chunkSize >= 1) || !(monolithicMax >= 0))
    throw new BuilderError('EINVAL', 'chunk size and monolithic limit must be positive');
  return {
    ...options,
    keychain: options.keychain ?? anonymousKeychain,
    insecureRegistries: (options.insecureRegistries ?? []).map((h) => h.trim().toLowerCase()).filter(Boolean),
    tlsVerify: options.tlsVerify ?? true,
    monolithicMax,
    chunkSize,
    concurrency,
  };
}

/** Parses a comma- or space-separated list of registries (STRATA_INSECURE_REGISTRIES). */
export function parseRegistryList(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split(/[\s,]+/)
    .map((s) => s.replace(/^https?:\/\//, '').replace(/\/+$/, ''))
    .filter((s) => s !== '');
}

export class Registries {
  readonly options: ResolvedRegistryOptions;
  readonly #clients = new Map<string, RegistryClient>();

  constructor(options: RegistryOptions = {}) {
    this.options = resolveRegistryOptions(options);
  }

  isInsecure(registry: string): boolean {
    const host = registry.toLowerCase();
    if (!this.options.tlsVerify || isLocalRegistry(host)) return true;
    const bare = host.replace(/:\d+$/, '');
    return this.options.insecureRegistries.some((r) => r === host || r === bare);
  }

  /** The client of a registry host (as references name it), made once. */
  client(registry: string): RegistryClient {
    let c = this.#clients.get(registry);
    if (c === undefined) {
      const o = this.options;
      c = new RegistryClient(
        new RegistryTransport(registry, {
          keychain: o.keychain,
          insecure: this.isInsecure(registry),
          ...(o.userAgent === undefined ? {} : { userAgent: o.userAgent }),
          ...(o.retry === undefined ? {} : { retry: o.retry }),
          ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
          ...(o.log === undefined ? {} : { log: o.log }),
          ...(o.onRetry === undefined ? {} : { onRetry: o.onRetry }),
        }),
      );
      this.#clients.set(registry, c);
    }
    return c;
  }

  /** Requests, retries and token fetches over every registry used. */
  stats(): TransportStats {
    const total: TransportStats = { requests: 0, retries: 0, tokenFetches: 0 };
    for (const c of this.#clients.values()) {
      total.requests += c.transport.stats.requests;
      total.retries += c.transport.stats.retries;
      total.tokenFetches += c.transport.stats.tokenFetches;
    }
    return total;
  }

  close(): void {
    for (const c of this.#clients.values()) c.transport.close();
    this.#clients.clear();
  }
}

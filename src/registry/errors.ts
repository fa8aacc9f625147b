// Registry errors as data (ggcr transport/error.go): the HTTP status, the request (method and a
// redacted URL) and the `errors: [{code, message, detail}]` the distribution API returns, read
// from a body capped at 64 KiB. Whether an error is worth retrying is a property of the error
// (`isTemporary`), decided from the status or the socket error code, never from message text.

import { BuilderError, type ErrorCode } from '../errors.js';

export interface RegistryDiagnostic {
  /** `UNAUTHORIZED`, `DENIED`, `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `TOOMANYREQUESTS`, … */
  code: string;
  message: string;
  detail?: unknown;
}

export const ERROR_BODY_MAX = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** 429 and 5xx (but not 501 Not Implemented or 505): the registry may answer better later. */
export function isTemporaryStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

function codeForStatus(status: number, diagnostics: RegistryDiagnostic[]): ErrorCode {
  if (diagnostics.some((d) => d.code === 'DIGEST_INVALID' || d.code === 'SIZE_INVALID')) return 'EDIGEST';
  if (status === 401 || status === 403) return 'EUNAUTHORIZED';
  if (diagnostics.some((d) => d.code === 'UNAUTHORIZED' || d.code === 'DENIED')) return 'EUNAUTHORIZED';
  if (status === 404) return 'ENOTFOUND';
  if (isTemporaryStatus(status)) return 'EUNAVAILABLE';
  return 'EINVAL';
}

export class RegistryError extends BuilderError {
  readonly status: number;
  readonly method: string;
  /** Redacted. */
  readonly url: string;
  readonly diagnostics: RegistryDiagnostic[];
  /** From Retry-After, when the registry sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(options: {
    status: number;
    method: string;
    url: string;
    diagnostics?: RegistryDiagnostic[];
    retryAfterMs?: number;
    /** Body text when it was not the JSON error document (already capped). */
    bodyText?: string;
    hint?: string;
  }) {
    const diagnostics = options.diagnostics ?? [];
    const statusText = STATUS_TEXT[options.status] ?? '';
    let detail = diagnostics.map((d) => `${d.code}: ${d.message}`).join('; ');
    if (detail === '' && options.bodyText !== undefined) {
      const line = options.bodyText.replace(/\s+/g, ' ').trim().slice(0, 200);
      if (line !== '' && !line.startsWith('<')) detail = line;
    }
    super(
      codeForStatus(options.status, diagnostics),
      `${options.method} ${options.url}: ${options.status}${statusText ? ` ${statusText}` : ''}${detail ? `: ${detail}` : ''}`,
      options.hint === undefined ? {} : { hint: options.hint },
    );
    this.status = options.status;
    this.method = options.method;
    this.url = options.url;
    this.diagnostics = diagnostics;
    this.retryAfterMs = options.retryAfterMs;
  }

  override get name(): string {
    return 'RegistryError';
  }

  get temporary(): boolean {
    return isTemporaryStatus(this.status);
  }

  /** True when the registry sent this error code (`DENIED`, `NAME_UNKNOWN`, …). */
  has(code: string): boolean {
    return this.diagnostics.some((d) => d.code === code);
  }
}

/** Socket-level failures worth another try: the connection broke, or timed out. */
const TEMPORARY_ERRNO = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'ERR_HTTP_REQUEST_TIMEOUT',
]);

/** A request that got no (complete) answer: refused, reset, timed out, TLS failed. */
/** A TLS verification failure (OpenSSL's codes as Node reports them). */
export function isCertificateError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code);
}

/** What to do about a certificate no root trusts (ADD downloads say it too). */
export const PRIVATE_CA_HINT =
  "A server with a private CA: point NODE_EXTRA_CA_CERTS at that CA's certificate (PEM).";

export class RegistryNetworkError extends BuilderError {
  readonly method: string;
  readonly url: string;
  readonly errno: string | undefined;
  /** TLS verification failed: the server's certificate is not trusted. */
  readonly untrusted: boolean;

  constructor(method: string, url: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const what = (cause instanceof Error ? cause.message : String(cause)).split('\n')[0]?.trim() ?? '';
    super('EUNAVAILABLE', `${method} ${url}: ${what}`, {
      ...(errno === 'ECONNREFUSED'
        ? { hint: 'Nothing listens there: is the registry running, and is the address right?' }
        : isCertificateError(cause)
          ? {
              hint: `${PRIVATE_CA_HINT} Or, for a registry you trust without TLS checks, name it in STRATA_INSECURE_REGISTRIES.`,
            }
          : {}),
    });
    this.method = method;
    this.url = url;
    this.errno = errno;
    this.untrusted = isCertificateError(cause);
  }

  override get name(): string {
    return 'RegistryNetworkError';
  }

  get temporary(): boolean {
    return this.errno !== undefined && TEMPORARY_ERRNO.has(this.errno);
  }
}

/** Should the operation that failed with `err` be tried again? */
export function isTemporary(err: unknown): boolean {
  if (err instanceof RegistryError || err instanceof RegistryNetworkError) return err.temporary;
  if (err instanceof BuilderError) return false;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && TEMPORARY_ERRNO.has(code);
}

/** Parses the distribution error document; [] when the body is something else. */
export function parseDiagnostics(body: string): RegistryDiagnostic[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  const out: RegistryDiagnostic[] = [];
  for (const e of errors.slice(0, 20)) {
    if (typeof e !== 'object' || e === null) continue;
    const o = e as { code?: unknown; message?: unknown; detail?: unknown };
    const d: RegistryDiagnostic = {
      code: typeof o.code === 'string' ? o.code : 'UNKNOWN',
      message: typeof o.message === 'string' ? o.message.slice(0, 500) : '',
    };
    if (o.detail !== undefined) d.detail = o.detail;
    out.push(d);
  }
  return out;
}

/** Retry-After: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

// One HTTP exchange over node:http/node:https (not fetch): we need per-registry TLS settings
// (--tls-verify=false) without a third-party dispatcher, an exact Content-Length on uploads,
// and the socket's own error codes (ECONNRESET, EPIPE) to decide about retries. Bodies we send
// are in memory (a manifest, one upload chunk), written in slices so progress can be counted.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { BuilderError } from '../errors.js';
import { deferredExtraCaFile } from './extra-ca.js';

/** The keep-alive agents of a transport (or a download). The https one is made at the first
 * HTTPS exchange: its secure context reads NODE_EXTRA_CA_CERTS's file, which a plain-HTTP
 * registry (a local one) never needs. */
export class HttpAgents {
  readonly http: http.Agent;
  #https: https.Agent | undefined;

  constructor(private readonly options: { verifyTls: boolean; maxSockets: number }) {
    this.http = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  }

  get https(): https.Agent {
    if (this.#https === undefined) {
      const context = extraCaContext();
      this.#https = new https.Agent({
        keepAlive: true,
        maxSockets: this.options.maxSockets,
        rejectUnauthorized: this.options.verifyTls,
        ...(context === undefined ? {} : { secureContext: context }),
      });
    }
    return this.#https;
  }

  /** Closes idle keep-alive connections (an https agent never made is not made for this). */
  destroy(): void {
    this.http.destroy();
    this.#https?.destroy();
  }
}

export function makeAgents(options: { verifyTls: boolean; maxSockets?: number }): HttpAgents {
  return new HttpAgents({ verifyTls: options.verifyTls, maxSockets: options.maxSockets ?? 16 });
}

let extraContext: tls.SecureContext | undefined;

/** Node's default trust plus the NODE_EXTRA_CA_CERTS that Node did not load at start
 * (registry/extra-ca.ts); undefined when Node's own default already is what to trust. */
function extraCaContext(): tls.SecureContext | undefined {
  const file = deferredExtraCaFile();
  if (file === undefined) return undefined;
  if (extraContext !== undefined) return extraContext;
  // createSecureContext() without `ca` holds Node's default roots (bundled, or OpenSSL's with
  // --use-openssl-ca); adding to it, rather than passing `ca`, keeps them whichever they are,
  // which is what Node does with the variable at start.
  const context = tls.createSecureContext();
  const native = (context as unknown as { context?: { addCACert?: (pem: string | Buffer) => void } }).context;
  if (typeof native?.addCACert !== 'function')
    throw new BuilderError(
      'EPRECONDITION',
      `cannot add the certificates of NODE_EXTRA_CA_CERTS (${file}) to TLS`,
      {
        hint: 'This Node.js has no SecureContext.addCACert: run the CLI as `node dist/strata.cjs`, which lets Node load them.',
      },
    );
  try {
    native.addCACert(readFileSync(file));
  } catch (err) {
    // As Node at start: a file it cannot load is a warning, and the default roots stay.
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
  }
  extraContext = context;
  return context;
}

export interface HttpExchange {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Uint8Array;
  agents: HttpAgents;
  signal?: AbortSignal;
  /** Idle time on the socket before the exchange fails with ETIMEDOUT. */
  timeoutMs: number;
  onBodyProgress?: (bytes: number) => void;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  url: URL;
  body: Readable;
}

const SLICE = 64 * 1024;

function timeoutError(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('the connection timed out');
  err.code = 'ETIMEDOUT';
  return err;
}

/** Sends the request and resolves when the response headers arrive. */
export function httpExchange(x: HttpExchange): Promise<HttpResponse> {
  const secure = x.url.protocol === 'https:';
  const lib = secure ? https : http;
  const headers: Record<string, string> = { ...x.headers };
  if (x.body !== undefined) headers['content-length'] = String(x.body.byteLength);
  else if (x.method === 'PUT' || x.method === 'POST' || x.method === 'PATCH') headers['content-length'] = '0';
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const stop = new AbortController();
    const req = lib.request(x.url, {
      method: x.method,
      headers,
      agent: secure ? x.agents.https : x.agents.http,
      ...(x.signal === undefined ? {} : { signal: x.signal }),
    });
    req.setTimeout(x.timeoutMs, () => req.destroy(timeoutError()));
    req.on('error', (err) => {
      stop.abort();
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    req.on('close', () => stop.abort());
    req.on('response', (res) => {
      stop.abort();
      if (settled) {
        res.resume();
        return;
      }
      settled = true;
      // A response while the body was still going out (an early 401/413): this connection is
      // not reusable, drop it once the response has been read.
      if (!req.writableFinished) res.once('end', () => req.destroy());
      res.setTimeout(x.timeoutMs, () => res.destroy(timeoutError()));
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url: x.url, body: res });
    });
    const body = x.body;
    if (body === undefined || body.byteLength === 0) {
      req.end();
      return;
    }
    (async () => {
      for (let off = 0; off < body.byteLength && !stop.signal.aborted; off += SLICE) {
        const slice = body.subarray(off, Math.min(off + SLICE, body.byteLength));
        const more = req.write(slice);
        x.onBodyProgress?.(slice.byteLength);
        if (!more) {
          await new Promise<void>((res) => {
            const done = () => {
              req.off('drain', done);
              stop.signal.removeEventListener('abort', done);
              res();
            };
            req.on('drain', done);
            stop.signal.addEventListener('abort', done, { once: true });
          });
        }
      }
      if (!stop.signal.aborted) req.end();
    })().catch((err: unknown) => req.destroy(err as Error));
  });
}

/**
 * An exchange and the redirects it leads to (301, 302, 303, 307, 308 with a Location), at most
 * `max` of them: `send` makes each one, for a URL that may be another host's; `tooMany` is
 * thrown past `max`.
 */
export async function followRedirects(
  first: URL,
  max: number,
  send: (url: URL) => Promise<HttpResponse>,
  tooMany: () => Error,
): Promise<HttpResponse> {
  let current = first;
  for (let hop = 0; ; hop++) {
    const res = await send(current);
    const location = res.headers.location;
    if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined) return res;
    res.body.resume();
    if (hop >= max) throw tooMany();
    current = new URL(location, current);
  }
}

/** Reads a body to its end, failing (EINVAL) beyond `max` bytes. */
export async function readBody(body: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.byteLength;
    if (size > max) {
      body.destroy();
      throw new BuilderError('EINVAL', `${what} is larger than ${max} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Reads at most `max` bytes and discards the rest (error bodies). */
export async function readCapped(body: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      if (size < max) chunks.push(buf.subarray(0, max - size));
      size += buf.byteLength;
      if (size >= max) {
        body.destroy();
        break;
      }
    }
  } catch {
    // a broken error body: keep what arrived
  }
  return Buffer.concat(chunks).toString('utf8');
}

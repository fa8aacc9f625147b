// ADD <url>: downloads to a temp file, hashing as it goes; `--checksum` is verified before
// anything is used. The file name comes from the URL's path, as BuildKit names it.

import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createSha256 } from '../digest/sha256.js';
import { BuilderError, DigestMismatchError } from '../errors.js';
import { isCertificateError, PRIVATE_CA_HINT } from '../registry/errors.js';
import {
  followRedirects,
  type HttpAgents,
  type HttpResponse,
  httpExchange,
  makeAgents,
} from '../registry/http.js';
import { randomHex } from '../sys/index.js';

export interface Download {
  url: string;
  name: string;
  file: string;
  digest: string;
  mtime?: Date;
}

const MAX_REDIRECTS = 20; // as fetch() and Go's http.Client
const IDLE_TIMEOUT_MS = 120_000;

// Over node:http/https (registry/http.ts) rather than fetch(): the same TLS trust as registry
// exchanges, NODE_EXTRA_CA_CERTS included when Node did not load it (registry/extra-ca.ts).
// No Accept-Encoding is sent, so the file is the resource's own bytes, as BuildKit stores them.
export async function fetchToFile(
  url: string,
  tmpDir: string,
  options: { checksum?: string; signal?: AbortSignal } = {},
): Promise<Download> {
  const agents = makeAgents({ verifyTls: true, maxSockets: 1 });
  try {
    return await download(url, tmpDir, agents, options);
  } finally {
    agents.destroy();
  }
}

async function download(
  url: string,
  tmpDir: string,
  agents: HttpAgents,
  options: { checksum?: string; signal?: AbortSignal },
): Promise<Download> {
  let response: HttpResponse;
  try {
    response = await fetchFollowing(new URL(url), agents, options.signal);
  } catch (err) {
    if (err instanceof BuilderError) throw err;
    throw new BuilderError('EUNAVAILABLE', `failed to fetch ${url}: ${(err as Error).message}`, {
      cause: err,
      ...(isCertificateError(err) ? { hint: PRIVATE_CA_HINT } : {}),
    });
  }
  if (response.status < 200 || response.status > 299) {
    response.body.resume();
    throw new BuilderError(
      'ENOTFOUND',
      `failed to fetch ${url}: HTTP ${response.status} ${STATUS_CODES[response.status] ?? ''}`.trimEnd(),
    );
  }
  await mkdir(tmpDir, { recursive: true });
  const file = join(tmpDir, `download-${randomHex(8)}`);
  const hash = createSha256();
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(response.body, tap, createWriteStream(file), {
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const digest = `sha256:${hash.digest().toString('hex')}`;
  if (options.checksum !== undefined && options.checksum !== digest) {
    throw new DigestMismatchError(options.checksum, digest, `download ${url}`);
  }
  const path = new URL(url).pathname;
  const base = path.split('/').filter(Boolean).pop();
  const lastModified = response.headers['last-modified'];
  return {
    url,
    name: base && base !== '.' ? decodeURIComponent(base) : '__unnamed__',
    file,
    digest,
    ...(lastModified ? { mtime: new Date(lastModified) } : {}),
  };
}

function fetchFollowing(
  start: URL,
  agents: HttpAgents,
  signal: AbortSignal | undefined,
): Promise<HttpResponse> {
  const send = (url: URL) => {
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new BuilderError(
        'EINVAL',
        `failed to fetch ${start.href}: cannot follow a redirect to ${url.protocol} URLs`,
      );
    return httpExchange({
      method: 'GET',
      url,
      headers: { 'user-agent': 'strata', accept: '*/*' },
      agents,
      timeoutMs: IDLE_TIMEOUT_MS,
      ...(signal === undefined ? {} : { signal }),
    });
  };
  return followRedirects(
    start,
    MAX_REDIRECTS,
    send,
    () =>
      new BuilderError('EUNAVAILABLE', `failed to fetch ${start.href}: more than ${MAX_REDIRECTS} redirects`),
  );
}

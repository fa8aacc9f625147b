// ADD <url>: downloads to a temp file, hashing as it goes; `--checksum` is verified before
// anything is used. The file name comes from the URL's path, as BuildKit names it.

import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuilderError, DigestMismatchError } from '../errors.js';

export interface Download {
  url: string;
  name: string;
  file: string;
  digest: string;
  mtime?: Date;
}

export async function fetchToFile(
  url: string,
  tmpDir: string,
  options: { checksum?: string; signal?: AbortSignal } = {},
): Promise<Download> {
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: 'follow',
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    throw new BuilderError('EUNAVAILABLE', `failed to fetch ${url}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!response.ok || !response.body) {
    throw new BuilderError(
      'ENOTFOUND',
      `failed to fetch ${url}: HTTP ${response.status} ${response.statusText}`,
    );
  }
  await mkdir(tmpDir, { recursive: true });
  const file = join(tmpDir, `download-${randomBytes(8).toString('hex')}`);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(response.body as never), tap, createWriteStream(file));
  const digest = `sha256:${hash.digest('hex')}`;
  if (options.checksum !== undefined && options.checksum !== digest) {
    throw new DigestMismatchError(options.checksum, digest, `download ${url}`);
  }
  const path = new URL(url).pathname;
  const base = path.split('/').filter(Boolean).pop();
  const lastModified = response.headers.get('last-modified');
  return {
    url,
    name: base && base !== '.' ? decodeURIComponent(base) : '__unnamed__',
    file,
    digest,
    ...(lastModified ? { mtime: new Date(lastModified) } : {}),
  };
}

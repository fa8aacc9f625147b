// ADD <url>: downloaded at build time from a server of the test's own on 127.0.0.1, named
// after the URL's path, mode 0600; --checksum is verified, and a wrong one fails the step.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportRootfs } from '../../src/build/export-rootfs.js';
import { type BuildEnv, makeBuildEnv } from '../helpers/build-env.js';
import { overlayReason, skipIf } from './prereqs.js';

const reason = await overlayReason();
const BODY = 'downloaded content\n';

describe('build: ADD from a URL', { concurrency: false }, () => {
  let env: BuildEnv;
  let server: Server;
  let base: string;
  before(async () => {
    env = await makeBuildEnv();
    server = createServer((req, res) => {
      if (req.url === '/files/tool.txt') {
        res.writeHead(200, {
          'content-type': 'text/plain',
          'last-modified': 'Wed, 01 Nov 2023 10:00:00 GMT',
        });
        res.end(BODY);
      } else if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' });
        res.end();
      } else if (req.url === '/elsewhere') {
        res.writeHead(301, { location: 'ftp://127.0.0.1/tool.txt' });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await env.cleanup();
  });

  test('the file lands under its URL name, with --checksum verified', async (t) => {
    if (skipIf(t, reason)) return;
    const sum = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;
    const r = await env.build(`FROM scratch\nADD --checksum=${sum} ${base}/files/tool.txt /opt/\n`);
    const dir = join(env.root, 'flat-url');
    await exportRootfs(env.store.content, r.image, dir);
    assert.equal(await readFile(join(dir, 'opt/tool.txt'), 'utf8'), BODY);
    const st = await stat(join(dir, 'opt/tool.txt'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.mtime.toISOString(), '2023-11-01T10:00:00.000Z');
  });

  test('a wrong checksum, a 404, a redirect loop or to another scheme, and a URL in COPY are errors that say so', async (t) => {
    if (skipIf(t, reason)) return;
    const wrong = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      env.build(`FROM scratch\nADD --checksum=${wrong} ${base}/files/tool.txt /x\n`),
      /digest|checksum/i,
    );
    await assert.rejects(env.build(`FROM scratch\nADD ${base}/missing /x\n`), /404/);
    await assert.rejects(env.build(`FROM scratch\nADD ${base}/loop /x\n`), /more than 20 redirects/);
    await assert.rejects(
      env.build(`FROM scratch\nADD ${base}/elsewhere /x\n`),
      /cannot follow a redirect to ftp: URLs/,
    );
    await assert.rejects(
      env.build(`FROM scratch\nCOPY ${base}/files/tool.txt /x\n`),
      /source can't be a URL for COPY/,
    );
  });
});

// The transport against small in-process servers on 127.0.0.1: the Bearer token flow
// (anonymous, Basic credentials, identity token by POST), token reuse and renewal,
// insufficient_scope, Basic auth, redirects that must not carry credentials, retries on 5xx
// and resets, capped error bodies, and no secret in errors or logs.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { staticKeychain } from '../../../src/auth/keychain.js';
import type { RegistryError } from '../../../src/registry/errors.js';
import { parseRegistryList, Registries } from '../../../src/registry/registries.js';
import { isLocalRegistry, RegistryTransport } from '../../../src/registry/transport.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (req: Seen, res: http.ServerResponse) => void;

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: Handler): Promise<{ host: string; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      seen.push(s);
      handler(s, res);
    });
  });
  servers.push(server);
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return { host: `127.0.0.1:${port}`, port, seen };
}

const json = (
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/** A token server that hands out `t<n>`; `expires` seconds. */
async function tokenServer(
  options: { expires?: number; user?: { username: string; password: string } } = {},
) {
  let n = 0;
  const server = await serve((req, res) => {
    if (options.user !== undefined && req.method === 'GET') {
      const want = `Basic ${Buffer.from(`${options.user.username}:${options.user.password}`).toString('base64')}`;
      if (req.headers.authorization !== want)
        return json(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad creds' }] });
    }
    n++;
    json(res, 200, {
      token: `t${n}`,
      expires_in: options.expires ?? 300,
      refresh_token: 'refresh-from-server',
    });
  });
  return server;
}

/** A registry whose /v2/ asks for a Bearer token from `realm`; `check` decides on each request. */
async function bearerRegistry(realm: string, check: (req: Seen) => boolean | 'insufficient' = () => true) {
  return serve((req, res) => {
    const challenge = `Bearer realm="${realm}",service="fake"`;
    if (req.url === '/v2/' && req.headers.authorization === undefined)
      return json(
        res,
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        { 'www-authenticate': challenge },
      );
    const verdict = req.headers.authorization?.startsWith('Bearer ') ? check(req) : false;
    if (verdict === 'insufficient')
      return json(
        res,
        401,
        { errors: [{ code: 'DENIED', message: 'insufficient scope' }] },
        {
          'www-authenticate': `${challenge},scope="repository:a:pull repository:b:pull",error="insufficient_scope"`,
        },
      );
    if (verdict !== true)
      return json(
        res,
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        { 'www-authenticate': challenge },
      );
    json(res, 200, { ok: true, auth: req.headers.authorization });
  });
}

const get = (repo: string) => ({
  method: 'GET' as const,
  url: `/v2/${repo}/tags/list`,
  scopes: [`repository:${repo}:pull`],
  expect: [200],
});

const fastRetry = { baseDelayMs: 1, maxDelayMs: 5 };

test('anonymous Bearer: one token per scope, shared by sequential and parallel requests', async () => {
  const tokens = await tokenServer();
  const reg = await bearerRegistry(`http://${tokens.host}/token`);
  const t = new RegistryTransport(reg.host, { insecure: true, retry: fastRetry });
  try {
    for (let i = 0; i < 3; i++) await t.request(get('a'));
    await Promise.all(Array.from({ length: 5 }, () => t.request(get('a'))));
    assert.equal(tokens.seen.length, 1);
    assert.equal(t.stats.tokenFetches, 1);
    const first = new URL(tokens.seen[0]!.url, 'http://x');
    assert.equal(first.searchParams.get('service'), 'fake');
    assert.deepEqual(first.searchParams.getAll('scope'), ['repository:a:pull']);
    assert.equal(tokens.seen[0]!.headers.authorization, undefined);
    await t.request(get('b'));
    assert.equal(tokens.seen.length, 2);
    assert.ok(
      reg.seen.filter((r) => r.url !== '/v2/').every((r) => r.headers.authorization?.startsWith('Bearer t')),
    );
  } finally {
    t.close();
  }
});

test('an expiring token is fetched again', async () => {
  const tokens = await tokenServer({ expires: 1 });
  const reg = await bearerRegistry(`http://${tokens.host}/token`);
  const t = new RegistryTransport(reg.host, { insecure: true, retry: fastRetry });
  try {
    await t.request(get('a'));
    await new Promise((r) => setTimeout(r, 950));
    await t.request(get('a'));
    assert.equal(tokens.seen.length, 2);
  } finally {
    t.close();
  }
});

test('insufficient_scope: the token is fetched again for the scopes the registry names', async () => {
  const tokens = await tokenServer();
  const reg = await bearerRegistry(`http://${tokens.host}/token`, (req) =>
    req.headers.authorization === 'Bearer t1' ? 'insufficient' : true,
  );
  const t = new RegistryTransport(reg.host, { insecure: true, retry: fastRetry });
  try {
    const res = await t.request(get('a'));
    assert.equal(JSON.parse(res.body.toString()).auth, 'Bearer t2');
    const second = new URL(tokens.seen[1]!.url, 'http://x');
    assert.deepEqual(second.searchParams.getAll('scope').sort(), ['repository:a:pull', 'repository:b:pull']);
  } finally {
    t.close();
  }
});

test('credentials go to the token server as Basic; a refusal names no secret', async () => {
  const user = { username: 'alice', password: 'correct-horse-battery' };
  const tokens = await tokenServer({ user });
  const reg = await bearerRegistry(`http://${tokens.host}/token`);
  const lines: string[] = [];
  const ok = new RegistryTransport(reg.host, {
    insecure: true,
    keychain: staticKeychain({ [reg.host]: user }),
    log: (l) => lines.push(l),
  });
  const wrong = { username: 'alice', password: 'wrong-password-42' };
  const bad = new RegistryTransport(reg.host, {
    insecure: true,
    keychain: staticKeychain({ [reg.host]: wrong }),
    log: (l) => lines.push(l),
  });
  try {
    await ok.request(get('a'));
    const asked = new URL(tokens.seen[0]!.url, 'http://x');
    assert.equal(asked.searchParams.get('account'), 'alice');
    await assert.rejects(bad.request(get('a')), (err: RegistryError) => {
      assert.equal(err.code, 'EUNAUTHORIZED');
      assert.match(err.hint ?? '', /strata login 127\.0\.0\.1:\d+/);
      const text = `${err.message}\n${err.stack}\n${JSON.stringify(err)}`;
      for (const secret of [wrong.password, Buffer.from(`alice:${wrong.password}`).toString('base64')])
        assert.ok(!text.includes(secret), `secret in error: ${text}`);
      return true;
    });
    const all = lines.join('\n');
    assert.ok(lines.length > 0);
    for (const secret of [
      user.password,
      wrong.password,
      Buffer.from(`alice:${user.password}`).toString('base64'),
      'Bearer t1',
    ])
      assert.ok(!all.includes(secret), `secret in logs: ${secret}`);
  } finally {
    ok.close();
    bad.close();
  }
});

test('an identity token is exchanged with POST grant_type=refresh_token', async () => {
  const tokens = await tokenServer();
  const reg = await bearerRegistry(`http://${tokens.host}/token`);
  const t = new RegistryTransport(reg.host, {
    insecure: true,
    keychain: staticKeychain({ [reg.host]: { identityToken: 'my-refresh-token' } }),
  });
  try {
    await t.request(get('a'));
    const post = tokens.seen[0]!;
    assert.equal(post.method, 'POST');
    assert.equal(post.headers['content-type'], 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(post.body);
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('refresh_token'), 'my-refresh-token');
    assert.equal(form.get('service'), 'fake');
    assert.equal(form.get('scope'), 'repository:a:pull');
    assert.equal(form.get('client_id'), 'strata');
  } finally {
    t.close();
  }
});

test('login asks for a refresh token (offline_token) and returns it', async () => {
  const user = { username: 'alice', password: 'pw-1234' };
  const tokens = await tokenServer({ user });
  const reg = await bearerRegistry(`http://${tokens.host}/token`);
  const t = new RegistryTransport(reg.host, {
    insecure: true,
    keychain: staticKeychain({ [reg.host]: user }),
  });
  try {
    assert.deepEqual(await t.verifyLogin(), { identityToken: 'refresh-from-server' });
    const asked = new URL(tokens.seen[0]!.url, 'http://x');
    assert.equal(asked.searchParams.get('offline_token'), 'true');
    assert.equal(asked.searchParams.get('client_id'), 'strata');
  } finally {
    t.close();
  }
});

test('Basic auth: credentials on every request; without them a clear refusal', async () => {
  const want = `Basic ${Buffer.from('bob:pw-basic').toString('base64')}`;
  const reg = await serve((req, res) => {
    if (req.headers.authorization !== want)
      return json(
        res,
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
        { 'www-authenticate': 'Basic realm="r"' },
      );
    json(res, 200, {});
  });
  const t = new RegistryTransport(reg.host, {
    insecure: true,
    keychain: staticKeychain({ [reg.host]: { username: 'bob', password: 'pw-basic' } }),
  });
  const anon = new RegistryTransport(reg.host, { insecure: true });
  try {
    await t.request(get('x'));
    await t.request(get('y'));
    assert.ok(reg.seen.filter((r) => r.url !== '/v2/').every((r) => r.headers.authorization === want));
    await assert.rejects(anon.request(get('x')), (err: RegistryError) => {
      assert.equal(err.status, 401);
      assert.equal(err.hint, `Log in first: strata login ${reg.host}`);
      return true;
    });
  } finally {
    t.close();
    anon.close();
  }
});

test('a redirect to another host is followed without the Authorization header', async () => {
  const storage = await serve((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(`blob ${req.headers.authorization ?? 'no-auth'}`);
  });
  const want = `Basic ${Buffer.from('bob:pw').toString('base64')}`;
  const reg = await serve((req, res) => {
    if (req.headers.authorization !== want)
      return json(res, 401, {}, { 'www-authenticate': 'Basic realm="r"' });
    res.writeHead(307, { location: `http://localhost:${storage.port}/bucket/blob?X-Signature=s3cr3t` });
    res.end();
  });
  const t = new RegistryTransport(reg.host, {
    insecure: true,
    keychain: staticKeychain({ [reg.host]: { username: 'bob', password: 'pw' } }),
  });
  try {
    const res = await t.request({ method: 'GET', url: '/v2/a/blobs/sha256:00', scopes: [], expect: [200] });
    assert.equal(res.body.toString(), 'blob no-auth');
  } finally {
    t.close();
  }
});

test('500 then 200, and a reset connection, are retried; 4xx is not', async () => {
  let n = 0;
  const reg = await serve((req, res) => {
    if (req.url === '/v2/') return json(res, 200, {});
    n++;
    if (n === 1) return json(res, 500, { errors: [{ code: 'UNKNOWN', message: 'boom' }] });
    if (n === 2) return void res.socket?.destroy();
    if (req.url.includes('missing'))
      return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'no' }] });
    json(res, 200, { n });
  });
  const t = new RegistryTransport(reg.host, { insecure: true, retry: fastRetry });
  try {
    const res = await t.request(get('a'));
    assert.equal(JSON.parse(res.body.toString()).n, 3);
    assert.equal(t.stats.retries, 2);
    await assert.rejects(t.request(get('missing')), (err: RegistryError) => err.status === 404);
    assert.equal(t.stats.retries, 2);
  } finally {
    t.close();
  }
});

test('error bodies are capped; an HTML page is not quoted', async () => {
  const reg = await serve((req, res) => {
    if (req.url === '/v2/') return json(res, 200, {});
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('x'.repeat(2 * 1024 * 1024));
  });
  const t = new RegistryTransport(reg.host, { insecure: true });
  try {
    await assert.rejects(t.request(get('a')), (err: RegistryError) => {
      assert.equal(err.status, 400);
      assert.ok(err.message.length < 500, `${err.message.length} characters`);
      return true;
    });
  } finally {
    t.close();
  }
});

test('which registries are insecure: loopback always, a configured list, or all with tlsVerify=false', () => {
  assert.ok(isLocalRegistry('localhost:5000'));
  assert.ok(isLocalRegistry('127.0.0.1:5000'));
  assert.ok(isLocalRegistry('127.1.2.3'));
  assert.ok(isLocalRegistry('[::1]:5000'));
  assert.ok(!isLocalRegistry('docker.io'));
  assert.ok(!isLocalRegistry('registry.local:5000'));
  const r = new Registries({
    insecureRegistries: parseRegistryList('registry.local:5000, http://lab.example.com/'),
  });
  assert.ok(r.isInsecure('registry.local:5000'));
  assert.ok(r.isInsecure('lab.example.com:443'));
  assert.ok(!r.isInsecure('docker.io'));
  assert.ok(new Registries({ tlsVerify: false }).isInsecure('docker.io'));
});

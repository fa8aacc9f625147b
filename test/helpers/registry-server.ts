// The real registry (Debian's docker-registry, the CNCF distribution registry) for integration
// tests: storage in a temp dir, listening on 127.0.0.1 at a free port, in one of three set-ups:
// no auth, htpasswd (Basic), or token auth with a small token server here that issues RS256
// JWTs carrying its self-signed certificate in `x5c` (the registry's rootcertbundle trusts it).
// Nothing here reaches beyond 127.0.0.1; every wait is bounded.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export type RegistryAuth = 'none' | 'htpasswd' | 'token';

export interface TestUser {
  username: string;
  password: string;
}

export interface TokenServer {
  url: string;
  /** Requests answered, by kind. */
  counts: { get: number; refresh: number; denied: number };
  /** Refresh tokens issued (identity tokens for login). */
  refreshTokens: Set<string>;
  close(): Promise<void>;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  auth: RegistryAuth;
  user: TestUser;
  dir: string;
  token?: TokenServer;
  /** The registry's log (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Why the registry tests cannot run here, or undefined. */
export function registryMissing(): string | undefined {
  if (!existsSync(REGISTRY_BIN))
    return `${REGISTRY_BIN} is missing (apt-get install docker-registry; bash scripts/install-deps.sh)`;
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

async function startTokenServer(options: {
  dir: string;
  service: string;
  issuer: string;
  users: TestUser[];
}): Promise<TokenServer & { certPath: string }> {
  const keyPath = join(options.dir, 'token.key');
  const certPath = join(options.dir, 'token.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=strata-test-token',
    ],
    { stdio: 'ignore', timeout: 30_000 },
  );
  const key = await readFile(keyPath, 'utf8');
  const certPem = await readFile(certPath, 'utf8');
  const certDer = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  const counts = { get: 0, refresh: 0, denied: 0 };
  const refreshTokens = new Map<string, string>(); // token → username
  const issued = new Set<string>();

  const issue = (subject: string, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((scope) => {
      const m = /^repository:([^:]+):(.+)$/.exec(scope);
      if (!m) return [];
      return [
        {
          type: 'repository',
          name: m[1],
          actions: (m[2] as string).split(',').filter((a) => a === 'pull' || a === 'push'),
        },
      ];
    });
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = {
      iss: options.issuer,
      sub: subject,
      aud: options.service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(input).sign(key);
    return `${input}.${b64url(signature)}`;
  };

  const userOf = (authorization: string | undefined): string | undefined => {
    if (!authorization?.startsWith('Basic ')) return undefined;
    const [u, ...rest] = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':');
    const p = rest.join(':');
    return options.users.some((x) => x.username === u && x.password === p) ? u : undefined;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let user: string | undefined;
      let scopes: string[];
      let offline = false;
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        if (form.get('grant_type') === 'refresh_token') {
          user = refreshTokens.get(form.get('refresh_token') ?? '');
          counts.refresh++;
        } else if (form.get('grant_type') === 'password') {
          const u = form.get('username') ?? '';
          const p = form.get('password') ?? '';
          user = options.users.some((x) => x.username === u && x.password === p) ? u : undefined;
        }
      } else {
        counts.get++;
        scopes = url.searchParams
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .filter(Boolean);
        user = userOf(req.headers.authorization);
        offline = url.searchParams.get('offline_token') === 'true';
      }
      if (user === undefined) {
        counts.denied++;
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      const token = issue(user, scopes);
      const body: Record<string, unknown> = {
        token,
        access_token: token,
        expires_in: 300,
        issued_at: new Date().toISOString(),
      };
      if (offline) {
        const refresh = randomBytes(16).toString('hex');
        refreshTokens.set(refresh, user);
        issued.add(refresh);
        body.refresh_token = refresh;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return {
    url: `http://127.0.0.1:${port}/token`,
    counts,
    refreshTokens: issued,
    certPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function waitReady(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on 127.0.0.1:${port} within 20 s: ${log()}`);
}

/** Starts the real registry on 127.0.0.1 with the given authentication. */
export async function startRegistry(auth: RegistryAuth = 'none'): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-registry-'));
  const port = await freePort();
  const user: TestUser = { username: 'alice', password: `pw-${randomBytes(6).toString('hex')}` };
  let authYaml = '';
  let token: (TokenServer & { certPath: string }) | undefined;
  if (auth === 'htpasswd') {
    const line = execFileSync('htpasswd', ['-Bbn', user.username, user.password], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    await writeFile(join(dir, 'htpasswd'), `${line.trim()}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: strata-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    token = await startTokenServer({
      dir,
      service: 'strata-test',
      issuer: 'strata-test-issuer',
      users: [user],
    });
    authYaml =
      'auth:\n  token:\n' +
      `    realm: ${token.url}\n    service: strata-test\n    issuer: strata-test-issuer\n` +
      `    rootcertbundle: ${token.certPath}\n`;
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    authYaml,
  ].join('\n');
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, config);
  let output = '';
  const child = spawn(REGISTRY_BIN, ['serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', OTEL_TRACES_EXPORTER: 'none' },
  });
  const collect = (d: Buffer) => {
    if (output.length < 200_000) output += d.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const log = () => output.slice(-4000);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await token?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(port, child, log);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    auth,
    user,
    dir,
    ...(token === undefined ? {} : { token }),
    log,
    stop,
  };
}

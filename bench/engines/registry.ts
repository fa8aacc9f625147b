// Debian's docker-registry on 127.0.0.1, plain HTTP, no auth: started empty before each timed
// push (so every tool pushes every blob), stopped after it.

import { spawn } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { atCleanup, capture, pidAlive, removeTree, sleep, stopPid } from '../lib/proc.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function registryAvailable(): Promise<string | undefined> {
  const r = await capture({ file: 'docker-registry', args: ['--version'] });
  return r.ok ? r.text.trim() : undefined;
}

export class Registry {
  private pid: number | undefined;
  private unregister: (() => void) | undefined;
  host = '';

  constructor(private readonly dir: string) {}

  /** Starts an empty registry; resolves once /v2/ answers. */
  async start(): Promise<void> {
    await this.stop();
    await mkdir(join(this.dir, 'data'), { recursive: true });
    const port = await freePort();
    this.host = `127.0.0.1:${port}`;
    const config = join(this.dir, 'config.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(this.dir, 'data')}`,
        'http:',
        `  addr: ${this.host}`,
        '',
      ].join('\n'),
    );
    const out = await open(join(this.dir, 'registry.log'), 'a');
    const child = spawn('docker-registry', ['serve', config], {
      stdio: ['ignore', out.fd, out.fd],
      detached: true,
    });
    child.unref();
    await out.close();
    this.pid = child.pid;
    this.unregister = atCleanup('registry', () => this.stop());
    const until = Date.now() + 20_000;
    for (;;) {
      if (this.pid === undefined || !pidAlive(this.pid))
        throw new Error(`docker-registry exited; see ${this.dir}`);
      const ok = await fetch(`http://${this.host}/v2/`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      if (Date.now() > until) throw new Error('docker-registry did not answer in 20 s');
      await sleep(100);
    }
  }

  /** Sum of the layer sizes (compressed, as pushed) of repo:tag, or undefined. */
  async compressedSize(repoTag: string): Promise<number | undefined> {
    const colon = repoTag.lastIndexOf(':');
    const [repo, tag] = [repoTag.slice(0, colon), repoTag.slice(colon + 1)];
    const r = await fetch(`http://${this.host}/v2/${repo}/manifests/${tag}`, {
      headers: {
        Accept: [
          'application/vnd.oci.image.manifest.v1+json',
          'application/vnd.docker.distribution.manifest.v2+json',
        ].join(', '),
      },
    }).catch(() => undefined);
    if (r?.status !== 200) return undefined;
    const m = (await r.json()) as { layers?: { size: number }[] };
    return m.layers?.reduce((n, l) => n + l.size, 0);
  }

  async stop(): Promise<void> {
    this.unregister?.();
    this.unregister = undefined;
    if (this.pid !== undefined) await stopPid(this.pid, 5_000);
    this.pid = undefined;
    await removeTree(join(this.dir, 'data'));
  }
}

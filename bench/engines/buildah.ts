// buildah bud --layers: storage (overlay driver) in a root and run root of its own per workload.
// Isolation: OCI (runc) when a probe build works here, else chroot; the report says which ran.
// Cold = a fresh root holding only the base images, built there untimed (as for Strata).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Cmd, capture, must, removeTree } from '../lib/proc.js';
import type { BaseSpec, ImageSize, Tool } from './types.js';

export class BuildahTool implements Tool {
  readonly name = 'buildah' as const;
  private dir = '';
  private version = '';
  private isolation: 'oci' | 'chroot' | undefined;
  private isolationNote = '';

  private cli(workload: string, args: string[]): Cmd {
    const root = join(this.dir, workload);
    return {
      file: 'buildah',
      args: [
        '--root',
        join(root, 'root'),
        '--runroot',
        join(root, 'run'),
        '--storage-driver',
        'overlay',
        ...args,
      ],
    };
  }

  describe(): string {
    return `${this.version}, bud --layers, isolation ${this.isolation ?? '(not probed)'}${this.isolationNote}, runtime runc, storage overlay, --network host`;
  }

  async setup(workDir: string): Promise<void> {
    this.dir = join(workDir, 'buildah');
    const v = await capture({ file: 'buildah', args: ['--version'] });
    if (!v.ok) throw new Error('buildah is not installed (apt-get install buildah)');
    this.version = v.text.trim();
  }

  private async probeIsolation(workload: string, base: BaseSpec, log: string): Promise<void> {
    const dir = join(this.dir, 'probe');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), `FROM ${base.name}\nRUN true\n`);
    const errors: string[] = [];
    for (const isolation of ['oci', 'chroot'] as const) {
      const r = await capture(
        this.cli(workload, [
          'bud',
          '--layers',
          '--pull=never',
          '--isolation',
          isolation,
          '-t',
          'bench-probe',
          dir,
        ]),
        120_000,
      );
      if (r.ok) {
        this.isolation = isolation;
        if (errors.length > 0) this.isolationNote = ` (oci failed: ${errors[0]})`;
        await capture(this.cli(workload, ['rmi', '-f', 'bench-probe']));
        return;
      }
      errors.push(r.text.trim().split('\n').pop() ?? 'failed');
    }
    void log;
    throw new Error(`buildah cannot run a RUN step here: ${errors.join('; ')}`);
  }

  async fresh(workload: string, bases: BaseSpec[], log: string): Promise<void> {
    await removeTree(join(this.dir, workload));
    for (const b of bases) {
      await must(this.cli(workload, ['bud', '--layers', '--pull=never', '-q', '-t', b.name, b.contextDir]), {
        log,
        timeoutMs: 600_000,
      });
    }
    if (this.isolation === undefined && bases[0]) await this.probeIsolation(workload, bases[0], log);
  }

  build(workload: string, contextDir: string, tag: string): Cmd {
    return this.cli(workload, [
      'bud',
      '--layers',
      '--pull=never',
      '--network',
      'host',
      '--isolation',
      this.isolation ?? 'oci',
      '-t',
      tag,
      contextDir,
    ]);
  }

  async size(workload: string, tag: string): Promise<ImageSize> {
    const r = await capture(this.cli(workload, ['images', '--json']));
    if (!r.ok) return {};
    const images = JSON.parse(r.text) as { names?: string[]; size?: string }[];
    const want = `localhost/${tag.includes(':') ? tag : `${tag}:latest`}`;
    const size = images.find((i) => i.names?.includes(want))?.size;
    // buildah prints a rounded human size ("1.99 MB", decimal units).
    const m = /^([\d.]+)\s*(B|kB|KB|MB|GB)$/.exec(size ?? '');
    if (!m) return {};
    const unit = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 }[m[2] as 'B'];
    return { uncompressed: Math.round(Number(m[1]) * unit) };
  }

  async pushSupport(): Promise<{ ok: true }> {
    return { ok: true };
  }

  async preparePush(workload: string, tag: string, remote: string): Promise<Cmd> {
    return this.cli(workload, ['push', '--tls-verify=false', tag, `docker://${remote}`]);
  }

  async teardown(): Promise<void> {
    if (this.dir) await removeTree(this.dir);
  }
}

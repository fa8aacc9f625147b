// docker build with BuildKit: a private dockerd (Debian's docker.io) started by
// test/helpers/docker-engine.ts (own socket, data root and exec root in a temp dir; no iptables,
// no bridge) before any timing, stopped at the end. Its CLI is docker.io's own client: a newer
// client without the buildx plugin refuses DOCKER_BUILDKIT=1.
// Cold = the target image removed, dangling images pruned and `docker builder prune -af` (the
// whole build cache, including the context transfer cache); the base images stay, unpacked, as
// they do for the other tools.

import { join } from 'node:path';
import { type DockerEngine, startDockerEngine } from '../../test/helpers/docker-engine.js';
import { atCleanup, type Cmd, capture, must } from '../lib/proc.js';
import type { BaseSpec, ImageSize, Tool } from './types.js';

export class DockerTool implements Tool {
  readonly name = 'buildkit' as const;
  private engine: DockerEngine | undefined;
  private info = '';
  private unregister: (() => void) | undefined;

  /** The CLI pointed at the private engine, as test/helpers/docker-engine.ts sets it up. */
  cli(args: string[]): Cmd {
    const engine = this.engine;
    if (!engine) throw new Error('the docker engine is not running');
    return {
      file: engine.client,
      args,
      env: {
        ...process.env,
        DOCKER_HOST: `unix://${join(engine.root, 'docker.sock')}`,
        DOCKER_BUILDKIT: '1',
        DOCKER_CONFIG: join(engine.root, 'cli-config'),
        DOCKER_CLI_HINTS: 'false',
      },
    };
  }

  describe(): string {
    return this.info;
  }

  async setup(): Promise<void> {
    const started = await startDockerEngine();
    if (typeof started === 'string') throw new Error(started);
    this.engine = started;
    this.unregister = atCleanup('dockerd', () => this.teardown());
    const info = await capture(
      this.cli(['info', '--format', '{{.Driver}}, runtime {{.DefaultRuntime}}, cgroup v{{.CgroupVersion}}']),
    );
    this.info = `docker.io ${started.serverVersion} (dockerd with its built-in BuildKit; CLI ${started.clientVersion}, ${started.client}), storage ${info.text.trim()}, build --network host`;
  }

  async fresh(workload: string, bases: BaseSpec[], log: string): Promise<void> {
    await capture(this.cli(['rmi', '-f', `bench-${workload}`]));
    await must(this.cli(['image', 'prune', '-f']), { log });
    await must(this.cli(['builder', 'prune', '-af']), { log });
    for (const b of bases) {
      const have = await capture(this.cli(['image', 'inspect', b.name]));
      if (!have.ok) {
        await must(this.cli(['build', '--network', 'host', '-q', '-t', b.name, b.contextDir]), {
          log,
          timeoutMs: 600_000,
        });
      }
    }
  }

  build(_workload: string, contextDir: string, tag: string): Cmd {
    return this.cli(['build', '--network', 'host', '--progress', 'plain', '-t', tag, contextDir]);
  }

  async size(_workload: string, tag: string): Promise<ImageSize> {
    const r = await capture(this.cli(['image', 'inspect', '-f', '{{.Size}}', tag]));
    return r.ok && /^\d+$/.test(r.text.trim()) ? { uncompressed: Number(r.text.trim()) } : {};
  }

  async pushSupport(): Promise<{ ok: true }> {
    return { ok: true };
  }

  async preparePush(_workload: string, tag: string, remote: string, log: string): Promise<Cmd> {
    await must(this.cli(['tag', tag, remote]), { log });
    return this.cli(['push', remote]);
  }

  async teardown(): Promise<void> {
    this.unregister?.();
    this.unregister = undefined;
    const engine = this.engine;
    this.engine = undefined;
    await engine?.stop();
  }
}

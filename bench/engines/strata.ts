// Strata: the CLI as a user runs it (`strata`: the front program, which answers a no-op build
// from its memo and otherwise starts `node dist/strata.cjs`, the bundle behind its code-cache
// launcher), one store per workload. Cold = a fresh store ($STRATA_ROOT) holding
// only the base images, built there untimed.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cmd, capture, must, removeTree } from '../lib/proc.js';
import type { BaseSpec, ImageSize, Tool } from './types.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** Where the store remembers the compressed form of each uncompressed layer. */
const COMPRESSED_RECORDS = 'meta/v1/records/compressed-layers';

/** How to run a built checkout's CLI: its `strata` front program (native/build/Release/strata,
 * the command users run: it answers a no-op build from the build memo, else starts the CLI),
 * else `node dist/strata.cjs` (a checkout from before the front program, or without the native
 * build), else dist/src/cli/main.js (one from before the bundle; a --baseline may be that old). */
export interface StrataCommand {
  file: string;
  args: string[];
}

export function cliOf(checkout: string): StrataCommand {
  const front = join(checkout, 'native/build/Release/strata');
  const bin = join(checkout, 'dist/strata.cjs');
  if (existsSync(front) && existsSync(bin)) return { file: front, args: [] };
  return { file: process.execPath, args: [existsSync(bin) ? bin : join(checkout, 'dist/src/cli/main.js')] };
}

export const strataCli = cliOf(repoRoot);

/** The command as the report shows it. */
export function showCommand(c: StrataCommand): string {
  return [c.file === process.execPath ? 'node' : c.file, ...c.args].join(' ');
}

export class StrataTool implements Tool {
  private workDir = '';
  private version = '';
  private pushFlags: string[] | undefined;
  private isolation = 'default';

  /** `command`: how to run the CLI (another checkout's for the baseline). */
  constructor(
    readonly name: 'strata' | 'baseline' = 'strata',
    private readonly command: StrataCommand = strataCli,
    /** Extra `strata build` flags for the timed builds (e.g. `--compression=zstd`), for what-ifs. */
    private readonly buildArgs: string[] = [],
  ) {}

  private root(workload: string): string {
    return join(this.workDir, this.name, workload);
  }

  cli(workload: string, args: string[]): Cmd {
    return {
      file: this.command.file,
      args: [...this.command.args, ...args],
      env: { ...process.env, STRATA_ROOT: this.root(workload) },
    };
  }

  describe(): string {
    const where = ` run as \`${showCommand(this.command)}\``;
    const extra = this.buildArgs.length > 0 ? `, timed builds with \`${this.buildArgs.join(' ')}\`` : '';
    return `${this.version}${where}${extra}, Node ${process.version}, RUN isolation: ${this.isolation}, layers stored uncompressed, gzip level 6 at push (unless the build args say otherwise)`;
  }

  async setup(workDir: string): Promise<void> {
    this.workDir = workDir;
    const v = await capture({ file: this.command.file, args: [...this.command.args, '--version'] });
    if (!v.ok) throw new Error(`strata --version failed (is dist/ built?): ${v.text.trim()}`);
    this.version = v.text.trim();
    if (this.name === 'strata') {
      // What `--isolation default` resolves to here (the baseline's own code may differ).
      const { probeNativeRuntime } = await import('../../src/runtime/native-runtime.js');
      const native = await probeNativeRuntime();
      this.isolation = native.ok
        ? "default = the native launcher (strata-runtime: runc's spec and device rules, namespaces + pivot_root over overlayfs)"
        : `default = runc over overlayfs (the native launcher does not work here: ${native.reason})`;
    }
  }

  async fresh(workload: string, bases: BaseSpec[], log: string): Promise<void> {
    await removeTree(this.root(workload));
    for (const b of bases) {
      await must(this.cli(workload, ['build', '-q', '-t', b.name, b.contextDir]), {
        log,
        timeoutMs: 600_000,
      });
    }
  }

  build(workload: string, contextDir: string, tag: string): Cmd {
    return this.cli(workload, ['build', '--progress', 'plain', ...this.buildArgs, '-t', tag, contextDir]);
  }

  async size(workload: string, tag: string): Promise<ImageSize> {
    const r = await capture(this.cli(workload, ['inspect', tag]));
    if (!r.ok) return {};
    const [info] = JSON.parse(r.text) as { Size?: number; Descriptor?: { digest: string } }[];
    const out: ImageSize = {};
    if (typeof info?.Size === 'number') out.uncompressed = info.Size;
    const digest = info?.Descriptor?.digest;
    if (digest) {
      const blob = join(this.root(workload), 'content/blobs', ...digest.split(':'));
      const manifest = JSON.parse(await readFile(blob, 'utf8').catch(() => '{}')) as {
        layers?: { mediaType: string; digest: string; size: number }[];
      };
      if (manifest.layers) out.compressed = await this.pushedSize(workload, manifest.layers);
    }
    return out;
  }

  /** Bytes of the layers as pushed: a layer stored uncompressed counts its remembered gzip form. */
  private async pushedSize(workload: string, layers: { mediaType: string; digest: string; size: number }[]) {
    let total = 0;
    for (const l of layers) {
      const file = join(
        this.root(workload),
        COMPRESSED_RECORDS,
        `gzip-default-${l.digest.replace(':', '%3A')}.json`,
      );
      const rec = l.mediaType.endsWith('.tar')
        ? (JSON.parse(await readFile(file, 'utf8').catch(() => 'null')) as {
            value?: { size: number };
          } | null)
        : null;
      total += rec?.value?.size ?? l.size;
    }
    return total;
  }

  async pushSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
    const help = await capture({ file: this.command.file, args: [...this.command.args, 'push', '--help'] });
    if (!help.ok) {
      return { ok: false, reason: `strata push is not available yet (${help.text.trim().split('\n')[0]})` };
    }
    // A plain-HTTP registry on 127.0.0.1: pass whichever flag this version has, if any.
    this.pushFlags = /--tls-verify/.test(help.text)
      ? ['--tls-verify=false']
      : /--insecure\b/.test(help.text)
        ? ['--insecure']
        : [];
    return { ok: true };
  }

  async preparePush(workload: string, tag: string, remote: string, log: string): Promise<Cmd> {
    await must(this.cli(workload, ['tag', tag, remote]), { log });
    // Every timed push compresses, as docker push does: forget the gzip forms an earlier push
    // remembered (src/image/compressed-layer.ts), so none is reused.
    await removeTree(join(this.root(workload), COMPRESSED_RECORDS));
    return this.cli(workload, ['push', ...(this.pushFlags ?? []), remote]);
  }

  async teardown(): Promise<void> {
    if (this.workDir) await removeTree(join(this.workDir, this.name));
  }
}

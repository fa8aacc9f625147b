// `strata run`, `ps`, `logs`, `stop`, `rm`: containers without a daemon. A detached
// container is supervised by a child process of ours (`strata __shim`), which records its
// state and output under the store, so later commands can find it.

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import {
  type ContainerRecord,
  ContainerRecords,
  newContainerId,
  randomName,
} from '../../container/container-records.js';
import { readLogLines, removeContainer, runImage } from '../../container/run-image.js';
import { BuilderError } from '../../errors.js';
import { withExtraCaMoved } from '../../registry/extra-ca.js';
import { optBool, optList, optString } from '../args.js';
import type { CommandContext } from '../command.js';
import { tabwrite } from '../render/tabwriter.js';
import { createdSince, humanDuration } from '../render/units.js';
import { openCliStore } from '../store-root.js';

interface RunRequest {
  image: string;
  command: string[];
  entrypoint?: string;
  env: string[];
  workdir?: string;
  user?: string;
  volumes: string[];
  network?: 'host' | 'none';
  tty: boolean;
  interactive: boolean;
  isolation?: 'default' | 'runc' | 'chroot';
}

/** `strata run --isolation`: runc or chroot (the native launcher is for build steps: no terminals). */
function runIsolation(value: string): 'default' | 'runc' | 'chroot' {
  if (value === 'default' || value === 'runc' || value === 'chroot') return value;
  throw new BuilderError('EINVAL', `unknown isolation ${JSON.stringify(value)}`, {
    hint: 'strata run takes --isolation default, runc or chroot',
  });
}

async function envFiles(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    for (const line of (await readFile(f, 'utf8')).split('\n')) {
      const t = line.trim();
      if (t !== '' && !t.startsWith('#')) out.push(t);
    }
  }
  return out;
}

export async function run(ctx: CommandContext): Promise<number> {
  const { args } = ctx;
  const [image, ...command] = args.positionals as [string, ...string[]];
  const network = optString(args, 'network');
  if (network !== undefined && network !== 'host' && network !== 'none') {
    throw new BuilderError('EINVAL', `network "${network}" is not supported`, {
      hint: 'Use --network host (the default) or --network none.',
    });
  }
  const request: RunRequest = {
    image,
    command,
    ...(optString(args, 'entrypoint') !== undefined
      ? { entrypoint: optString(args, 'entrypoint') as string }
      : {}),
    env: [...(await envFiles(optList(args, 'env-file'))), ...optList(args, 'env')],
    ...(optString(args, 'workdir') ? { workdir: optString(args, 'workdir') as string } : {}),
    ...(optString(args, 'user') ? { user: optString(args, 'user') as string } : {}),
    volumes: optList(args, 'volume'),
    ...(network ? { network } : {}),
    tty: optBool(args, 'tty'),
    interactive: optBool(args, 'interactive'),
    ...(optString(args, 'isolation')
      ? { isolation: runIsolation(optString(args, 'isolation') as string) }
      : {}),
  };
  const detach = optBool(args, 'detach');
  if (detach && optBool(args, 'rm') === false) {
    // fine: a detached container is kept until `strata rm`
  }
  const store = await openCliStore(ctx.env);
  const stored = await store.images.get(image);
  const records = new ContainerRecords(store.root);
  const record = await records.create({
    id: newContainerId(),
    name: optString(args, 'name') ?? randomName(),
    image,
    imageId: stored.id,
    command: [...(request.entrypoint !== undefined ? [request.entrypoint] : []), ...command],
    created: new Date().toISOString(),
    autoRemove: optBool(args, 'rm'),
  });
  if (detach) {
    if (request.tty || request.interactive) {
      // The shim has no terminal; like `docker run -d -it`, keep the process running with closed stdin.
      request.tty = false;
      request.interactive = false;
    }
    // The supervisor is this CLI again, started the way the user started it: the script is the
    // bin (dist/strata.cjs, which runs the bundle) or dist/src/cli/main.js, so no path relative
    // to this module, which may be inside the bundle.
    const self = process.argv[1];
    if (!self)
      throw new BuilderError('EPRECONDITION', 'cannot start the container supervisor: no CLI script');
    const child = spawn(process.execPath, [self, '__shim', record.config.id, JSON.stringify(request)], {
      detached: true,
      stdio: 'ignore',
      // Node would parse a NODE_EXTRA_CA_CERTS bundle at the supervisor's start (~50 ms).
      env: withExtraCaMoved(ctx.env),
    });
    child.unref();
    // Wait until the container runs (or failed to start), so errors surface here.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const now = await records.read(record.config.id);
      if (!now || now.state.status === 'running') break;
      if (now.state.status === 'exited') {
        if (now.state.error)
          throw new BuilderError('EPRECONDITION', `container failed to start: ${now.state.error}`);
        break;
      }
      if (Date.now() > deadline) throw new BuilderError('EUNAVAILABLE', 'container did not start within 30s');
      await new Promise((r) => setTimeout(r, 50));
    }
    ctx.stdout.write(`${record.config.id}\n`);
    return 0;
  }
  const { image: _name, ...rest } = request;
  return runImage({ ...rest, store, image: stored, record, output: 'inherit' });
}

/** The detached container's supervisor (hidden command). */
export async function shim(ctx: CommandContext): Promise<number> {
  const [id, json] = ctx.args.positionals as [string, string];
  const request = JSON.parse(json) as RunRequest;
  const store = await openCliStore(ctx.env);
  const records = new ContainerRecords(store.root);
  const record = await records.find(id);
  try {
    const stored = await store.images.get(record.config.imageId);
    const { image: _name, ...rest } = request;
    return await runImage({ ...rest, store, image: stored, record, output: 'log' });
  } catch (err) {
    await records.writeState(id, {
      status: 'exited',
      exitCode: 125,
      error: (err as Error).message,
      finishedAt: new Date().toISOString(),
    });
    return 125;
  }
}

function statusText(r: ContainerRecord): string {
  const s = r.state;
  if (s.status === 'running')
    return `Up ${humanDuration(Date.now() - Date.parse(s.startedAt ?? r.config.created))}`;
  if (s.status === 'exited')
    return `Exited (${s.exitCode ?? 0}) ${createdSince(s.finishedAt ?? r.config.created)}`;
  return 'Created';
}

export async function ps(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const all = await new ContainerRecords(store.root).list();
  const shown = optBool(ctx.args, 'all') ? all : all.filter((r) => r.state.status === 'running');
  if (optBool(ctx.args, 'quiet')) {
    for (const r of shown) ctx.stdout.write(`${r.config.id.slice(0, 12)}\n`);
    return 0;
  }
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
  for (const r of shown) {
    let cmd = JSON.stringify(r.config.command.join(' '));
    if (cmd.length > 22) cmd = `${cmd.slice(0, 20)}…"`;
    rows.push([
      r.config.id.slice(0, 12),
      r.config.image,
      cmd,
      createdSince(r.config.created),
      statusText(r),
      '',
      r.config.name,
    ]);
  }
  writeTable(ctx, rows);
  return 0;
}

function writeTable(ctx: CommandContext, rows: string[][]): void {
  ctx.stdout.write(tabwrite(`${rows.map((r) => r.join('\t')).join('\n')}\n`));
}

export async function logs(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const records = new ContainerRecords(store.root);
  let record = await records.find(ctx.args.positionals[0] as string);
  let printed = 0;
  const follow = optBool(ctx.args, 'follow');
  for (;;) {
    const lines = await readLogLines(record);
    for (const l of lines.slice(printed)) (l.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(l.log);
    printed = lines.length;
    if (!follow || record.state.status !== 'running' || ctx.signal.aborted) return 0;
    await new Promise((r) => setTimeout(r, 200));
    record = (await records.read(record.config.id)) ?? record;
  }
}

async function waitExited(records: ContainerRecords, id: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await records.read(id);
    if (r?.state.status !== 'running') return true;
    await new Promise((res) => setTimeout(res, 100));
  }
  return false;
}

export async function stop(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const records = new ContainerRecords(store.root);
  const timeout = Number(optString(ctx.args, 'time') ?? '10');
  let failed = 0;
  for (const name of ctx.args.positionals) {
    try {
      const r = await records.find(name);
      if (r.state.status === 'running' && r.state.pid !== undefined) {
        // The supervisor forwards SIGTERM to the container; a second signal kills it.
        process.kill(r.state.pid, 'SIGTERM');
        if (!(await waitExited(records, r.config.id, timeout * 1000))) {
          process.kill(r.state.pid, 'SIGTERM');
          await waitExited(records, r.config.id, 10_000);
        }
      }
      ctx.stdout.write(`${name}\n`);
    } catch (err) {
      ctx.stderr.write(`Error response: ${(err as Error).message}\n`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

export async function rm(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const records = new ContainerRecords(store.root);
  let failed = 0;
  for (const name of ctx.args.positionals) {
    try {
      const r = await records.find(name);
      if (r.state.status === 'running') {
        if (!optBool(ctx.args, 'force')) {
          throw new BuilderError('EPRECONDITION', `cannot remove container "${name}": container is running`, {
            hint: 'Stop it first, or use -f.',
          });
        }
        if (r.state.pid !== undefined) {
          process.kill(r.state.pid, 'SIGTERM');
          process.kill(r.state.pid, 'SIGTERM');
          await waitExited(records, r.config.id, 10_000);
        }
      }
      await removeContainer(store, r);
      ctx.stdout.write(`${name}\n`);
    } catch (err) {
      ctx.stderr.write(`Error response: ${(err as Error).message}\n`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

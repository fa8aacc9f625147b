// What `strata ps`, `logs` and `stop` know about containers, with no daemon: one directory
// per container under <store>/containers/<id>/ holding
//   config.json   what was asked (image, command, name), written once
//   state.json    status, the supervising process's pid, exit code (tmp + rename)
//   log.jsonl     output as docker's json-file driver writes it: {"log","stream","time"}
//   rootfs/       the mount point of its writable snapshot while it runs

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError } from '../errors.js';
import { randomHex } from '../sys/index.js';

export interface ContainerConfigRecord {
  id: string;
  name: string;
  image: string;
  imageId: string;
  command: string[];
  created: string;
  autoRemove: boolean;
}

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerStateRecord {
  status: ContainerStatus;
  /** The process that supervises the container (the CLI, or the detached shim). */
  pid?: number;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  error?: string;
}

export interface ContainerRecord {
  config: ContainerConfigRecord;
  state: ContainerStateRecord;
  dir: string;
}

export function newContainerId(): string {
  return randomHex(32);
}

const ADJECTIVES = [
  'brave',
  'calm',
  'eager',
  'fancy',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'merry',
  'nifty',
  'quirky',
  'swift',
  'witty',
];
const NOUNS = [
  'rocket',
  'comet',
  'falcon',
  'galaxy',
  'meteor',
  'nebula',
  'orbit',
  'pulsar',
  'quasar',
  'saturn',
  'vega',
  'zenith',
];

export function randomName(): string {
  const pick = (list: string[]) => list[Number.parseInt(randomHex(1), 16) % list.length] as string;
  return `${pick(ADJECTIVES)}_${pick(NOUNS)}`;
}

export class ContainerRecords {
  readonly dir: string;
  constructor(storeRoot: string) {
    this.dir = join(storeRoot, 'containers');
  }

  pathOf(id: string): string {
    return join(this.dir, id);
  }

  async create(config: ContainerConfigRecord): Promise<ContainerRecord> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(config.name)) {
      throw new BuilderError(
        'EINVAL',
        `Invalid container name (${config.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    for (const other of await this.list()) {
      if (other.config.name === config.name) {
        throw new BuilderError(
          'EEXIST',
          `Conflict. The container name "/${config.name}" is already in use by container "${other.config.id}"`,
          {
            hint: `Remove it (strata rm ${config.name}) or choose another name.`,
          },
        );
      }
    }
    const dir = this.pathOf(config.id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    const state: ContainerStateRecord = { status: 'created' };
    await this.writeState(config.id, state);
    return { config, state, dir };
  }

  async writeState(id: string, state: ContainerStateRecord): Promise<void> {
    const dir = this.pathOf(id);
    const tmp = join(dir, `.state-${process.pid}-${randomHex(4)}`);
    await writeFile(tmp, JSON.stringify(state));
    await rename(tmp, join(dir, 'state.json'));
  }

  async read(id: string): Promise<ContainerRecord | undefined> {
    const dir = this.pathOf(id);
    try {
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as ContainerConfigRecord;
      const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as ContainerStateRecord;
      return { config, state: liveState(state), dir };
    } catch {
      return undefined;
    }
  }

  async list(): Promise<ContainerRecord[]> {
    const ids = await readdir(this.dir).catch(() => [] as string[]);
    const out: ContainerRecord[] = [];
    for (const id of ids) {
      const r = await this.read(id);
      if (r) out.push(r);
    }
    return out.sort((a, b) => b.config.created.localeCompare(a.config.created));
  }

  /** By full id, unambiguous id prefix, or name. */
  async find(idOrName: string): Promise<ContainerRecord> {
    const all = await this.list();
    const byName = all.find((r) => r.config.name === idOrName);
    if (byName) return byName;
    const matches = all.filter((r) => r.config.id.startsWith(idOrName));
    if (matches.length === 1) return matches[0] as ContainerRecord;
    if (matches.length > 1)
      throw new BuilderError('EINVAL', `multiple containers match "${idOrName}": give more of the id`);
    throw new BuilderError('ENOTFOUND', `No such container: ${idOrName}`, {
      hint: "List containers with 'strata ps -a'.",
    });
  }

  async remove(id: string): Promise<void> {
    await rm(this.pathOf(id), { recursive: true, force: true });
  }
}

/** A supervisor that died without writing its last state: the container is gone too. */
function liveState(state: ContainerStateRecord): ContainerStateRecord {
  if (state.status !== 'running' || state.pid === undefined) return state;
  try {
    process.kill(state.pid, 0);
    return state;
  } catch {
    return {
      ...state,
      status: 'exited',
      exitCode: state.exitCode ?? 137,
      error: 'supervising process disappeared',
    };
  }
}

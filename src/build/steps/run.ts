// RUN: the request the engine hands to whatever executes commands (an OCI runtime over the
// mounted rootfs, or chroot isolation), and `--mount` specs in their typed form.

import { BuilderError } from '../../errors.js';

export type RunMount =
  | { type: 'bind'; target: string; source: string; from?: string; readwrite: boolean }
  | {
      type: 'cache';
      target: string;
      id: string;
      sharing: 'shared' | 'private' | 'locked';
      from?: string;
      source?: string;
      readonly: boolean;
      mode?: number;
      uid?: number;
      gid?: number;
    }
  | { type: 'tmpfs'; target: string; size?: number }
  | {
      type: 'secret';
      target: string;
      id: string;
      required: boolean;
      env?: string;
      mode: number;
      uid: number;
      gid: number;
    };

export interface RunRequest {
  /** The mounted, writable root filesystem of the step. */
  rootfs: string;
  args: string[];
  env: string[];
  /** `user[:group]` as USER set it ('' = root). */
  user: string;
  workdir: string;
  network: 'default' | 'host' | 'none';
  security: 'sandbox' | 'insecure';
  /** Mounts with their host sources resolved (cache dirs, stage views, secrets). */
  mounts: ResolvedRunMount[];
  hostname: string;
  onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  signal?: AbortSignal;
}

export interface ResolvedRunMount {
  target: string;
  type: 'bind' | 'tmpfs';
  /** Host path for binds. */
  source?: string;
  readonly: boolean;
  options?: string[];
}

/** Runs one RUN step; resolves when the command exited 0, throws RunStepError otherwise. */
export interface RunExecutor {
  readonly name: string;
  run(request: RunRequest): Promise<void>;
}

/** `type=cache,target=/root/.cache,sharing=locked` → typed, with BuildKit's defaults and errors. */
export function parseRunMount(spec: string): RunMount {
  const fields = new Map<string, string>();
  for (const part of splitCsv(spec)) {
    const eq = part.indexOf('=');
    const key = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const value = eq === -1 ? '' : part.slice(eq + 1);
    if (key === '') continue;
    fields.set(
      key,
      eq === -1 && ['ro', 'readonly', 'rw', 'readwrite', 'required'].includes(key) ? 'true' : value,
    );
  }
  const type = fields.get('type') ?? 'bind';
  const target = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
  const bool = (k: string) => {
    const v = fields.get(k);
    return v !== undefined && v !== 'false' && v !== '0';
  };
  const num = (k: string, base = 10) => {
    const v = fields.get(k);
    return v === undefined ? undefined : Number.parseInt(v, base);
  };
  const known: Record<string, string[]> = {
    bind: [
      'type',
      'target',
      'dst',
      'destination',
      'source',
      'src',
      'from',
      'rw',
      'readwrite',
      'ro',
      'readonly',
    ],
    cache: [
      'type',
      'target',
      'dst',
      'destination',
      'id',
      'sharing',
      'from',
      'source',
      'src',
      'ro',
      'readonly',
      'mode',
      'uid',
      'gid',
      'rw',
      'readwrite',
    ],
    tmpfs: ['type', 'target', 'dst', 'destination', 'size'],
    secret: ['type', 'target', 'dst', 'destination', 'id', 'required', 'env', 'mode', 'uid', 'gid'],
  };
  const allowed = known[type];
  if (!allowed) {
    throw new BuilderError('EINVAL', `unsupported mount type "${type}"`, {
      hint: 'Mount types are bind, cache, tmpfs and secret.',
    });
  }
  for (const k of fields.keys()) {
    if (!allowed.includes(k)) throw new BuilderError('EINVAL', `unexpected key '${k}' in '${spec}'`);
  }
  const source = fields.get('source') ?? fields.get('src');
  const from = fields.get('from');
  switch (type) {
    case 'bind':
      if (!target) throw new BuilderError('EINVAL', `mount target is required in '${spec}'`);
      return {
        type,
        target,
        source: source ?? '/',
        ...(from === undefined ? {} : { from }),
        readwrite: bool('rw') || bool('readwrite'),
      };
    case 'cache': {
      if (!target) throw new BuilderError('EINVAL', `mount target is required in '${spec}'`);
      const sharing = (fields.get('sharing') ?? 'shared') as 'shared' | 'private' | 'locked';
      if (!['shared', 'private', 'locked'].includes(sharing)) {
        throw new BuilderError('EINVAL', `unsupported sharing value "${sharing}"`, {
          hint: 'sharing is shared, private or locked.',
        });
      }
      const mode = num('mode', 8);
      const uid = num('uid');
      const gid = num('gid');
      return {
        type,
        target,
        id: fields.get('id') ?? target,
        sharing,
        readonly: bool('ro') || bool('readonly'),
        ...(from === undefined ? {} : { from }),
        ...(source === undefined ? {} : { source }),
        ...(mode === undefined ? {} : { mode }),
        ...(uid === undefined ? {} : { uid }),
        ...(gid === undefined ? {} : { gid }),
      };
    }
    case 'tmpfs': {
      if (!target) throw new BuilderError('EINVAL', `mount target is required in '${spec}'`);
      const size = num('size');
      return { type, target, ...(size === undefined ? {} : { size }) };
    }
    default: {
      const id = fields.get('id') ?? (target ? target.split('/').pop() : undefined);
      if (!id) throw new BuilderError('EINVAL', `secret mount needs an id or a target in '${spec}'`);
      const env = fields.get('env');
      return {
        type: 'secret',
        target: target ?? (env === undefined ? `/run/secrets/${id}` : ''),
        id,
        required: bool('required'),
        ...(env === undefined ? {} : { env }),
        mode: num('mode', 8) ?? 0o400,
        uid: num('uid') ?? 0,
        gid: num('gid') ?? 0,
      };
    }
  }
}

/** Splits on commas outside double quotes (the csv form BuildKit accepts). */
function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

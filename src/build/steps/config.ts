// Instructions that change only the image config (ENV, LABEL, CMD, USER, …): each edits the
// working config and appends the history line BuildKit would write. No layer, no I/O.

import type {
  CmdInstruction,
  EntrypointInstruction,
  EnvInstruction,
  ExposeInstruction,
  HealthcheckInstruction,
  LabelInstruction,
  MaintainerInstruction,
  OnbuildInstruction,
  ShellInstruction,
  StopsignalInstruction,
  UserInstruction,
  VolumeInstruction,
} from '../../dockerfile/instructions/types.js';
import { assertNever, BuilderError } from '../../errors.js';
import type { ContainerConfig, ImageConfig } from '../../oci/types.js';
import { goHealthcheckV, goSliceQ, goSliceV } from '../go-format.js';
import { parsePortSpecs } from '../ports.js';

export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

export type ConfigInstruction =
  | EnvInstruction
  | LabelInstruction
  | MaintainerInstruction
  | CmdInstruction
  | EntrypointInstruction
  | HealthcheckInstruction
  | UserInstruction
  | VolumeInstruction
  | StopsignalInstruction
  | ShellInstruction
  | ExposeInstruction
  | OnbuildInstruction;

export interface ConfigStepContext {
  /** RFC 3339 time for history entries (SOURCE_DATE_EPOCH when set). */
  created: string | undefined;
  /** Whether CMD was set earlier in this stage (ENTRYPOINT resets an inherited CMD only). */
  cmdSet: boolean;
}

export function containerConfig(image: ImageConfig): ContainerConfig {
  image.config ??= {};
  return image.config;
}

export function addHistory(
  image: ImageConfig,
  createdBy: string,
  emptyLayer: boolean,
  created: string | undefined,
): void {
  image.history ??= [];
  image.history.push({
    ...(created === undefined ? {} : { created }),
    created_by: createdBy,
    comment: HISTORY_COMMENT,
    ...(emptyLayer ? { empty_layer: true } : {}),
  });
}

/** Docker's addEnv: replace the variable in place if present, else append. */
export function setEnv(env: string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === key);
  if (i === -1) out.push(`${key}=${value}`);
  else out[i] = `${key}=${value}`;
  return out;
}

export function getEnv(env: readonly string[], key: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i] as string;
    const eq = e.indexOf('=');
    if ((eq === -1 ? e : e.slice(0, eq)) === key) return eq === -1 ? '' : e.slice(eq + 1);
  }
  return undefined;
}

export function defaultShell(): string[] {
  return ['/bin/sh', '-c'];
}

/** Shell form → SHELL + the words joined by spaces, as BuildKit's withShell. */
export function withShell(image: ImageConfig, args: readonly string[]): string[] {
  const shell = image.config?.Shell && image.config.Shell.length > 0 ? image.config.Shell : defaultShell();
  return [...shell, args.join(' ')];
}

const SIGNALS = new Set([
  'ABRT',
  'ALRM',
  'BUS',
  'CHLD',
  'CLD',
  'CONT',
  'FPE',
  'HUP',
  'ILL',
  'INT',
  'IO',
  'IOT',
  'KILL',
  'PIPE',
  'POLL',
  'PROF',
  'PWR',
  'QUIT',
  'SEGV',
  'STKFLT',
  'STOP',
  'SYS',
  'TERM',
  'TRAP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'USR1',
  'USR2',
  'VTALRM',
  'WINCH',
  'XCPU',
  'XFSZ',
]);

function checkSignal(signal: string): void {
  const s = signal.toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(s) && Number(s) > 0 && Number(s) <= 64) return;
  if (SIGNALS.has(s) || /^RTM(IN|AX)([+-]\d+)?$/.test(s)) return;
  throw new BuilderError('EINVAL', `Invalid signal: ${signal}`, {
    hint: 'Use a signal name like SIGTERM or a number.',
  });
}

/** Applies one config-only instruction (already expanded). Returns the new `cmdSet`. */
export function applyConfigInstruction(
  image: ImageConfig,
  i: ConfigInstruction,
  ctx: ConfigStepContext,
): boolean {
  const cfg = containerConfig(image);
  const history = (line: string) => addHistory(image, line, true, ctx.created);
  switch (i.kind) {
    case 'env': {
      let env = cfg.Env ?? [];
      for (const { key, value } of i.env) env = setEnv(env, key, value);
      cfg.Env = env;
      history(`ENV ${i.env.map((e) => `${e.key}=${e.value}`).join(' ')}`);
      return ctx.cmdSet;
    }
    case 'label': {
      cfg.Labels = { ...(cfg.Labels ?? {}) };
      for (const { key, value } of i.labels) cfg.Labels[key] = value;
      history(`LABEL ${i.labels.map((e) => `${e.key}=${e.value}`).join(' ')}`);
      return ctx.cmdSet;
    }
    case 'maintainer':
      image.author = i.maintainer;
      history(`MAINTAINER ${i.maintainer}`);
      return ctx.cmdSet;
    case 'cmd': {
      const args = i.prependShell ? withShell(image, i.args) : [...i.args];
      cfg.Cmd = args;
      cfg.ArgsEscaped = true;
      history(`CMD ${goSliceQ(args)}`);
      return true;
    }
    case 'entrypoint': {
      const args = i.prependShell ? withShell(image, i.args) : [...i.args];
      cfg.Entrypoint = args;
      // BuildKit sets Cmd to nil, which its JSON omits.
      if (!ctx.cmdSet) delete cfg.Cmd;
      history(`ENTRYPOINT ${goSliceQ(args)}`);
      return ctx.cmdSet;
    }
    case 'healthcheck': {
      cfg.Healthcheck = {
        Test: i.test,
        ...(i.interval ? { Interval: i.interval } : {}),
        ...(i.timeout ? { Timeout: i.timeout } : {}),
        ...(i.startPeriod ? { StartPeriod: i.startPeriod } : {}),
        ...(i.startInterval ? { StartInterval: i.startInterval } : {}),
        ...(i.retries ? { Retries: i.retries } : {}),
      };
      history(`HEALTHCHECK ${goHealthcheckV(cfg.Healthcheck)}`);
      return ctx.cmdSet;
    }
    case 'user':
      cfg.User = i.user;
      history(`USER ${i.user}`);
      return ctx.cmdSet;
    case 'volume': {
      cfg.Volumes = { ...(cfg.Volumes ?? {}) };
      for (const v of i.volumes) {
        if (v === '') throw new BuilderError('EINVAL', 'VOLUME specified can not be an empty string');
        cfg.Volumes[v] = {};
      }
      history(`VOLUME ${goSliceV(i.volumes)}`);
      return ctx.cmdSet;
    }
    case 'stopsignal':
      checkSignal(i.signal);
      cfg.StopSignal = i.signal;
      history(`STOPSIGNAL ${i.signal}`);
      return ctx.cmdSet;
    case 'shell':
      cfg.Shell = [...i.shell];
      history(`SHELL ${goSliceV(i.shell)}`);
      return ctx.cmdSet;
    case 'expose': {
      const ports = parsePortSpecs(i.ports);
      cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of ports) cfg.ExposedPorts[p] = {};
      history(`EXPOSE ${goSliceV(ports)}`);
      return ctx.cmdSet;
    }
    case 'onbuild':
      // BuildKit records the trigger and no history line.
      cfg.OnBuild = [...(cfg.OnBuild ?? []), i.expression];
      return ctx.cmdSet;
    default:
      return assertNever(i, 'config instruction');
  }
}

/** The top-level fields of BuildKit's image struct (OCI's Image with Docker's config). */
const IMAGE_FIELDS = [
  'created',
  'author',
  'architecture',
  'os',
  'os.version',
  'os.features',
  'variant',
  'config',
  'rootfs',
  'history',
] as const;

/** moby/docker-image-spec's DockerOCIImageConfig: OCI's ImageConfig plus Healthcheck, OnBuild, Shell. */
const CONFIG_FIELDS = [
  'User',
  'ExposedPorts',
  'Env',
  'Entrypoint',
  'Cmd',
  'Volumes',
  'WorkingDir',
  'Labels',
  'StopSignal',
  'ArgsEscaped',
  'Healthcheck',
  'OnBuild',
  'Shell',
] as const;

/** Go's `omitempty`: false, 0, "", nil, and empty slices and maps. */
function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v as object).length === 0;
}

/**
 * A base image's config as BuildKit's Dockerfile frontend carries it into the new image: read
 * into its struct and written back, so fields it does not know (the classic builder's
 * container_config, docker_version, Hostname, …) are dropped and empty ones omitted.
 */
export function buildkitImageConfig(config: ImageConfig): ImageConfig {
  const source = config as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of IMAGE_FIELDS) {
    const v = source[k];
    if (k === 'config' || k === 'rootfs' || k === 'history' || !isEmptyValue(v)) {
      if (v !== undefined) out[k] = v;
    }
  }
  const cfg = (config.config ?? {}) as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  for (const k of CONFIG_FIELDS) {
    const v = cfg[k];
    // Healthcheck is a pointer: only nil is omitted.
    if (k === 'Healthcheck' ? v !== undefined && v !== null : !isEmptyValue(v)) kept[k] = v;
  }
  out.config = kept;
  if (Array.isArray(out.history)) {
    out.history = (out.history as Record<string, unknown>[]).map((h) =>
      Object.fromEntries(Object.entries(h).filter(([, v]) => !isEmptyValue(v))),
    );
  }
  return out as unknown as ImageConfig;
}

/** WORKDIR relative to the previous one, cleaned like Go's path.Clean. */
export function resolveWorkdir(current: string | undefined, path: string): string {
  const joined = path.startsWith('/') ? path : `${current && current !== '' ? current : '/'}/${path}`;
  return cleanPath(joined);
}

export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

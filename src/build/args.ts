// Build arguments, scoped as BuildKit scopes them: global ARGs (before the first FROM) see
// --build-arg values and each other and expand FROM lines; inside a stage an ARG is visible
// only once declared, taking the --build-arg value, else its default, else the global value.

import type { ArgInstruction } from '../dockerfile/instructions/types.js';
import { type EnvGetter, envFromList } from '../dockerfile/shell/env.js';
import { ShellLexer } from '../dockerfile/shell/shell-lexer.js';
import type { Platform } from '../oci/types.js';

/** Usable without an ARG line; never in cache keys or history (BuildKit's proxy args). */
export const PROXY_ARGS = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
] as const;

/** An ordered list of `KEY=VALUE` with replace-in-place, the shape BuildKit keeps env in. */
export class EnvList {
  private readonly entries: [string, string][] = [];

  static from(list: readonly string[]): EnvList {
    const env = new EnvList();
    for (const e of list) {
      const eq = e.indexOf('=');
      env.set(eq === -1 ? e : e.slice(0, eq), eq === -1 ? '' : e.slice(eq + 1));
    }
    return env;
  }

  set(key: string, value: string): void {
    const found = this.entries.find((e) => e[0] === key);
    if (found) found[1] = value;
    else this.entries.push([key, value]);
  }

  get(key: string): string | undefined {
    return this.entries.find((e) => e[0] === key)?.[1];
  }

  has(key: string): boolean {
    return this.entries.some((e) => e[0] === key);
  }

  toList(): string[] {
    return this.entries.map(([k, v]) => `${k}=${v}`);
  }

  clone(): EnvList {
    const env = new EnvList();
    for (const [k, v] of this.entries) env.set(k, v);
    return env;
  }

  getter(): EnvGetter {
    return envFromList(this.toList());
  }
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The automatic platform args of BuildKit (TARGET* and BUILD*). */
export function platformArgs(target: Platform, build: Platform): EnvList {
  const env = new EnvList();
  const put = (prefix: string, p: Platform) => {
    env.set(`${prefix}PLATFORM`, formatPlatform(p));
    env.set(`${prefix}OS`, p.os);
    env.set(`${prefix}ARCH`, p.architecture);
    env.set(`${prefix}VARIANT`, p.variant ?? '');
  };
  put('BUILD', build);
  put('TARGET', target);
  return env;
}

export interface ArgScope {
  buildArgs: ReadonlyMap<string, string>;
  /** Names of --build-arg values that some ARG declared, for the "not consumed" warning. */
  consumed: Set<string>;
}

/** Global ARGs: expanded in order, each seeing the ones before it. */
export function resolveGlobalArgs(
  args: readonly ArgInstruction[],
  defaults: EnvList,
  scope: ArgScope,
  escapeToken: string,
): EnvList {
  const env = defaults.clone();
  const lexer = new ShellLexer(escapeToken);
  for (const instruction of args) {
    for (const a of instruction.args) {
      scope.consumed.add(a.key);
      const given = scope.buildArgs.get(a.key);
      if (given !== undefined) env.set(a.key, given);
      else if (a.value !== undefined) env.set(a.key, lexer.processWord(a.value, env.getter()));
    }
  }
  return env;
}

export interface DeclaredArg {
  key: string;
  value: string | undefined;
}

/**
 * One stage ARG line. `stageEnv` (ENV + ARGs seen so far) gains the declared values;
 * returns what was declared, for RUN's environment and its history line.
 */
export function declareStageArgs(
  instruction: ArgInstruction,
  globalArgs: EnvList,
  stageEnv: EnvList,
  scope: ArgScope,
  escapeToken: string,
): DeclaredArg[] {
  const lexer = new ShellLexer(escapeToken);
  const out: DeclaredArg[] = [];
  for (const a of instruction.args) {
    scope.consumed.add(a.key);
    let value: string | undefined;
    const given = scope.buildArgs.get(a.key);
    if (given !== undefined) value = given;
    else if (a.value !== undefined) value = lexer.processWord(a.value, stageEnv.getter());
    else value = globalArgs.get(a.key);
    if (value !== undefined) stageEnv.set(a.key, value);
    out.push({ key: a.key, value });
  }
  return out;
}

/** BuildKit's history line for ARG: `ARG A=1 B`. */
export function argHistoryLine(declared: readonly DeclaredArg[]): string {
  return `ARG ${declared.map((d) => (d.value === undefined ? d.key : `${d.key}=${d.value}`)).join(' ')}`;
}

/** `RUN |2 A=1 B=2 /bin/sh -c …`: the ARGs in scope prefix RUN's history line. */
export function runHistoryLine(
  args: readonly string[],
  declared: readonly DeclaredArg[],
  env: EnvList,
): string {
  const pairs = new Map<string, string>();
  for (const d of declared) pairs.set(d.key, env.get(d.key) ?? d.value ?? '');
  const prefix = pairs.size > 0 ? [`|${pairs.size}`, ...[...pairs].map(([k, v]) => `${k}=${v}`)] : [];
  return `RUN ${[...prefix, ...args].join(' ')}`;
}

export function unusedBuildArgs(scope: ArgScope): string[] {
  const proxy = new Set<string>(PROXY_ARGS);
  return [...scope.buildArgs.keys()].filter((k) => !scope.consumed.has(k) && !proxy.has(k)).sort();
}

// AST node → typed instruction. Checks arity, flags and forms with BuildKit's messages;
// expands nothing (that needs the stage's environment, which only the build engine has).

import { DockerfileError, type SourceRange } from '../../errors.js';
import type { Heredoc, InstructionNode } from '../parser/ast.js';
import { didYouMean } from './did-you-mean.js';
import { parseGoDuration } from './duration.js';
import { FlagError, type FlagSpec, type FlagValues, parseFlags } from './flags.js';
import type {
  CommandLine,
  CopySource,
  HealthcheckInstruction,
  Instruction,
  InstructionKind,
  KeyValue,
} from './types.js';

export const INSTRUCTION_KEYWORDS: readonly InstructionKind[] = [
  'from',
  'run',
  'cmd',
  'entrypoint',
  'shell',
  'label',
  'maintainer',
  'expose',
  'env',
  'add',
  'copy',
  'volume',
  'user',
  'workdir',
  'arg',
  'onbuild',
  'stopsignal',
  'healthcheck',
];

const FLAGS = {
  from: { platform: 'string' },
  run: { mount: 'list', network: 'string', security: 'string' },
  copy: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' },
  add: {
    chown: 'string',
    chmod: 'string',
    checksum: 'string',
    'keep-git-dir': 'bool',
    link: 'bool',
    exclude: 'list',
    unpack: 'bool',
  },
  healthcheck: {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  },
  none: {},
} as const satisfies Record<string, FlagSpec>;

export function rangeOfNode(node: InstructionNode): SourceRange {
  return { start: { line: node.startLine, character: 0 }, end: { line: node.endLine, character: 0 } };
}

/** The keyword as the user wrote it (BuildKit's messages keep its case). */
function writtenKeyword(node: InstructionNode): string {
  const m = /^\s*(\S+)/.exec(node.original);
  return m?.[1] ?? node.keyword;
}

export function convertNode(node: InstructionNode): Instruction {
  const fail = (message: string, hint?: string, range = rangeOfNode(node)): never => {
    throw new DockerfileError(message, { ranges: [range], ...(hint === undefined ? {} : { hint }) });
  };
  const KW = node.keyword.toUpperCase();
  const common = { range: rangeOfNode(node), original: node.original };
  const args = node.args;

  const flags = <S extends FlagSpec>(spec: S): FlagValues<S> => {
    try {
      return parseFlags(node.flags, spec).values;
    } catch (err) {
      if (!(err instanceof FlagError)) throw err;
      const allowed = Object.keys(spec);
      const hint =
        allowed.length === 0
          ? `${KW} takes no flags.`
          : `${KW} accepts ${allowed.map((f) => `--${f}`).join(', ')}.`;
      return fail(err.message, hint);
    }
  };
  const exactlyOne = (): string => {
    if (args.length !== 1) fail(`${KW} requires exactly one argument`, `Write it as: ${KW} <value>.`);
    return args[0] as string;
  };
  const atLeastOne = (): void => {
    if (args.length === 0) fail(`${KW} requires at least one argument`);
  };
  const commandLine = (): CommandLine => ({ args: [...args], prependShell: !node.json });

  switch (node.keyword) {
    case 'from': {
      const f = flags(FLAGS.from);
      if (args.length !== 1 && !(args.length === 3 && args[1]?.toLowerCase() === 'as')) {
        fail('FROM requires either one or three arguments', 'Write it as: FROM <image> [AS <name>].');
      }
      const stageName = args.length === 3 ? (args[2] as string).toLowerCase() : undefined;
      if (stageName !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(stageName)) {
        fail(
          `invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`,
          'Stage names start with a letter and use letters, digits, "-", "_" and ".".',
        );
      }
      return {
        kind: 'from',
        ...common,
        image: args[0] as string,
        ...(stageName === undefined ? {} : { stageName }),
        ...(f.platform === undefined ? {} : { platform: f.platform }),
      };
    }
    case 'run': {
      const f = flags(FLAGS.run);
      if (args.length === 0 && node.heredocs.length === 0) fail('RUN requires at least one argument');
      return {
        kind: 'run',
        ...common,
        ...commandLine(),
        mounts: f.mount,
        ...(f.network === undefined ? {} : { network: f.network }),
        ...(f.security === undefined ? {} : { security: f.security }),
        heredocs: node.heredocs,
      };
    }
    case 'cmd':
      flags(FLAGS.none);
      return { kind: 'cmd', ...common, ...commandLine() };
    case 'entrypoint':
      flags(FLAGS.none);
      return { kind: 'entrypoint', ...common, ...commandLine() };
    case 'shell':
      flags(FLAGS.none);
      if (!node.json) {
        fail('SHELL requires the arguments to be in JSON form', 'Write it as: SHELL ["/bin/bash", "-c"].');
      }
      if (args.length === 0) fail('SHELL requires at least one argument');
      return { kind: 'shell', ...common, shell: [...args] };
    case 'label':
    case 'env': {
      flags(FLAGS.none);
      atLeastOne();
      const pairs = keyValues(args, KW, fail);
      return node.keyword === 'env'
        ? { kind: 'env', ...common, env: pairs }
        : { kind: 'label', ...common, labels: pairs };
    }
    case 'maintainer':
      flags(FLAGS.none);
      return { kind: 'maintainer', ...common, maintainer: exactlyOne() };
    case 'expose':
      flags(FLAGS.none);
      atLeastOne();
      return { kind: 'expose', ...common, ports: [...args] };
    case 'add':
    case 'copy': {
      const f = node.keyword === 'add' ? flags(FLAGS.add) : undefined;
      const c = node.keyword === 'copy' ? flags(FLAGS.copy) : undefined;
      if (args.length < 2) {
        fail(
          args.length === 1
            ? `${KW} requires at least two arguments, but only one was provided. Destination could not be determined`
            : `${KW} requires at least two arguments`,
          `Write it as: ${KW} <source>... <destination>.`,
        );
      }
      const { sources, dest } = sourcesAndDest(args, node.json ? [] : node.heredocs, KW, fail);
      if (f) {
        return {
          kind: 'add',
          ...common,
          sources,
          dest,
          ...(f.chown === undefined ? {} : { chown: f.chown }),
          ...(f.chmod === undefined ? {} : { chmod: f.chmod }),
          ...(f.checksum === undefined ? {} : { checksum: f.checksum }),
          keepGitDir: f['keep-git-dir'],
          link: f.link,
          exclude: f.exclude,
          ...(node.flags.some((x) => x.startsWith('--unpack')) ? { unpack: f.unpack } : {}),
        };
      }
      const cf = c as FlagValues<(typeof FLAGS)['copy']>;
      return {
        kind: 'copy',
        ...common,
        sources,
        dest,
        ...(cf.from === undefined ? {} : { from: cf.from }),
        ...(cf.chown === undefined ? {} : { chown: cf.chown }),
        ...(cf.chmod === undefined ? {} : { chmod: cf.chmod }),
        link: cf.link,
        parents: cf.parents,
        exclude: cf.exclude,
      };
    }
    case 'volume': {
      flags(FLAGS.none);
      atLeastOne();
      for (const v of args) if (v.trim() === '') fail('VOLUME specified can not be an empty string');
      return { kind: 'volume', ...common, volumes: [...args] };
    }
    case 'user':
      flags(FLAGS.none);
      return { kind: 'user', ...common, user: exactlyOne() };
    case 'workdir':
      flags(FLAGS.none);
      return { kind: 'workdir', ...common, path: exactlyOne() };
    case 'arg': {
      flags(FLAGS.none);
      atLeastOne();
      return {
        kind: 'arg',
        ...common,
        args: args.map((word) => {
          const eq = word.indexOf('=');
          const key = eq === -1 ? word : word.slice(0, eq);
          if (key === '') fail(`ARG names can not be blank: "${word}"`);
          return eq === -1 ? { key } : { key, value: word.slice(eq + 1) };
        }),
      };
    }
    case 'onbuild': {
      flags(FLAGS.none);
      const child = node.child;
      if (!child) return fail('ONBUILD requires at least one argument');
      const childKw = child.keyword.toUpperCase();
      if (childKw === 'ONBUILD') fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (childKw === 'FROM' || childKw === 'MAINTAINER')
        fail(`${childKw} isn't allowed as an ONBUILD trigger`);
      const trigger = convertNode(child);
      const expression = node.original.replace(/^\s*onbuild\s*/i, '');
      return { kind: 'onbuild', ...common, expression, trigger };
    }
    case 'stopsignal':
      flags(FLAGS.none);
      return { kind: 'stopsignal', ...common, signal: exactlyOne() };
    case 'healthcheck':
      return healthcheck(node, common, flags(FLAGS.healthcheck), fail);
    default: {
      const written = writtenKeyword(node);
      const guess = didYouMean(node.keyword, INSTRUCTION_KEYWORDS);
      return fail(
        `unknown instruction: ${written}${guess ? ` (did you mean ${guess.toUpperCase()}?)` : ''}`,
        `Dockerfile instructions are ${INSTRUCTION_KEYWORDS.map((k) => k.toUpperCase()).join(', ')}.`,
        {
          start: { line: node.startLine, character: 0 },
          end: { line: node.startLine, character: written.length },
        },
      );
    }
  }
}

type Fail = (message: string, hint?: string) => never;

/** ENV/LABEL nodes come as (key, value, separator) triples; separator `""` marks the legacy form. */
function keyValues(args: string[], KW: string, fail: Fail): KeyValue[] {
  if (args.length % 3 !== 0) fail(`Bad input to ${KW}, too many arguments`);
  const out: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i] as string;
    if (key === '') fail(`${KW} names can not be blank`, `Write it as: ${KW} <name>=<value>.`);
    const legacy = args[i + 2] === '';
    out.push(legacy ? { key, value: args[i + 1] as string, legacy } : { key, value: args[i + 1] as string });
  }
  return out;
}

function isHeredocWord(word: string): boolean {
  return /^<<-?\s*\S/.test(word);
}

function sourcesAndDest(
  args: string[],
  heredocs: Heredoc[],
  KW: string,
  fail: Fail,
): { sources: CopySource[]; dest: string } {
  const dest = args[args.length - 1] as string;
  let next = 0;
  const sources: CopySource[] = args.slice(0, -1).map((word) => {
    if (isHeredocWord(word) && next < heredocs.length) return { heredoc: heredocs[next++] as Heredoc };
    return { path: word };
  });
  if (isHeredocWord(dest) && next < heredocs.length) fail(`${KW} cannot accept a heredoc as a destination`);
  return { sources, dest };
}

function healthcheck(
  node: InstructionNode,
  common: { range: SourceRange; original: string },
  f: FlagValues<(typeof FLAGS)['healthcheck']>,
  fail: Fail,
): HealthcheckInstruction {
  const args = node.args;
  if (args.length === 0) fail('HEALTHCHECK requires at least one argument');
  const type = (args[0] as string).toUpperCase();
  if (type === 'NONE') {
    if (args.length !== 1) fail('HEALTHCHECK NONE takes no arguments');
    return { kind: 'healthcheck', ...common, test: ['NONE'] };
  }
  if (type !== 'CMD')
    fail(`Unknown type "${type}" in HEALTHCHECK (try CMD)`, 'Write it as: HEALTHCHECK CMD <command>.');
  const cmd = args.slice(1);
  if (cmd.length === 0) fail('Missing command after HEALTHCHECK CMD');
  const test = node.json ? ['CMD', ...cmd] : ['CMD-SHELL', cmd.join(' ')];
  const out: HealthcheckInstruction = { kind: 'healthcheck', ...common, test };
  const interval = (name: 'interval' | 'timeout' | 'start-period' | 'start-interval'): number | undefined => {
    const text = f[name];
    if (text === undefined || text === '') return undefined;
    const ns = parseGoDuration(text);
    if (ns === undefined)
      return fail(
        `time: invalid duration "${text}" for --${name}`,
        'Use a duration like 30s, 1m30s or 500ms.',
      );
    if (ns === 0) return 0;
    if (ns < 0) return fail(`Interval "${name}" cannot be negative`);
    if (ns < 1e6) return fail(`Interval "${name}" cannot be less than 1ms`);
    return ns;
  };
  const set = <K extends 'interval' | 'timeout' | 'startPeriod' | 'startInterval'>(
    k: K,
    v: number | undefined,
  ) => {
    if (v !== undefined) out[k] = v;
  };
  set('interval', interval('interval'));
  set('timeout', interval('timeout'));
  set('startPeriod', interval('start-period'));
  set('startInterval', interval('start-interval'));
  if (f.retries !== undefined && f.retries !== '') {
    if (!/^-?\d+$/.test(f.retries))
      fail(`strconv.ParseInt: parsing "${f.retries}": invalid syntax`, '--retries takes a whole number.');
    const n = Number(f.retries);
    if (n < 0) fail('--retries cannot be negative');
    out.retries = n;
  }
  return out;
}

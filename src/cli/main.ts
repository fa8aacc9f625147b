#!/usr/bin/env node
// The CLI shell: argv → command table → implementation; errors → message + exit status.
// Only this folder touches process.argv, stdio, exit codes and environment defaults.

import { readFileSync } from 'node:fs';
import { takeMovedExtraCa } from '../registry/extra-ca.js';
import { parseArgs, renderHelp, usageError } from './args.js';
import type { CommandDef } from './command.js';
import { commands, groups } from './commands.js';
import { type Output, output, print } from './output.js';
import { renderError } from './render/error.js';

const EXIT_USAGE = 125; // docker's status for errors of the CLI itself

function version(): string {
  // The nearest package.json above this module: three folders up from dist/src/cli/main.js,
  // one up from the bundle (dist/strata-bundle.cjs).
  let dir = new URL('./', import.meta.url);
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { version: string };
      return `strata version ${pkg.version}`;
    } catch (err) {
      const up = new URL('../', dir);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || up.href === dir.href) throw err;
      dir = up;
    }
  }
}

function topHelp(): string {
  const top = commands.filter((c) => c.path.length === 1 && !c.hidden);
  const width =
    Math.max(...[...top.map((c) => c.path[0] as string), ...groups.map((g) => g.name)].map((n) => n.length)) +
    2;
  const lines = [
    'Usage:  strata [OPTIONS] COMMAND',
    '',
    'A daemonless, Docker-compatible container image builder',
    '',
  ];
  if (top.length > 0) {
    lines.push('Commands:');
    for (const c of top) lines.push(`  ${(c.path[0] as string).padEnd(width)}${c.summary}`);
    lines.push('');
  }
  lines.push('Management Commands:');
  for (const g of groups) lines.push(`  ${g.name.padEnd(width)}${g.summary}`);
  lines.push(
    '',
    'Global Options:',
    '  -D, --debug     Enable debug output (stack traces)',
    '  -v, --version   Print version information and quit',
    '',
    "Run 'strata COMMAND --help' for more information on a command.",
  );
  return `${lines.join('\n')}\n`;
}

function groupHelp(group: string): string {
  const subs = commands.filter((c) => c.path[0] === group && c.path.length === 2);
  const width = Math.max(...subs.map((c) => (c.path[1] as string).length)) + 2;
  const summary = groups.find((g) => g.name === group)?.summary ?? '';
  const lines = [`Usage:  strata ${group} COMMAND`, '', summary, '', 'Commands:'];
  for (const c of subs) lines.push(`  ${(c.path[1] as string).padEnd(width)}${c.summary}`);
  lines.push('', `Run 'strata ${group} COMMAND --help' for more information on a command.`);
  return `${lines.join('\n')}\n`;
}

function findCommand(argv: string[]): { def: CommandDef; rest: string[] } | undefined {
  // Longest path first, so `image prune` wins over a top-level `image`.
  const sorted = [...commands].sort((a, b) => b.path.length - a.path.length);
  for (const def of sorted) {
    if (def.path.every((word, i) => argv[i] === word)) return { def, rest: argv.slice(def.path.length) };
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  takeMovedExtraCa(process.env);
  const given = [...argv];
  let debug = false;
  // Global flags come before the command word, as with docker.
  while (argv[0]?.startsWith('-')) {
    const flag = argv.shift() as string;
    if (flag === '-v' || flag === '--version') {
      print(1, `${version()}\n`);
      return 0;
    }
    if (flag === '-h' || flag === '--help') {
      print(1, topHelp());
      return 0;
    }
    if (flag === '-D' || flag === '--debug') {
      debug = true;
      continue;
    }
    print(2, renderError(usageError(`unknown flag: ${flag}`)));
    return EXIT_USAGE;
  }
  if (argv.length === 0) {
    print(1, topHelp());
    return 0;
  }
  if (argv[0] === 'version') {
    print(1, `${version()}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    if (groups.some((g) => g.name === argv[0])) {
      const sub = argv[1];
      if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
        print(1, groupHelp(argv[0] as string));
        return 0;
      }
      print(
        2,
        renderError(usageError(`unknown command: "strata ${argv[0]} ${sub}"`)).replace(
          "See 'strata --help'.",
          `See 'strata ${argv[0]} --help'.`,
        ),
      );
      return EXIT_USAGE;
    }
    print(2, renderError(usageError(`unknown command: "strata ${argv[0]}"`)));
    return EXIT_USAGE;
  }
  const { def, rest } = found;
  const help = () => renderHelp(def.usage, def.summary, def.options);
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(rest, def.options, { stopAtFirstPositional: def.stopAtFirstPositional ?? false });
  } catch (err) {
    print(2, renderError(err).replace("See 'strata --help'.", `See '${def.usage.split(' [')[0]} --help'.`));
    return EXIT_USAGE;
  }
  if (args.options.help === true) {
    print(1, help());
    return 0;
  }
  const n = args.positionals.length;
  if ((def.minArgs !== undefined && n < def.minArgs) || (def.maxArgs !== undefined && n > def.maxArgs)) {
    const want =
      def.minArgs === def.maxArgs
        ? `exactly ${def.minArgs} argument${def.minArgs === 1 ? '' : 's'}`
        : def.maxArgs === undefined
          ? `at least ${def.minArgs} argument${def.minArgs === 1 ? '' : 's'}`
          : `at most ${def.maxArgs} argument${def.maxArgs === 1 ? '' : 's'}`;
    print(
      2,
      `"strata ${def.path.join(' ')}" requires ${want}.\nSee 'strata ${def.path.join(' ')} --help'.\n\n${`Usage:  ${def.usage}`}\n\n${def.summary}\n`,
    );
    return EXIT_USAGE;
  }
  let stdout: Output | undefined;
  let stderr: Output | undefined;
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const mod = await def.load();
    return await mod.run({
      args,
      // On first use: making process.stdin builds a stream (~1 ms) that few commands read.
      get stdin() {
        return process.stdin;
      },
      // Made on first use, as stdin (output.ts says why they are not Node's streams).
      get stdout() {
        stdout ??= output(1);
        return stdout;
      },
      get stderr() {
        stderr ??= output(2);
        return stderr;
      },
      env: process.env,
      cwd: process.cwd(),
      signal: controller.signal,
      argv: given,
    });
  } catch (err) {
    print(2, renderError(err, { debug }));
    return controller.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    print(2, renderError(err, { debug: true }));
    process.exitCode = 1;
  },
);

// A docker-style command-line parser. Docker's flag grammar (pflag) differs from what
// general-purpose parsers do by default: `-t a -t b` repeats, `-it` groups booleans,
// `--flag=value` and `--flag value` both work, and for `run` parsing stops at the first
// positional argument (the image) so the container command keeps its own flags.

import { BuilderError } from '../errors.js';

export type OptionType = 'bool' | 'string' | 'list';

export interface OptionSpec {
  long: string;
  short?: string;
  type: OptionType;
  /** The word shown after the flag in help (`string`, `list`, `stringArray`). */
  valueName?: string;
  description: string;
  /** Shown in help as `(default "…")`. */
  defaultText?: string;
  hidden?: boolean;
}

export interface ParsedArgs {
  options: Record<string, string | string[] | boolean | undefined>;
  positionals: string[];
}

export interface ParseArgsOptions {
  /** Stop parsing flags at the first positional argument (docker run, exec). */
  stopAtFirstPositional?: boolean;
}

const HELP: OptionSpec = { long: 'help', type: 'bool', description: 'Print usage', hidden: true };

export function parseArgs(argv: string[], specs: OptionSpec[], options: ParseArgsOptions = {}): ParsedArgs {
  const all = [...specs, HELP];
  const byLong = new Map(all.map((s) => [s.long, s]));
  const byShort = new Map(all.filter((s) => s.short).map((s) => [s.short as string, s]));
  const result: ParsedArgs = { options: {}, positionals: [] };

  const set = (spec: OptionSpec, value: string | boolean): void => {
    if (spec.type === 'list') {
      const prev = result.options[spec.long];
      result.options[spec.long] = [...(Array.isArray(prev) ? prev : []), String(value)];
    } else {
      result.options[spec.long] = value;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      result.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw usageError(`unknown flag: --${name}`);
      if (spec.type === 'bool') {
        if (eq === -1) set(spec, true);
        else set(spec, parseBool(arg.slice(eq + 1), `--${name}`));
      } else if (eq !== -1) {
        set(spec, arg.slice(eq + 1));
      } else {
        const value = argv[++i];
        if (value === undefined) throw usageError(`flag needs an argument: --${name}`);
        set(spec, value);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // A group of short flags: booleans may be combined (-it); a value flag takes the rest
      // of the group or the next argument (-tname, -t name).
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        const spec = byShort.get(letter);
        if (!spec) throw usageError(`unknown shorthand flag: '${letter}' in ${arg}`);
        if (spec.type === 'bool') {
          if (arg[j + 1] === '=') {
            // pflag's -H=false
            set(spec, parseBool(arg.slice(j + 2), `-${letter}`));
            break;
          }
          set(spec, true);
          continue;
        }
        let value = arg.slice(j + 1);
        if (value.startsWith('=')) value = value.slice(1);
        if (value === '') {
          const next = argv[++i];
          if (next === undefined) throw usageError(`flag needs an argument: '${letter}' in -${letter}`);
          value = next;
        }
        set(spec, value);
        break;
      }
      continue;
    }
    result.positionals.push(arg);
    if (options.stopAtFirstPositional) {
      result.positionals.push(...argv.slice(i + 1));
      break;
    }
  }
  return result;
}

function parseBool(text: string, flag: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(text)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(text)) return false;
  throw usageError(`invalid argument "${text}" for "${flag}" flag: not a boolean`);
}

export function usageError(message: string): BuilderError {
  return new BuilderError('EINVAL', message, { hint: "See 'strata --help'." });
}

/** Help text in the shape docker prints: Usage, summary, aligned Options. */
export function renderHelp(usage: string, summary: string, specs: OptionSpec[], extra = ''): string {
  const lines = [`Usage:  ${usage}`, '', summary, ''];
  const visible = specs.filter((s) => !s.hidden);
  if (visible.length > 0) {
    const left = visible.map((s) => {
      const short = s.short ? `-${s.short}, ` : '    ';
      const value = s.type === 'bool' ? '' : ` ${s.valueName ?? (s.type === 'list' ? 'list' : 'string')}`;
      return `  ${short}--${s.long}${value}`;
    });
    const width = Math.max(...left.map((l) => l.length)) + 3;
    lines.push('Options:');
    visible.forEach((s, k) => {
      const def = s.defaultText === undefined ? '' : ` (default ${s.defaultText})`;
      lines.push(`${(left[k] as string).padEnd(width)}${s.description}${def}`);
    });
  }
  if (extra) lines.push('', extra);
  return `${lines.join('\n')}\n`;
}

export function optString(args: ParsedArgs, name: string): string | undefined {
  const v = args.options[name];
  return typeof v === 'string' ? v : undefined;
}

export function optList(args: ParsedArgs, name: string): string[] {
  const v = args.options[name];
  return Array.isArray(v) ? v : [];
}

export function optBool(args: ParsedArgs, name: string): boolean {
  return args.options[name] === true;
}

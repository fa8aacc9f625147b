// Instruction flags (`--from=builder`, `--link`, `--mount=…` repeated), with the grammar
// and messages of BuildKit's flag parser: each instruction declares what it accepts.

export type FlagKind = 'string' | 'bool' | 'list';

export type FlagSpec = Record<string, FlagKind>;

export type FlagValues<S extends FlagSpec> = {
  [K in keyof S]: S[K] extends 'list' ? string[] : S[K] extends 'bool' ? boolean : string | undefined;
};

export class FlagError extends Error {
  /** The flag the error is about, so the caller can point at it. */
  readonly flag: string | undefined;
  constructor(message: string, flag?: string) {
    super(message);
    this.flag = flag;
  }
}

export interface ParsedFlags<S extends FlagSpec> {
  values: FlagValues<S>;
  /** Flag names that were given, in order (BuildKit's FlagsUsed). */
  used: string[];
}

export function parseFlags<S extends FlagSpec>(flags: string[], spec: S): ParsedFlags<S> {
  const values: Record<string, string | string[] | boolean | undefined> = {};
  for (const [name, kind] of Object.entries(spec)) {
    values[name] = kind === 'list' ? [] : kind === 'bool' ? false : undefined;
  }
  const used: string[] = [];
  const seen = new Set<string>();
  for (const raw of flags) {
    if (!raw.startsWith('--'))
      throw new FlagError(`arguments to instructions must start with "--": ${raw}`, raw);
    const body = raw.slice(2);
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const value = eq === -1 ? undefined : body.slice(eq + 1);
    const kind = spec[name];
    if (kind === undefined) throw new FlagError(`unknown flag: --${name}`, name);
    if (kind !== 'list' && seen.has(name)) throw new FlagError(`Duplicate flag specified: --${name}`, name);
    seen.add(name);
    if (!used.includes(name)) used.push(name);
    switch (kind) {
      case 'bool': {
        if (value === undefined || value.toLowerCase() === 'true') values[name] = true;
        else if (value.toLowerCase() === 'false') values[name] = false;
        else throw new FlagError(`expecting boolean value for flag ${name}, not: ${value}`, name);
        break;
      }
      case 'string':
        if (value === undefined) throw new FlagError(`Missing a value on flag: --${name}`, name);
        values[name] = value;
        break;
      case 'list':
        if (value === undefined) throw new FlagError(`Missing a value on flag: --${name}`, name);
        (values[name] as string[]).push(value);
        break;
    }
  }
  return { values: values as FlagValues<S>, used };
}

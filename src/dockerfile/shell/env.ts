// The environment a word is expanded against. The lexer only ever asks for one name at a time,
// so callers can back it with whatever they keep (an ENV list, a stage's ARG scope, a Map).

export interface EnvGetter {
  /** The value, or undefined when the name is not set (set-but-empty is ''). */
  get(name: string): string | undefined;
  keys(): Iterable<string>;
}

export interface EnvListOptions {
  /**
   * Compare names case-insensitively, as BuildKit does when the target is Windows.
   * Off by default: Linux names are case-sensitive (`$pwd` is not `$PWD`).
   */
  caseInsensitive?: boolean;
}

/**
 * An EnvGetter over `KEY=VALUE` strings, the shape of an image config's `Env`. The first `=`
 * splits; an entry without `=` defines the key with an empty value; a later duplicate wins.
 */
export function envFromList(entries: readonly string[], options: EnvListOptions = {}): EnvGetter {
  const fold = options.caseInsensitive === true ? (k: string) => k.toUpperCase() : (k: string) => k;
  const values = new Map<string, string>();
  const keys: string[] = [];
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    const folded = fold(key);
    if (!values.has(folded)) keys.push(key);
    values.set(folded, eq < 0 ? '' : entry.slice(eq + 1));
  }
  return {
    get: (name) => values.get(fold(name)),
    keys: () => keys,
  };
}

/** An EnvGetter over a plain record or Map (tests, build args). Names are case-sensitive. */
export function envFromRecord(
  record: Readonly<Record<string, string>> | ReadonlyMap<string, string>,
): EnvGetter {
  const map = record instanceof Map ? record : new Map(Object.entries(record));
  return {
    get: (name) => map.get(name),
    keys: () => map.keys(),
  };
}

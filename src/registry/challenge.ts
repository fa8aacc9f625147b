// WWW-Authenticate (RFC 7235): one or more challenges, each a scheme followed by
// comma-separated auth-params whose values are tokens or quoted strings:
//
//   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"
//   Basic realm="Registry Realm"
//
// Several challenges may share one header, separated by commas too; a new challenge starts at
// a token that is not followed by "=".

export interface Challenge {
  /** Lowercase: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names lowercase. */
  params: Record<string, string>;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.i >= this.s.length;
  }
  skipSpace(): void {
    while (!this.done && /[ \t]/.test(this.s[this.i] as string)) this.i++;
  }
  token(): string {
    const start = this.i;
    while (!this.done && TCHAR.test(this.s[this.i] as string)) this.i++;
    return this.s.slice(start, this.i);
  }
  peek(): string | undefined {
    return this.s[this.i];
  }
  /** An unquoted value: lenient, up to a comma or a space (some servers leave URLs unquoted). */
  bare(): string {
    const start = this.i;
    while (!this.done && !/[,\s]/.test(this.s[this.i] as string)) this.i++;
    return this.s.slice(start, this.i);
  }
  quoted(): string {
    // at the opening quote
    this.i++;
    let out = '';
    while (!this.done) {
      const c = this.s[this.i++] as string;
      if (c === '"') return out;
      if (c === '\\' && !this.done) out += this.s[this.i++];
      else out += c;
    }
    return out; // unterminated: take what there is
  }
}

/** Every challenge in a WWW-Authenticate header (several headers: join them with ", "). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const sc = new Scanner(text);
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  let guard = 0;
  while (!sc.done && guard++ < 10_000) {
    sc.skipSpace();
    if (sc.peek() === ',') {
      sc.i++;
      continue;
    }
    const word = sc.token();
    if (word === '') {
      sc.i++; // an unexpected character: skip it
      continue;
    }
    sc.skipSpace();
    if (sc.peek() === '=' && current !== undefined) {
      sc.i++;
      sc.skipSpace();
      const value = sc.peek() === '"' ? sc.quoted() : sc.bare();
      current.params[word.toLowerCase()] = value;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The scopes a challenge asks for (`scope` may list several, space-separated). */
export function challengeScopes(c: Challenge): string[] {
  const scope = c.params.scope;
  return scope === undefined || scope === '' ? [] : scope.split(' ').filter((s) => s !== '');
}

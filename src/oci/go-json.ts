// JSON text exactly as Go's encoding/json writes it, because BuildKit and Docker hash those
// bytes: `<`, `>`, `&` become \u003c \u003e \u0026, U+2028/U+2029 become \u2028 \u2029,
// control characters use \n \r \t \b \f or \u00XX (lowercase hex), invalid UTF-16 (a lone
// surrogate) becomes \ufffd, and json.MarshalIndent's layout is used when `indent` is given.
//
// Key order is the caller's: a `Map` is written in insertion order (JS objects reorder
// integer-like keys, Maps do not), a plain object in `Object.keys` order, unless `sortKeys`
// sorts every object by the UTF-8 bytes of its keys (Go's order for maps).

import { BuilderError } from '../errors.js';

export interface GoJsonOptions {
  /** One indentation step (json.MarshalIndent with prefix ""); compact when absent. */
  indent?: string;
  /** Sort the keys of every object and Map (Go map order). */
  sortKeys?: boolean;
}

const HEX = '0123456789abcdef';

/** Go's `encodeState.string` with HTML escaping on. */
export function goJsonQuote(value: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    let escaped: string | undefined;
    if (c < 0x20) {
      switch (c) {
        case 0x0a:
          escaped = '\\n';
          break;
        case 0x0d:
          escaped = '\\r';
          break;
        case 0x09:
          escaped = '\\t';
          break;
        case 0x08:
          escaped = '\\b';
          break;
        case 0x0c:
          escaped = '\\f';
          break;
        default:
          escaped = `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`;
      }
    } else if (c === 0x22) {
      escaped = '\\"';
    } else if (c === 0x5c) {
      escaped = '\\\\';
    } else if (c === 0x3c) {
      escaped = '\\u003c';
    } else if (c === 0x3e) {
      escaped = '\\u003e';
    } else if (c === 0x26) {
      escaped = '\\u0026';
    } else if (c === 0x2028) {
      escaped = '\\u2028';
    } else if (c === 0x2029) {
      escaped = '\\u2029';
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = value.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid surrogate pair: written as is (UTF-8 in the output)
        continue;
      }
      escaped = '\\ufffd';
    }
    if (escaped !== undefined) {
      out += value.slice(start, i) + escaped;
      start = i + 1;
    }
  }
  return `${out + value.slice(start)}"`;
}

/** Go's float64 formatting: shortest round-trip digits, exponent form outside [1e-6, 1e21). */
function goNumber(n: number): string {
  if (!Number.isFinite(n)) {
    throw new BuilderError(
      'EINVAL',
      `cannot encode ${n} as JSON (Go's encoding/json refuses NaN and Infinity)`,
    );
  }
  if (Object.is(n, -0)) return '-0';
  // JavaScript's Number#toString uses the same thresholds and shortest digits as Go's
  // strconv.FormatFloat(f, 'f'/'e', -1, 64); both write exponents as e+21 / e-7.
  return String(n);
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function entriesOf(value: object, sortKeys: boolean): [string, unknown][] {
  const entries: [string, unknown][] =
    value instanceof Map
      ? [...(value as Map<unknown, unknown>)].map(([k, v]) => {
          if (typeof k !== 'string') {
            throw new BuilderError('EINVAL', `cannot encode a Map with a ${typeof k} key as JSON`);
          }
          return [k, v];
        })
      : Object.entries(value);
  const defined = entries.filter(([, v]) => v !== undefined);
  if (sortKeys) defined.sort(([a], [b]) => compareUtf8(a, b));
  return defined;
}

/** Go-compatible JSON text of `value`. Throws EINVAL for values JSON cannot hold. */
export function goJsonStringify(value: unknown, options: GoJsonOptions = {}): string {
  const indent = options.indent ?? '';
  const sortKeys = options.sortKeys ?? false;
  const seen = new Set<object>();

  const write = (v: unknown, depth: number): string => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
        return goJsonQuote(v);
      case 'number':
        return goNumber(v);
      case 'bigint':
        return v.toString();
      case 'boolean':
        return v ? 'true' : 'false';
      case 'object':
        break;
      default:
        throw new BuilderError('EINVAL', `cannot encode a ${typeof v} as JSON`);
    }
    const obj = v as object;
    if (obj instanceof Uint8Array) return goJsonQuote(Buffer.from(obj).toString('base64')); // Go []byte
    if (obj instanceof Date) return goJsonQuote(formatGoTime(obj));
    if (seen.has(obj)) throw new BuilderError('EINVAL', 'cannot encode a cyclic structure as JSON');
    seen.add(obj);
    try {
      const inner = indent === '' ? '' : `\n${indent.repeat(depth + 1)}`;
      const outer = indent === '' ? '' : `\n${indent.repeat(depth)}`;
      if (Array.isArray(obj)) {
        if (obj.length === 0) return '[]';
        const items = obj.map((item) => write(item === undefined ? null : item, depth + 1));
        return `[${inner}${items.join(`,${inner}`)}${outer}]`;
      }
      const entries = entriesOf(obj, sortKeys);
      if (entries.length === 0) return '{}';
      const colon = indent === '' ? ':' : ': ';
      const members = entries.map(([k, item]) => `${goJsonQuote(k)}${colon}${write(item, depth + 1)}`);
      return `{${inner}${members.join(`,${inner}`)}${outer}}`;
    } finally {
      seen.delete(obj);
    }
  };

  return write(value, 0);
}

/** Canonical JSON for hashing (cache keys): compact, every object's keys sorted, Go escaping. */
export function canonicalJson(value: unknown): string {
  return goJsonStringify(value, { sortKeys: true });
}

/** time.Time's JSON form: RFC 3339 with nanoseconds, trailing zeros (and a bare '.') dropped. */
export function formatGoTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new BuilderError('EINVAL', 'cannot encode an invalid Date');
  return date.toISOString().replace(/\.?0+Z$/, 'Z');
}

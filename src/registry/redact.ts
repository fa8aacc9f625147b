// Nothing secret leaves this module in a message or a log line: URLs lose their user info and
// any query value that is not a known-harmless registry parameter (redirects to object storage
// carry signatures; token realms may carry anything), and the headers that carry credentials
// are blanked.

const SAFE_QUERY = new Set(['scope', 'service', 'mount', 'from', 'digest', 'n', 'last', 'account']);
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

export const REDACTED = 'REDACTED';

/** The URL with user:password removed and unknown query values replaced. */
export function redactUrl(url: URL | string): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return '<invalid URL>';
  }
  u.username = '';
  u.password = '';
  const params = [...u.searchParams.entries()];
  if (params.length > 0) {
    const q = new URLSearchParams();
    for (const [k, v] of params) q.append(k, SAFE_QUERY.has(k.toLowerCase()) ? v : REDACTED);
    u.search = q.toString();
  }
  return u.toString();
}

/** A copy of the headers safe to log. */
export function redactHeaders(
  headers: Record<string, string | string[] | number | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = SECRET_HEADERS.has(k.toLowerCase()) ? REDACTED : Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** Removes every occurrence of each secret from `text` (a last line of defence for messages). */
export function scrub(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s !== undefined && s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}

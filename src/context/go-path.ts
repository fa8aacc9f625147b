// Go's path helpers, as the .dockerignore reader and pattern matcher apply them (Linux, so
// filepath and path agree). Lexical only: nothing here touches the file system.

/** Go's path.Clean: collapse `//`, drop `.` segments, resolve `..`, drop a trailing `/`. */
export function goClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(segment);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Go's path.Dir: everything before the last `/`, cleaned (`a/b/` → `a/b`, `a` → `.`). */
export function goDir(path: string): string {
  return goClean(path.slice(0, path.lastIndexOf('/') + 1));
}

/** Go's unicode.IsSpace, for one code point (JS `\s` also matches U+FEFF and misses U+0085). */
export function isGoSpace(ch: string): boolean {
  switch (ch) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case '\u0085':
    case '\u00a0':
    case '\u1680':
    case '\u2028':
    case '\u2029':
    case '\u202f':
    case '\u205f':
    case '\u3000':
      return true;
    default:
      return ch >= '\u2000' && ch <= '\u200a';
  }
}

/** Go's strings.TrimSpace. */
export function goTrimSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isGoSpace(text[start] as string)) start++;
  while (end > start && isGoSpace(text[end - 1] as string)) end--;
  return text.slice(start, end);
}

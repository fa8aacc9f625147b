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

export { trimGoSpace as goTrimSpace } from '../dockerfile/parser/go-strings.js';

// Turns an error into what the user reads: one line per cause, and for Dockerfile errors
// the file:line:column, the offending line and a caret under it, then a hint.

import { BuilderError, DockerfileError } from '../../errors.js';

export function renderError(err: unknown, options: { debug?: boolean } = {}): string {
  const out: string[] = [];
  if (err instanceof DockerfileError) {
    out.push(...renderDockerfileError(err));
  } else if (err instanceof Error) {
    out.push(`error: ${err.message}`);
  } else {
    out.push(`error: ${String(err)}`);
  }
  let cause = err instanceof Error ? err.cause : undefined;
  while (cause !== undefined) {
    out.push(`  caused by: ${cause instanceof Error ? cause.message : String(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  if (err instanceof BuilderError && err.hint) out.push(`hint: ${err.hint}`);
  if (options.debug && err instanceof Error && err.stack) out.push(err.stack);
  return `${out.join('\n')}\n`;
}

function renderDockerfileError(err: DockerfileError): string[] {
  const range = err.ranges[0];
  const file = err.file ?? 'Dockerfile';
  if (!range) return [`error: ${file}: ${err.message}`];
  const { line, character } = range.start;
  const out = [`error: ${file}:${line}:${character + 1}: ${err.message}`];
  if (err.source === undefined) return out;
  const lines = err.source.split('\n');
  const last = Math.min(Math.max(range.end.line, line), lines.length);
  const width = String(last).length;
  if (line > 1) out.push(` ${String(line - 1).padStart(width)} | ${lines[line - 2]}`);
  for (let n = line; n <= last; n++) out.push(` ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
  const text = lines[line - 1] ?? '';
  // Underline the range on its first line; at least one caret, never past the line's end.
  const endChar =
    range.end.line === line && range.end.character > character ? range.end.character : text.length;
  const carets = Math.max(1, Math.min(endChar, text.length) - character);
  out.push(` ${' '.repeat(width)} | ${' '.repeat(character)}${'^'.repeat(carets)}`);
  return out;
}

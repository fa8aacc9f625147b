// docker's --format handling (cli/command/formatter): `table …` renders a header from the same
// template and aligns the columns with tabwriter; `json` prints one JSON object per row; any
// other string is a Go template printed once per row. Literal `\t` and `\n` in the format
// become a tab and a newline.

import { parseTemplate } from './go-template.js';
import { tabwrite } from './tabwriter.js';

export function isTableFormat(format: string): boolean {
  return format.startsWith('table');
}

/** Renders `rows` with `format`; `headers` maps field names to column titles. */
export function renderFormat(
  format: string,
  rows: readonly object[],
  headers: Record<string, string>,
): string {
  const table = isTableFormat(format);
  let body = format === 'json' ? '{{json .}}' : table ? format.slice('table'.length) : format;
  body = body
    .replace(/^ +| +$/g, '')
    .replaceAll('\\t', '\t')
    .replaceAll('\\n', '\n');
  const template = parseTemplate(body);
  let text = '';
  for (const row of rows) text += `${template.execute(row)}\n`;
  if (!table) return text;
  const header = template.execute(headers, { header: true });
  return tabwrite(`${header}\n${text}`);
}

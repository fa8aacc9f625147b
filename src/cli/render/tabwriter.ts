// Go's text/tabwriter as docker's formatter configures it (minwidth 10, tabwidth 1, padding 3,
// padchar ' ', no flags): tab-terminated cells are aligned in column blocks, each column as wide
// as its widest cell plus 3, at least 10; the last cell of a line is not padded. Widths count
// Unicode code points, as Go counts runes.

export interface TabwriterOptions {
  minWidth?: number;
  padding?: number;
}

function width(text: string): number {
  return [...text].length;
}

export function tabwrite(text: string, options: TabwriterOptions = {}): string {
  const minWidth = options.minWidth ?? 10;
  const padding = options.padding ?? 3;
  const lines = text.split('\n').map((line) => line.split('\t'));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] as string[];
      let line = '';
      cells.forEach((cell, j) => {
        const w = widths[j];
        line += w === undefined ? cell : cell + ' '.repeat(Math.max(0, w - width(cell)));
      });
      out.push(line);
    }
  };

  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let current = line0; current < line1; current++) {
      if (column >= (lines[current] as string[]).length - 1) continue;
      writeLines(line0, current);
      line0 = current;
      let w = minWidth;
      for (; current < line1; current++) {
        const cells = lines[current] as string[];
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column] as string) + padding);
      }
      widths.push(w);
      format(line0, current);
      widths.pop();
      line0 = current;
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('\n');
}

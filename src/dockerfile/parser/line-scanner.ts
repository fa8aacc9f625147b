// Physical lines of a Dockerfile, each WITH its trailing `\n` (heredoc bodies keep them).
// Like BuildKit's 64 KiB scanner buffer, a line of more than 65535 UTF-8 bytes (newline not
// counted) ends the input; the parser turns that into an error once it has seen whether the
// file had instructions at all.

import { utf8Length } from './go-strings.js';

export const MAX_LINE_BYTES = 65535;

export class LineScanner {
  private pos = 0;
  private count = 0;
  private overLimit = false;

  constructor(private readonly text: string) {}

  /** The next line, or undefined at the end of input or at a line over the limit. */
  next(): string | undefined {
    if (this.overLimit || this.pos >= this.text.length) return undefined;
    const newline = this.text.indexOf('\n', this.pos);
    const end = newline < 0 ? this.text.length : newline + 1;
    const contentEnd = newline < 0 ? end : newline;
    const units = contentEnd - this.pos;
    // A UTF-16 unit is 1 to 3 UTF-8 bytes: only count bytes when the bounds do not decide.
    if (
      units > MAX_LINE_BYTES ||
      (units * 3 > MAX_LINE_BYTES && this.byteLength(contentEnd) > MAX_LINE_BYTES)
    ) {
      this.overLimit = true;
      return undefined;
    }
    const line = this.text.slice(this.pos, end);
    this.pos = end;
    this.count++;
    return line;
  }

  /** The 1-based number of the line that was over the limit, if input stopped at one. */
  get lineTooLong(): number | undefined {
    return this.overLimit ? this.count + 1 : undefined;
  }

  private byteLength(contentEnd: number): number {
    return utf8Length(this.text.slice(this.pos, contentEnd));
  }
}

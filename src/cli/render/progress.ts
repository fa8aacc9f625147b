// Renders build progress as BuildKit does: `plain` is line-oriented for CI logs; `tty`
// redraws a summary with a live tail of each running step's output.

import type { Writable } from 'node:stream';
import type { ProgressEvent } from '../../build/progress.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'quiet';

export interface ProgressRenderer {
  onEvent(e: ProgressEvent): void;
  /** Stops redrawing and prints the final state. */
  close(): void;
}

export function createProgressRenderer(
  mode: ProgressMode,
  out: Writable & { isTTY?: boolean; columns?: number },
): ProgressRenderer {
  const resolved = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
  if (resolved === 'quiet') return { onEvent() {}, close() {} };
  if (resolved === 'tty') return new TtyRenderer(out);
  return new PlainRenderer(out);
}

interface VertexView {
  id: number;
  name: string;
  started: number;
  ended?: number;
  status: ProgressEvent['status'];
  tail: string[];
  error?: string;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

class PlainRenderer implements ProgressRenderer {
  private readonly vertices = new Map<number, VertexView>();
  private last = 0;
  constructor(private readonly out: Writable) {}

  onEvent(e: ProgressEvent): void {
    let v = this.vertices.get(e.id);
    if (!v) {
      v = { id: e.id, name: e.name, started: e.time, status: 'started', tail: [] };
      this.vertices.set(e.id, v);
      this.write(e.id, `#${e.id} ${e.name}\n`);
    }
    if (e.log) {
      const at = ((e.time - v.started) / 1000).toFixed(3);
      for (const line of e.log.text.replace(/\n$/, '').split('\n'))
        this.write(e.id, `#${e.id} ${at} ${line}\n`);
    }
    if (e.status === 'cached') this.write(e.id, `#${e.id} CACHED\n`);
    if (e.status === 'done') this.write(e.id, `#${e.id} DONE ${seconds(e.time - v.started)}\n`);
    if (e.status === 'error') this.write(e.id, `#${e.id} ERROR: ${e.error ?? 'failed'}\n`);
  }

  private write(id: number, text: string): void {
    // A blank line when the output switches to another vertex, as BuildKit's plain mode.
    if (this.last !== 0 && this.last !== id) this.out.write('\n');
    this.last = id;
    this.out.write(text);
  }

  close(): void {
    if (this.last !== 0) this.out.write('\n');
  }
}

const TAIL_LINES = 6;

class TtyRenderer implements ProgressRenderer {
  private readonly vertices = new Map<number, VertexView>();
  private readonly start = Date.now();
  private drawnLines = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly out: Writable & { columns?: number }) {
    this.timer = setInterval(() => this.draw(false), 150);
    this.timer.unref();
  }

  onEvent(e: ProgressEvent): void {
    let v = this.vertices.get(e.id);
    if (!v) {
      v = { id: e.id, name: e.name, started: e.time, status: 'started', tail: [] };
      this.vertices.set(e.id, v);
    }
    if (e.log) {
      for (const line of e.log.text.replace(/\n$/, '').split('\n')) v.tail.push(line);
      if (v.tail.length > TAIL_LINES) v.tail.splice(0, v.tail.length - TAIL_LINES);
    }
    if (e.status !== 'started') {
      v.status = e.status;
      v.ended = e.time;
      if (e.error !== undefined) v.error = e.error;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.draw(true);
  }

  private draw(final: boolean): void {
    const width = Math.max(40, this.out.columns ?? 80);
    const now = Date.now();
    const all = [...this.vertices.values()];
    const completed = all.filter((v) => v.status !== 'started').length;
    const failed = all.some((v) => v.status === 'error');
    const lines = [
      `[+] Building ${seconds(now - this.start)} (${completed}/${all.length})${final ? (failed ? ' FAILED' : ' FINISHED') : ''}`,
    ];
    for (const v of all) {
      const prefix = v.status === 'cached' ? ' => CACHED ' : v.status === 'error' ? ' => ERROR ' : ' => ';
      const time = seconds((v.ended ?? now) - v.started);
      const room = width - time.length - 1;
      let label = `${prefix}${v.name}`;
      if (label.length > room) label = `${label.slice(0, room - 3)}...`;
      lines.push(`${label.padEnd(room)} ${time}`);
      // The live tail only while a step runs, and kept for a step that failed.
      if (v.status === 'started' || v.status === 'error') {
        for (const t of v.tail) lines.push(`${`\x1b[2m => => # ${t}`.slice(0, width + 4)}\x1b[0m`);
      }
      if (v.status === 'error' && v.error) lines.push(` => ERROR: ${v.error}`);
    }
    let text = '';
    if (this.drawnLines > 0) text += `\x1b[${this.drawnLines}A`;
    text += lines.map((l) => `\x1b[2K${l}\n`).join('');
    // Clear leftovers when the new frame is shorter than the old one.
    for (let i = lines.length; i < this.drawnLines; i++) text += '\x1b[2K\n';
    this.out.write(text);
    this.drawnLines = Math.max(lines.length, this.drawnLines);
  }
}

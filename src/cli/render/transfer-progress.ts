// Layer progress of pull and push, as docker shows it: in a terminal one line per layer,
// redrawn in place (`a1b2c3d4e5f6: Downloading [=====>      ]  1.2MB/3.4MB`); otherwise one
// plain line each time a layer changes state (CI logs). Config blobs are not shown (docker
// does not show them either).

import type { Writable } from 'node:stream';
import { shortDigest, type TransferEvent } from '../../registry/events.js';
import { humanSizeWithPrecision } from './units.js';

export type TransferMode = 'tty' | 'plain' | 'quiet';

export interface TransferRenderer {
  onEvent(e: TransferEvent): void;
  /** A line above the layers (or in sequence, in plain mode). */
  line(text: string): void;
  close(): void;
}

const LABEL: Record<TransferEvent['status'], string> = {
  waiting: 'Waiting',
  downloading: 'Downloading',
  complete: 'Pull complete',
  exists: 'Already exists',
  preparing: 'Preparing',
  pushing: 'Pushing',
  pushed: 'Pushed',
  mounted: 'Mounted',
  retrying: 'Retrying',
};

function label(e: TransferEvent, op: 'pull' | 'push'): string {
  if (e.status === 'exists' && op === 'push') return 'Layer already exists';
  if (e.status === 'waiting' && op === 'pull') return 'Pulling fs layer';
  if (e.status === 'mounted') return `Mounted from ${e.from ?? '?'}`;
  return LABEL[e.status];
}

function bar(current: number, total: number): string {
  const width = 50;
  const ratio = total > 0 ? Math.min(1, current / total) : 0;
  const filled = Math.floor(ratio * width);
  const arrow = filled < width ? '>' : '';
  const body = '='.repeat(filled) + arrow;
  return `[${body.padEnd(width).slice(0, width)}] ${humanSizeWithPrecision(current, 3)}/${humanSizeWithPrecision(total, 3)}`;
}

export function createTransferRenderer(
  out: Writable & { isTTY?: boolean },
  op: 'pull' | 'push',
  mode?: TransferMode,
): TransferRenderer {
  const resolved = mode ?? (out.isTTY ? 'tty' : 'plain');
  if (resolved === 'quiet') return { onEvent() {}, line() {}, close() {} };
  if (resolved === 'plain') {
    const last = new Map<string, string>();
    return {
      onEvent(e) {
        if (e.kind !== 'layer') return;
        if (e.status === 'downloading' || e.status === 'pushing') return; // no byte counts in logs
        const id = shortDigest(e.digest);
        const text = label(e, op);
        if (last.get(id) === text) return;
        last.set(id, text);
        out.write(`${id}: ${text}\n`);
      },
      line(text) {
        out.write(`${text}\n`);
      },
      close() {},
    };
  }
  const order: string[] = [];
  const state = new Map<string, string>();
  let drawn = 0;
  let dirty = false;
  const draw = () => {
    if (!dirty) return;
    dirty = false;
    let text = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const id of order) text += `\x1b[2K${id}: ${state.get(id) ?? ''}\n`;
    drawn = order.length;
    out.write(text);
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    onEvent(e) {
      if (e.kind !== 'layer') return;
      const id = shortDigest(e.digest);
      if (!state.has(id)) order.push(id);
      const text =
        (e.status === 'downloading' || e.status === 'pushing') && e.current !== undefined
          ? `${label(e, op).padEnd(12)}${bar(e.current, e.size)}`
          : label(e, op);
      state.set(id, text);
      dirty = true;
    },
    line(text) {
      draw();
      out.write(`${text}\n`);
      drawn = 0; // headers come before the layers, footers after close()
    },
    close() {
      clearInterval(timer);
      dirty = true;
      draw();
    },
  };
}

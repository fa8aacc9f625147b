// What the engine tells the outside world while it builds: data, not text. The CLI renders
// it (tty or plain); a library user may ignore it or log it.

export type VertexStatus = 'started' | 'cached' | 'done' | 'error';

export interface ProgressEvent {
  /** A stable id per vertex (step) of this build: 1, 2, 3… in order of first appearance. */
  id: number;
  /** BuildKit-style name: `[stage 2/5] RUN apt-get update`, `[internal] load build context`. */
  name: string;
  status: VertexStatus;
  /** Milliseconds since the epoch. */
  time: number;
  /** A line of output from the step (RUN stdout/stderr), or a sub-status line. */
  log?: { stream: 'stdout' | 'stderr' | 'status'; text: string };
  error?: string;
}

export type ProgressSink = (event: ProgressEvent) => void;

export const discardProgress: ProgressSink = () => {};

/** Hands out vertex ids and timestamps, so steps only say what happened. */
export class ProgressReporter {
  private next = 1;
  constructor(private readonly sink: ProgressSink = discardProgress) {}

  vertex(name: string): Vertex {
    return new Vertex(this.next++, name, this.sink);
  }
}

export class Vertex {
  private finished = false;
  constructor(
    readonly id: number,
    readonly name: string,
    private readonly sink: ProgressSink,
  ) {}

  start(): this {
    this.sink({ id: this.id, name: this.name, status: 'started', time: Date.now() });
    return this;
  }

  log(stream: 'stdout' | 'stderr' | 'status', text: string): void {
    this.sink({ id: this.id, name: this.name, status: 'started', time: Date.now(), log: { stream, text } });
  }

  cached(): void {
    this.end('cached');
  }

  done(): void {
    this.end('done');
  }

  fail(error: unknown): void {
    this.end('error', error instanceof Error ? error.message : String(error));
  }

  private end(status: VertexStatus, error?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.sink({
      id: this.id,
      name: this.name,
      status,
      time: Date.now(),
      ...(error === undefined ? {} : { error }),
    });
  }
}

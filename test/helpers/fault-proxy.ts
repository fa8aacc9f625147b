// A small HTTP proxy between the client and a real registry, on 127.0.0.1, that injects faults
// into the requests its rules match: an error status (500, 429 with Retry-After), a connection
// reset in the middle of an upload, a response body cut short, a body whose bytes were changed.
// Everything else is forwarded as it is (Host kept, so the registry's Location URLs point back
// at the proxy). Each rule fires a bounded number of times.

import http from 'node:http';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'reset-upload' }
  | { kind: 'truncate'; keep: number }
  | { kind: 'corrupt' };

export interface FaultRule {
  method: string;
  /** Tested against the request path (with query). */
  path: RegExp;
  fault: Fault;
  /** How many matching requests get the fault (then it stops). */
  times: number;
  /** Skip this many matching requests before the first fault. */
  skip?: number;
}

export interface FaultProxy {
  host: string;
  rules: FaultRule[];
  /** `METHOD path → fault kind` for every fault injected. */
  injected: string[];
  requests: number;
  close(): Promise<void>;
}

function reset(socket: Socket): void {
  const s = socket as Socket & { resetAndDestroy?: () => void };
  if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
  else socket.destroy();
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const rules: FaultRule[] = [];
  const injected: string[] = [];
  const seen = new Map<FaultRule, number>();
  const state = { requests: 0 };

  const pick = (req: http.IncomingMessage): FaultRule | undefined => {
    for (const rule of rules) {
      if (rule.method !== req.method || !rule.path.test(req.url ?? '')) continue;
      const n = seen.get(rule) ?? 0;
      seen.set(rule, n + 1);
      const skip = rule.skip ?? 0;
      if (n >= skip && n < skip + rule.times) return rule;
    }
    return undefined;
  };

  const forward = (req: http.IncomingMessage, onResponse: (up: http.IncomingMessage) => void) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      onResponse,
    );
    upstream.on('error', () => {});
    return upstream;
  };

  const server = http.createServer((req, res) => {
    state.requests++;
    const rule = pick(req);
    const fault = rule?.fault;
    if (fault !== undefined) injected.push(`${req.method} ${req.url} → ${fault.kind}`);

    if (fault?.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.headers ?? {}) });
      res.end(
        fault.body ??
          JSON.stringify({
            errors: [
              { code: fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN', message: 'injected fault' },
            ],
          }),
      );
      return;
    }
    if (fault?.kind === 'reset-upload') {
      // Pass the first piece of the body on, then break both connections mid-upload.
      const upstream = forward(req, (up) => up.resume());
      req.once('data', (chunk: Buffer) => {
        upstream.write(chunk);
        setTimeout(() => {
          upstream.destroy();
          reset(req.socket);
        }, 10);
      });
      return;
    }
    const upstream = forward(req, (up) => {
      if (fault?.kind === 'truncate') {
        res.writeHead(up.statusCode ?? 502, up.headers);
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (sent >= fault.keep) return;
          const part = chunk.subarray(0, fault.keep - sent);
          sent += part.byteLength;
          res.write(part);
          if (sent >= fault.keep) setTimeout(() => res.socket?.destroy(), 10);
        });
        up.on('end', () => res.socket?.destroy());
        return;
      }
      if (fault?.kind === 'corrupt') {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          if (body.byteLength > 0) body[body.byteLength - 1] = (body[body.byteLength - 1] as number) ^ 0xff;
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.headers);
      pipeline(up, res).catch(() => {});
    });
    pipeline(req, upstream).catch(() => {});
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  return {
    host: `127.0.0.1:${port}`,
    rules,
    injected,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

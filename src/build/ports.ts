// EXPOSE port specs (`80`, `8080/udp`, `1000-1002`, `[::1]:80:8080/tcp`) → `port/proto` keys,
// as docker's image config stores them.

import { BuilderError } from '../errors.js';

export function parsePortSpecs(specs: readonly string[]): string[] {
  return specs.flatMap(parsePortSpec);
}

function parsePortSpec(raw: string): string[] {
  const parts = raw.split(':');
  const containerPart = parts[parts.length - 1] as string;
  const hostPort = parts.length >= 2 ? (parts[parts.length - 2] as string) : '';
  let ip = parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
  const [port = '', protoRaw = ''] = splitOnce(containerPart, '/');
  if (port === '') throw invalid(`no port specified: ${containerPart}<empty>`);
  const proto = protoRaw.toLowerCase() || 'tcp';
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw invalid(`invalid proto: ${proto}`);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip !== '' && !isIp(ip)) throw invalid(`invalid IP address: ${ip}`);
  const range = parseRange(port);
  if (!range) throw invalid(`invalid containerPort: ${port}`);
  if (hostPort !== '') {
    const host = parseRange(hostPort);
    if (!host) throw invalid(`invalid hostPort: ${hostPort}`);
    if (range[1] - range[0] !== host[1] - host[0] && range[1] !== range[0]) {
      throw invalid(`invalid ranges specified for container and host Ports: ${port} and ${hostPort}`);
    }
  }
  const out: string[] = [];
  for (let p = range[0]; p <= range[1]; p++) out.push(`${p}/${proto}`);
  return out;
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i === -1 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function parseRange(text: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) return undefined;
  return [start, end];
}

function isIp(s: string): boolean {
  if (/^(\d{1,3})(\.\d{1,3}){3}$/.test(s)) return s.split('.').every((o) => Number(o) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(':');
}

function invalid(message: string): BuilderError {
  return new BuilderError('EINVAL', message, {
    hint: 'EXPOSE takes ports like 80, 8080/udp or 1000-1002/tcp.',
  });
}

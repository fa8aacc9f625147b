// What this host lets a container have. Raising an rlimit above our own hard limit needs
// CAP_SYS_RESOURCE, which root inside another container (or a sandbox) often lacks; the
// runtime then fails with "error setting rlimits … operation not permitted". We clamp.

import { readFileSync } from 'node:fs';
import type { RuntimeSpec } from './spec.js';

const CAP_SYS_RESOURCE = 24;

/** Whether this process has `capability` (a number from linux/capability.h) in its effective set. */
export function hasCapability(capability: number, status?: string): boolean {
  try {
    const text = status ?? readFileSync('/proc/self/status', 'utf8');
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1];
    if (hex === undefined) return false;
    return ((BigInt(`0x${hex}`) >> BigInt(capability)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** Hard limits of this process by rlimit name (RLIMIT_NOFILE…), from /proc/self/limits. */
export function hostHardLimits(limits?: string): Map<string, number> {
  const names: Record<string, string> = {
    'Max open files': 'RLIMIT_NOFILE',
    'Max processes': 'RLIMIT_NPROC',
    'Max core file size': 'RLIMIT_CORE',
    'Max locked memory': 'RLIMIT_MEMLOCK',
    'Max stack size': 'RLIMIT_STACK',
  };
  const out = new Map<string, number>();
  let text: string;
  try {
    text = limits ?? readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    for (const [label, name] of Object.entries(names)) {
      if (!line.startsWith(label)) continue;
      const hard = line.slice(label.length).trim().split(/\s+/)[1];
      if (hard !== undefined && hard !== 'unlimited' && /^\d+$/.test(hard)) out.set(name, Number(hard));
    }
  }
  return out;
}

/**
 * The spec with rlimits no higher than this process's hard limits, unless it holds
 * CAP_SYS_RESOURCE (then the runtime can raise them).
 */
export function clampRlimits(spec: RuntimeSpec, status?: string, limits?: string): RuntimeSpec {
  if (hasCapability(CAP_SYS_RESOURCE, status)) return spec;
  const hard = hostHardLimits(limits);
  const rlimits = spec.process.rlimits.map((r) => {
    const max = hard.get(r.type);
    if (max === undefined || r.hard <= max) return r;
    return { type: r.type, hard: max, soft: Math.min(r.soft, max) };
  });
  return { ...spec, process: { ...spec.process, rlimits } };
}

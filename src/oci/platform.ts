// The platform of the machine we run on, in OCI terms (GOARCH names), and platform matching for
// picking one manifest out of an index.

import type { Platform } from './types.js';

const ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le', // Node on Linux/ppc64 is little-endian only
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** `{os, architecture[, variant]}` of this process, as Go would name them. */
export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const platform: Platform = {
    architecture,
    os: process.platform === 'win32' ? 'windows' : process.platform,
  };
  if (architecture === 'arm') {
    const v = Number((process.config.variables as { arm_version?: string }).arm_version ?? '7');
    platform.variant = `v${Number.isFinite(v) ? v : 7}`;
  }
  return platform;
}

/** True when `candidate` can run where `want` is asked for (os and architecture equal; variant when both say). */
export function platformMatches(candidate: Platform | undefined, want: Platform): boolean {
  if (candidate === undefined) return false;
  if (candidate.os !== want.os || candidate.architecture !== want.architecture) return false;
  if (want.variant !== undefined && candidate.variant !== undefined && want.variant !== candidate.variant)
    return false;
  return true;
}

/** `linux/amd64`, `linux/arm/v7`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

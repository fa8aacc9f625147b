// A runtime that passed its probe is remembered until reboot for the same binary and kernel:
// a probe runs a container (runc: 60-100 ms, the native launcher: 20-27 ms), which every
// build that runs a step would otherwise pay. A failure is never remembered.

import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { dirname } from 'node:path';

async function memoKey(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => undefined);
  return st ? `${path} ${st.size} ${st.mtimeMs} ${release()}` : undefined;
}

/** What `memoFile` remembers, if its binary is unchanged and `valid` agrees. */
export async function recall<T extends { path: string }>(
  memoFile: string,
  valid: (info: T) => boolean,
): Promise<T | undefined> {
  try {
    const memo = JSON.parse(await readFile(memoFile, 'utf8')) as { key: string; info: T };
    if (memo.key === (await memoKey(memo.info.path)) && valid(memo.info)) return memo.info;
  } catch {
    // no memo, or an unreadable one: probe
  }
  return undefined;
}

/** Remembers `info` (a runtime that just passed its probe) in `memoFile`. */
export async function remember<T extends { path: string }>(memoFile: string, info: T): Promise<void> {
  const key = await memoKey(info.path);
  if (key === undefined) return;
  await mkdir(dirname(memoFile), { recursive: true });
  const tmp = `${memoFile}.${process.pid}`;
  await writeFile(tmp, JSON.stringify({ key, info }));
  await rename(tmp, memoFile);
}

// What runc puts in a container's /dev (a fresh tmpfs): the standard character devices and
// the symlinks into /proc and /dev/pts. The chroot isolation and the native launcher make
// the same.

export interface DevNode {
  name: string;
  major: number;
  minor: number;
}

/** Character devices, mode 0666. */
export const DEV_NODES: readonly DevNode[] = Object.freeze([
  { name: 'null', major: 1, minor: 3 },
  { name: 'zero', major: 1, minor: 5 },
  { name: 'full', major: 1, minor: 7 },
  { name: 'random', major: 1, minor: 8 },
  { name: 'urandom', major: 1, minor: 9 },
  { name: 'tty', major: 5, minor: 0 },
]);

/** [name in /dev, link target]. */
export const DEV_LINKS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
  ['ptmx', 'pts/ptmx'],
]);

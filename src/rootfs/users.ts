// Names in an image's /etc/passwd and /etc/group → numeric ids, as docker resolves USER and
// --chown. The files are read through the rootfs with symlinks kept inside it.

import { readFile } from 'node:fs/promises';
import { BuilderError } from '../errors.js';
import { secureJoin } from '../runtime/secure-join.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** Resolves `user[:group]` through the rootfs's /etc/passwd and /etc/group, as docker does. */
export async function resolveOwner(rootfs: string, spec: string): Promise<Owner> {
  const [user = '', group] = spec.split(':', 2);
  const readDb = async (file: string) => {
    try {
      return (await readFile(await secureJoin(rootfs, file), 'utf8')).split('\n').map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  let uid: number;
  let primaryGid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
  } else {
    const entry = (await readDb('/etc/passwd')).find((f) => f[0] === user);
    if (!entry) {
      throw new BuilderError('EINVAL', `unable to find user ${user}: no matching entries in passwd file`, {
        hint: 'Use a numeric uid, or create the user in an earlier step (RUN useradd …).',
      });
    }
    uid = Number(entry[2]);
    primaryGid = Number(entry[3]);
  }
  let gid: number;
  if (group === undefined || group === '') {
    gid = primaryGid ?? uid;
  } else if (/^\d+$/.test(group)) {
    gid = Number(group);
  } else {
    const entry = (await readDb('/etc/group')).find((f) => f[0] === group);
    if (!entry) {
      throw new BuilderError('EINVAL', `unable to find group ${group}: no matching entries in group file`, {
        hint: 'Use a numeric gid, or create the group in an earlier step.',
      });
    }
    gid = Number(entry[2]);
  }
  return { uid, gid };
}

// Crash safety: `strata import -` of a 200 MB layer, streamed slowly into the built CLI, is
// killed with SIGKILL mid-way (while its temp file under content/ingest grows). The store must
// then be clean for `system check`: no blob, image or name appeared, and it still works.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEntryHeader } from '../../src/archive/tar-writer.js';
import { repoRoot } from '../helpers/conformance.js';
import { tarBytes } from '../helpers/image-fixtures.js';
import { makeTempDir } from '../helpers/tmp-dir.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const FILE_SIZE = 200 * 1024 * 1024;
const KILL_AFTER = 48 * 1024 * 1024;

function strata(root: string, args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, STRATA_ROOT: root },
    input,
    encoding: 'utf8',
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

async function ingestBytes(root: string): Promise<number> {
  const dir = join(root, 'content', 'ingest');
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

describe('kill -9 during import', () => {
  it('leaves a store that system check finds clean', async () => {
    assert.ok(existsSync(CLI), `the built CLI is missing (${CLI}): run npm run build first`);
    const tmp = await makeTempDir('strata-kill-');
    try {
      const root = join(tmp.path, 'store');
      const child = spawn(process.execPath, [CLI, 'import', '-', 'big:1'], {
        env: { ...process.env, STRATA_ROOT: root },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      child.stdin.on('error', () => {}); // EPIPE once it is killed
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });

      const write = (chunk: Buffer) =>
        new Promise<void>((resolve) => {
          if (child.stdin.write(chunk)) resolve();
          else child.stdin.once('drain', () => resolve());
        });
      await write(
        encodeEntryHeader({
          path: 'big.bin',
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          size: FILE_SIZE,
          mtime: 0,
        }),
      );
      const chunk = Buffer.alloc(1024 * 1024);
      let sent = 0;
      let killed = false;
      while (sent < FILE_SIZE && child.exitCode === null) {
        for (let i = 0; i < chunk.length; i += 8) chunk.writeUInt32LE((sent + i) >>> 0, i);
        await write(chunk);
        sent += chunk.length;
        await sleep(2); // slowly
        if (sent >= KILL_AFTER && (await ingestBytes(root)) > 1024 * 1024) {
          child.kill('SIGKILL');
          killed = true;
          break;
        }
      }
      const result = await exited;
      assert.ok(killed, `the import ended before it could be killed (${JSON.stringify(result)}): ${stderr}`);
      assert.equal(result.signal, 'SIGKILL');
      assert.ok((await ingestBytes(root)) > 0, 'the kill left a partial temp file behind');

      const check = strata(root, ['system', 'check']);
      assert.equal(check.status, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /checked 0 blobs .*0 names, 0 images: no problems found/);
      assert.match(check.stdout, /unfinished writes/);
      assert.equal(strata(root, ['images', '-q']).stdout, '');
      assert.deepEqual(await readdir(join(root, 'content', 'blobs', 'sha256')).catch(() => []), []);

      // The store still works after the crash.
      const small = await tarBytes([{ path: 'ok.txt', body: 'ok' }]);
      assert.equal(strata(root, ['import', '-', 'small:1'], small).status, 0);
      const again = strata(root, ['system', 'check']);
      assert.equal(again.status, 0, again.stdout + again.stderr);
      assert.match(again.stdout, /1 names, 1 images: no problems found/);
    } finally {
      await tmp.cleanup();
    }
  });
});

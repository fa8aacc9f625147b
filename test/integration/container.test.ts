// `strata run`, `ps`, `logs`, `stop`, `rm` through the built CLI, on a busybox image built
// FROM scratch: entrypoint/cmd as docker combines them, exit codes, env/user/workdir flags,
// detached containers that can be listed, read and stopped, and nothing left mounted.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI_LAUNCHER } from '../helpers/cli-paths.js';
import { repoRoot } from '../helpers/conformance.js';
import { makeBusyboxRootfs, mountsBelow, runtimeOrReason, skipIf } from './prereqs.js';

const exec = promisify(execFile);
const runtime = await runtimeOrReason();
const reason = typeof runtime === 'string' ? runtime : undefined;
// The CLI as users run it (the bundle behind its code-cache launcher), and as compiled by tsc:
// the detached supervisor is the CLI started again by its own script, so both are tried.
const TSC_CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

describe('containers: strata run, ps, logs, stop, rm', { concurrency: false }, () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  const strataAt = async (cli: string, ...args: string[]) => {
    try {
      const { stdout, stderr } = await exec(process.execPath, [cli, ...args], { env, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof e.code === 'number' ? e.code : 1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      };
    }
  };
  const strata = (...args: string[]) => strataAt(CLI_LAUNCHER, ...args);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-containers-'));
    env = { ...process.env, STRATA_ROOT: join(root, 'store'), XDG_CACHE_HOME: join(root, 'cache') };
    if (reason) return;
    const ctx = join(root, 'ctx');
    await makeBusyboxRootfs(join(ctx, 'rootfs'));
    await writeFile(
      join(ctx, 'Dockerfile'),
      'FROM scratch\nCOPY rootfs/ /\nENV GREETING=hello\nWORKDIR /srv\nENTRYPOINT ["sh", "-c"]\nCMD ["echo $GREETING from $(pwd) as $(id -u)"]\n',
    );
    const built = await strata('build', '-q', '-t', 'box:1', ctx);
    assert.equal(built.code, 0, built.stderr);
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('the image entrypoint and cmd run; arguments replace CMD; flags override env, user and workdir', async (t) => {
    if (skipIf(t, reason)) return;
    const plain = await strata('run', '--rm', 'box:1');
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'hello from /srv as 0\n');
    const args = await strata(
      'run',
      '--rm',
      '-e',
      'GREETING=bonjour',
      '-u',
      '1000',
      '-w',
      '/tmp',
      'box:1',
      'echo $GREETING from $(pwd) as $(id -u)',
    );
    assert.equal(args.stdout, 'bonjour from /tmp as 1000\n');
    const entry = await strata('run', '--rm', '--entrypoint', '/bin/echo', 'box:1', 'direct');
    assert.equal(entry.stdout, 'direct\n');
  });

  test('the exit code of the process is the exit code of strata run', async (t) => {
    if (skipIf(t, reason)) return;
    const r = await strata('run', '--rm', 'box:1', 'exit 42');
    assert.equal(r.code, 42);
    const missing = await strata('run', '--rm', '--entrypoint', '/no/such/binary', 'box:1');
    assert.equal(missing.code, 127);
    const noImage = await strata('run', '--rm', 'nope:latest');
    assert.notEqual(noImage.code, 0);
    assert.match(noImage.stderr, /nope/);
  });

  for (const [how, cli, name] of [
    ['the bundle', CLI_LAUNCHER, 'web'],
    ['dist/src/cli/main.js', TSC_CLI, 'web2'],
  ] as const) {
    test(`a detached container started by ${how} is listed, its output read, then stopped and removed`, async (t) => {
      if (skipIf(t, reason)) return;
      await detachedLifecycle(cli, name);
    });
  }

  async function detachedLifecycle(cli: string, name: string): Promise<void> {
    const started = await strataAt(
      cli,
      'run',
      '-d',
      '--name',
      name,
      'box:1',
      'echo ready; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done',
    );
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout.trim(), /^[0-9a-f]{64}$/);
    const ps = await strata('ps');
    assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/m);
    assert.match(ps.stdout, new RegExp(`box:1 .* Up .* ${name}$`, 'm'));
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('ready'); i++) {
      logs = (await strata('logs', name)).stdout;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(logs, 'ready\n');
    const stopped = await strata('stop', name);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match((await strata('logs', name)).stdout, /bye/);
    const all = await strata('ps', '-a');
    assert.match(all.stdout, new RegExp(`Exited \\(0\\).* ${name}$`, 'm'));
    assert.equal(
      (await strata('ps')).stdout.split('\n').filter(Boolean).length,
      1,
      'only the header once it stopped',
    );
    const refused = await strata('rmi', 'box:1');
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /conflict: unable to remove repository reference "box:1" \(must force\) - container [0-9a-f]{12} is using/,
    );
    const removed = await strata('rm', name);
    assert.equal(removed.code, 0, removed.stderr);
    assert.doesNotMatch((await strata('ps', '-a')).stdout, new RegExp(name));
    assert.deepEqual(mountsBelow(root), []);
  }

  test('-t gives the process a terminal; -i feeds it stdin', async (t) => {
    if (skipIf(t, reason)) return;
    if (!existsSync('/usr/bin/script')) {
      skipIf(t, 'no script(1) (util-linux) to provide a terminal');
      return;
    }
    // script(1) gives strata a controlling terminal, as a user's shell would.
    const { stdout } = await exec(
      '/usr/bin/script',
      ['-qec', `${process.execPath} ${CLI_LAUNCHER} run --rm -t box:1 tty`, '/dev/null'],
      { env, timeout: 60_000 },
    );
    assert.match(stdout, /\/dev\/pts\/\d+/);
    const piped = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI_LAUNCHER, 'run', '--rm', '-i', 'box:1', 'tr a-z A-Z'], {
        env,
      });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('error', reject);
      child.on('close', () => resolve(out));
      child.stdin.end('shout\n');
    });
    assert.equal(piped, 'SHOUT\n');
  });
});

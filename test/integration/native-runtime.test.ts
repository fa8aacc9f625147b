// The native launcher judged by runc: the same spec run by both over the same busybox rootfs
// must show the process the same world (user, groups, capabilities, rlimits, hostname, /dev,
// mounts and their flags, masked and read-only paths, device rules, pid namespace, network
// namespace) and end the same way (exit codes, signals, an executable that is missing or
// cannot be run). A few expectations are also stated outright, so both being wrong the same
// way fails too.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  generateSpec,
  isRunStepError,
  type RuntimeInfo,
  runContainer,
  type SpecOptions,
} from '../../src/runtime/index.js';
import { type NativeProbe, probeNativeRuntime, runNative } from '../../src/runtime/native-runtime.js';
import {
  builderUntilUp,
  makeBusyboxRootfs,
  mountsBelow,
  runtimeOrReason,
  skipIf,
  tempRoot,
} from './prereqs.js';

const runc = await runtimeOrReason();
const native: NativeProbe = await probeNativeRuntime();

function reason(): string | undefined {
  if (typeof runc === 'string') return runc;
  if (!native.ok) return `the native launcher does not work here: ${native.reason}`;
  return undefined;
}

interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  error?: string;
}

async function both(
  rootfs: string,
  work: string,
  options: SpecOptions,
): Promise<{ runc: Outcome; native: Outcome }> {
  const spec = generateSpec(options);
  const collect = async (run: (out: (c: Buffer) => void, err: (c: Buffer) => void) => Promise<number>) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const outcome: Outcome = { exitCode: -1, stdout: '', stderr: '' };
    try {
      outcome.exitCode = await run(
        (c) => out.push(c),
        (c) => err.push(c),
      );
    } catch (e) {
      outcome.error = isRunStepError(e) ? `exit ${e.exitCode}: ${e.runtimeMessage ?? ''}` : String(e);
      if (isRunStepError(e) && e.exitCode !== undefined) outcome.exitCode = e.exitCode;
    }
    outcome.stdout = Buffer.concat(out).toString();
    outcome.stderr = Buffer.concat(err).toString();
    return outcome;
  };
  const viaRunc = await collect(async (stdout, stderr) => {
    const r = await runContainer({
      runtime: runc as RuntimeInfo,
      bundleDir: join(work, 'bundle'),
      rootfs,
      spec,
      stdio: { stdout, stderr },
      reject: false,
      forwardSignals: false,
    });
    return r.exitCode;
  });
  const viaNative = await collect(async (stdout, stderr) => {
    const r = await runNative({
      runtime: native as Extract<NativeProbe, { ok: true }>,
      rootfs,
      spec,
      logDir: join(work, 'logs'),
      stdio: { stdout, stderr },
      reject: false,
      forwardSignals: false,
    });
    return r.exitCode;
  });
  return { runc: viaRunc, native: viaNative };
}

async function withRootfs(
  t: TestContext,
  fn: (rootfs: string, work: string) => Promise<void>,
): Promise<void> {
  if (skipIf(t, reason())) return;
  const tmp = await tempRoot('strata-native-');
  try {
    const rootfs = join(tmp.path, 'rootfs');
    await mkdir(rootfs);
    await makeBusyboxRootfs(rootfs);
    await fn(rootfs, tmp.path);
    assert.deepEqual(mountsBelow(tmp.path), [], 'nothing stays mounted');
  } finally {
    await tmp.cleanup();
  }
}

// What a process can see of its container; times and inode numbers left out.
const WORLD = [
  'echo "pid $$"',
  'id',
  'hostname',
  'echo "umask $(umask)"',
  'echo "cwd $(pwd)"',
  'ulimit -n',
  "grep -E '^(Cap|NoNewPrivs)' /proc/self/status",
  'env | sort',
  // mount point, filesystem, per-mount flags
  "awk '{print $5, $(NF-2), $6}' /proc/self/mountinfo | sed -E 's/,?(relatime|noatime|strictatime)//g' | sort",
  "for f in /dev/* /dev/pts/*; do stat -c '%n %F %a %t:%T' $f; done",
  'for l in fd stdin stdout stderr ptmx core; do echo "$l -> $(readlink /dev/$l)"; done',
  'echo "keys $(wc -c < /proc/keys)"',
  'echo "acpi $(ls -A /proc/acpi 2>&1 | wc -l)"',
  'touch /proc/sys/kernel/x 2>/dev/null && echo "proc/sys writable" || echo "proc/sys read-only"',
  'echo > /proc/sysrq-trigger 2>/dev/null && echo "sysrq writable" || echo "sysrq read-only"',
  'touch /sys/x 2>/dev/null && echo "sys writable" || echo "sys read-only"',
  'head -c 4 /dev/zero | wc -c',
  'echo hi > /dev/null && echo "null ok"',
  // The device rules: making a block device is allowed, reading the host's disk is not.
  'mknod /tmp/blk b 8 0 && (head -c 1 /tmp/blk >/dev/null 2>&1 && echo "blk readable" || echo "blk denied"); rm -f /tmp/blk',
  'mknod /tmp/mem c 1 1 && (head -c 1 /tmp/mem >/dev/null 2>&1 && echo "mem readable" || echo "mem denied"); rm -f /tmp/mem',
  'ls /sys/class/net | sort | tr "\\n" " "; echo',
  'cat /sys/class/net/lo/operstate 2>/dev/null; cat /sys/class/net/lo/flags',
].join('\n');

const BIND_OPTS = (work: string) => ({
  binds: [
    { source: join(work, 'hosts'), destination: '/etc/hosts', readonly: true },
    { source: join(work, 'shared'), destination: '/mnt/shared' },
  ],
  mounts: [
    { destination: '/cache', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1m'] },
  ],
});

test('native launcher and runc: the same world inside', async (t) => {
  await withRootfs(t, async (rootfs, work) => {
    await writeFile(join(work, 'hosts'), '127.0.0.1 judge\n');
    await mkdir(join(work, 'shared'));
    await writeFile(join(work, 'shared', 'f'), 'shared');
    const cases: Array<[string, SpecOptions]> = [
      ['root, defaults', { args: ['sh', '-c', WORLD], ...BIND_OPTS(work) }],
      [
        'a user with groups, a umask, a hostname, a working dir, its own network, no new privileges',
        {
          args: [
            'sh',
            '-c',
            `${WORLD}\ncat /etc/hosts /mnt/shared/f; echo x > /mnt/shared/g; echo x > /etc/hosts || echo "hosts ro"`,
          ],
          user: { uid: 1000, gid: 1000, additionalGids: [5, 7], umask: 0o027 },
          hostname: 'judged',
          cwd: '/tmp/work/here',
          network: 'none',
          noNewPrivileges: true,
          env: ['A=1', 'B=two words', 'PATH=/bin'],
          nofile: { soft: 1024, hard: 4096 },
          ...BIND_OPTS(work),
        },
      ],
      ['extra capabilities', { args: ['sh', '-c', WORLD], capabilities: ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'] }],
      [
        'a read-only root',
        {
          args: ['sh', '-c', 'touch /x 2>&1; echo "rc $?"; touch /tmp/x 2>&1; echo "rc $?"'],
          readonlyRootfs: true,
        },
      ],
    ];
    for (const [name, options] of cases) {
      const r = await both(rootfs, work, options);
      assert.equal(r.runc.error, undefined, `${name}: runc: ${r.runc.error} ${r.runc.stderr}`);
      assert.equal(r.native.exitCode, r.runc.exitCode, `${name}: exit code`);
      assert.equal(r.native.stdout, r.runc.stdout, `${name}: what the process sees`);
      assert.equal(r.native.stderr, r.runc.stderr, `${name}: stderr`);
    }
    // Stated outright, for the first case (both agreeing on something wrong fails here).
    const first = await both(rootfs, work, { args: ['sh', '-c', WORLD], ...BIND_OPTS(work) });
    const out = first.native.stdout;
    assert.match(out, /^pid 1$/m);
    assert.match(out, /^uid=0\(root\) gid=0\(root\)/m);
    assert.match(out, /^CapEff:\s+00000000a80425fb$/m, "Docker's default capabilities");
    assert.match(out, /^CapBnd:\s+00000000a80425fb$/m);
    assert.match(out, /^keys 0$/m, '/proc/keys masked');
    assert.match(out, /^\/sys\/firmware tmpfs ro$/m, '/sys/firmware masked');
    assert.match(out, /^proc\/sys read-only$/m);
    assert.match(out, /^sys read-only$/m);
    assert.match(out, /^blk denied$/m);
    assert.match(out, /^mem denied$/m);
    assert.match(out, /^null ok$/m);
    assert.match(out, /^\/dev\/null character special file 666 1:3$/m);
    assert.match(out, /^\/etc\/hosts \S+ ro$/m);
    assert.match(out, /^\/cache tmpfs rw,nosuid,nodev/m);
    // The mount points runc and the launcher needed are gone from the rootfs again.
    assert.deepEqual((await readdir(rootfs)).sort(), ['bin', 'dev', 'etc', 'proc', 'root', 'sys', 'tmp']);
    assert.ok(!existsSync(join(rootfs, 'mnt')), 'the /mnt/shared stub is removed');
  });
});

test('native launcher and runc: exit codes, signals, executables that cannot run', async (t) => {
  await withRootfs(t, async (rootfs, work) => {
    await writeFile(join(rootfs, 'bin', 'noexec'), '#!/bin/sh\necho no\n');
    await chmod(join(rootfs, 'bin', 'noexec'), 0o644);
    await writeFile(join(rootfs, 'bin', 'badformat'), 'not a program');
    await chmod(join(rootfs, 'bin', 'badformat'), 0o755);
    const cases: Array<[string, string[], number]> = [
      ['exit 3', ['sh', '-c', 'exit 3'], 3],
      // pid 1 ignores even SIGKILL from inside its namespace: a child is killed instead.
      ['a child killed by SIGKILL', ['sh', '-c', 'sh -c "kill -9 \\$\\$"; exit $?'], 137],
      [
        'init killed by SIGTERM',
        ['sh', '-c', 'trap - TERM; sh -c "kill -TERM 1"; sleep 1; echo survived'],
        0,
      ],
      ['a background child outlives nothing', ['sh', '-c', 'sleep 100 & echo started'], 0],
      ['not on PATH', ['no-such-program'], 127],
      ['absent path', ['/bin/absent'], 127],
      ['not executable', ['/bin/noexec'], 126],
      // Looked up in PATH, a file that is not executable is passed over (Go's LookPath).
      ['not executable, by PATH', ['noexec'], 127],
      // runc 1.1 finds this only at execve(2), in its init: exit 1 and a line on stderr.
      ['exec format error', ['/bin/badformat'], 1],
      ['a directory', ['/tmp'], 126],
    ];
    for (const [name, args, code] of cases) {
      const r = await both(rootfs, work, { args });
      assert.equal(
        r.runc.exitCode,
        code,
        `${name}: runc (${r.runc.error ?? ''} ${r.runc.stdout} ${r.runc.stderr})`,
      );
      assert.equal(r.native.exitCode, code, `${name}: native (${r.native.error ?? ''})`);
      assert.equal(r.native.stdout, r.runc.stdout, `${name}: stdout`);
      // runc also prints its own errors (those that give 126/127) on stderr; we only log them.
      if (code !== 126 && code !== 127) assert.equal(r.native.stderr, r.runc.stderr, `${name}: stderr`);
      else {
        await assert.rejects(
          runNative({
            runtime: native as Extract<NativeProbe, { ok: true }>,
            rootfs,
            spec: generateSpec({ args }),
            logDir: join(work, 'logs'),
            forwardSignals: false,
          }),
          (err) => isRunStepError(err) && err.exitCode === code && /^exec: "/.test(err.runtimeMessage ?? ''),
          `${name}: the reason`,
        );
      }
    }
  });
});

test('native launcher: a canceled run ends the container, and its sleeping children', async (t) => {
  await withRootfs(t, async (rootfs, work) => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('canceled')), 300);
    await assert.rejects(
      runNative({
        runtime: native as Extract<NativeProbe, { ok: true }>,
        rootfs,
        spec: generateSpec({ args: ['sh', '-c', 'trap "exit 5" TERM; sleep 1000 & wait'] }),
        logDir: join(work, 'logs'),
        signal: controller.signal,
        forwardSignals: false,
      }),
      (err) => isRunStepError(err) && err.isCanceled === true,
    );
    assert.ok(Date.now() - started < 4000, 'SIGTERM reached the container init');
    await rm(join(work, 'logs'), { recursive: true, force: true });
  });
});

test('native launcher: when the builder is SIGKILLed mid-step, its container dies with it', async (t) => {
  await withRootfs(t, async (rootfs, work) => {
    const url = new URL('../../src/runtime/native-runtime.js', import.meta.url).href;
    const specUrl = new URL('../../src/runtime/spec.js', import.meta.url).href;
    // A sleep no other process on this machine has.
    const seconds = String(4000 + Math.floor(Math.random() * 1000));
    const script = `
      import { probeNativeRuntime, runNative } from ${JSON.stringify(url)};
      import { generateSpec } from ${JSON.stringify(specUrl)};
      const runtime = await probeNativeRuntime();
      await runNative({
        runtime,
        rootfs: ${JSON.stringify(rootfs)},
        spec: generateSpec({ args: ['/bin/sh', '-c', 'echo up; sleep ${seconds}; true'] }),
        logDir: ${JSON.stringify(join(work, 'logs'))},
        stdio: { stdout: 'inherit' },
      });
    `;
    const child = await builderUntilUp(script);
    const sleepers = async (): Promise<number> => {
      let n = 0;
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline === `sleep\0${seconds}\0`) n++;
      }
      return n;
    };
    try {
      // "up" is printed before the shell starts the sleep: wait for it to exist.
      let running = await sleepers();
      for (let i = 0; i < 40 && running === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        running = await sleepers();
      }
      assert.equal(running, 1, 'the step is running');
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      let left = 1;
      for (let i = 0; i < 40 && left > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        left = await sleepers();
      }
      assert.equal(left, 0, 'the launcher and the container went with the builder');
    } finally {
      // Should they have survived: the launcher, the shell and the sleep all name the sleep.
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(`sleep ${seconds}`) || cmdline === `sleep\0${seconds}\0`) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
    }
  });
});

// Containers for real: runc over overlay snapshots of a busybox rootfs, the way a RUN step
// will use them, and the chroot isolation doing the same basic flow.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { BuilderError } from '../../src/errors.js';
import {
  generateSpec,
  isRunStepError,
  listContainers,
  RunStepError,
  type RuntimeInfo,
  runChroot,
  runContainer,
  type SpecOptions,
} from '../../src/runtime/index.js';
import {
  CopySnapshotter,
  OverlaySnapshotter,
  type Snapshotter,
  withMounted,
} from '../../src/snapshot/index.js';
import {
  builderUntilUp,
  chrootReason,
  makeBusyboxRootfs,
  mountsBelow,
  overlayReason,
  runtimeOrReason,
  skipIf,
  tempRoot,
} from './prereqs.js';
import { summarize } from './snapshotter-suite.js';

/** The step of the brief: create, delete a file, delete a whole dir, replace a dir, add one. */
const STEP_SCRIPT = [
  'echo hi > /new',
  'rm /etc/old',
  'rm -r /dir',
  'mkdir /dir2',
  'rm -r /d3',
  'mkdir /d3',
  'echo n > /d3/n',
].join('; ');

interface Env {
  root: string;
  state: string;
  snapshotter: Snapshotter;
  hosts: string;
  resolv: string;
}

/** A temp store with a committed busybox base (plus the files the step will change). */
async function withBase(
  t: TestContext,
  kind: 'overlay' | 'copy',
  reasons: Array<string | undefined>,
  fn: (env: Env) => Promise<void>,
): Promise<void> {
  if (
    skipIf(
      t,
      reasons.find((r) => r !== undefined),
    )
  )
    return;
  const tmp = await tempRoot(`strata-rt-${kind}-`);
  try {
    const root = tmp.path;
    const snapshotter = kind === 'overlay' ? new OverlaySnapshotter(root) : new CopySnapshotter(root);
    await snapshotter.prepare('unpack');
    const dir = (await snapshotter.stat('unpack')).dir;
    await makeBusyboxRootfs(dir);
    await writeFile(join(dir, 'etc', 'old'), 'old');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'dir', 'sub'), { recursive: true });
    await writeFile(join(dir, 'dir', 'sub', 'f'), 'f');
    await mkdir(join(dir, 'd3'));
    await writeFile(join(dir, 'd3', 'keep'), 'k');
    await snapshotter.commit('base', 'unpack');
    const hosts = join(root, 'hosts');
    const resolv = join(root, 'resolv.conf');
    await writeFile(hosts, '127.0.0.1 localhost\n');
    await writeFile(resolv, 'nameserver 127.0.0.1\n');
    await fn({ root, state: join(root, 'runc-state'), snapshotter, hosts, resolv });
  } finally {
    await tmp.cleanup();
  }
}

function spec(env: Env, options: Partial<SpecOptions> & { args: string[] }): ReturnType<typeof generateSpec> {
  return generateSpec({
    binds: [
      { source: env.hosts, destination: '/etc/hosts', readonly: true },
      { source: env.resolv, destination: '/etc/resolv.conf', readonly: true },
    ],
    ...options,
  });
}

/** Runs one command on a fresh snapshot of base with runc; returns stdout and the changes. */
async function runStep(
  env: Env,
  runtime: RuntimeInfo,
  key: string,
  options: Partial<SpecOptions> & { args: string[] },
  extra: {
    signal?: AbortSignal;
    onStdout?: (chunk: Buffer) => void;
    reject?: boolean;
    killGraceMs?: number;
  } = {},
): Promise<{ stdout: string; exitCode: number; id: string }> {
  const mounts = await env.snapshotter.prepare(key, ['base']);
  let stdout = '';
  const result = await withMounted(mounts, join(env.root, 'mnt', key), (rootfs) =>
    runContainer({
      runtime,
      bundleDir: join(env.root, 'bundles', key),
      rootfs,
      spec: spec(env, options),
      stateRoot: env.state,
      stdio: {
        stdout: (chunk) => {
          stdout += chunk.toString();
          extra.onStdout?.(chunk);
        },
      },
      ...(extra.signal ? { signal: extra.signal } : {}),
      ...(extra.reject === undefined ? {} : { reject: extra.reject }),
      killGraceMs: extra.killGraceMs ?? 1000,
    }),
  );
  return { stdout, exitCode: result.exitCode, id: result.id };
}

/**
 * `runtime` behind a script that logs each invocation's arguments; with `detach`, `run`
 * returns once the container started and leaves its state behind, as if the runtime had
 * not cleaned up after itself.
 */
async function loggingRuntime(
  env: Env,
  runtime: RuntimeInfo,
  detach = false,
): Promise<{ runtime: RuntimeInfo; calls: () => Promise<string[]> }> {
  const log = join(env.root, `calls-${detach}.log`);
  const script = join(env.root, `runtime-${detach}.sh`);
  await writeFile(log, '');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      `echo "$*" >> ${log}`,
      ...(detach
        ? [`case "$*" in *" run --bundle "*) set -- $(echo "$*" | sed 's/ run / run --detach /');; esac`]
        : []),
      `exec ${runtime.path} "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(script, 0o755);
  return {
    runtime: { ...runtime, path: script },
    calls: async () => (await readFile(log, 'utf8')).split('\n').filter((l) => l !== ''),
  };
}

const deletes = (calls: string[]) => calls.filter((c) => / delete --force /.test(c));

async function assertNothingLeft(env: Env, runtime: RuntimeInfo): Promise<void> {
  assert.deepEqual(mountsBelow(env.root), [], 'no mount survives the step');
  assert.deepEqual(await listContainers(runtime, env.state), [], 'no runc state survives the step');
}

test('runc on overlay: a RUN step yields exactly its created, deleted and opaque entries', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const rt = runtime as RuntimeInfo;
      await runStep(env, rt, 'step', { args: ['/bin/sh', '-c', STEP_SCRIPT] });
      await assertNothingLeft(env, rt);
      const changes = await env.snapshotter.changes('step');
      assert.deepEqual(summarize(changes), [
        'changed d3',
        'opaque d3',
        'changed d3/n',
        'whiteout dir',
        'changed dir2',
        'changed etc',
        'whiteout etc/old',
        'changed new',
      ]);
      const upper = (await env.snapshotter.stat('step')).dir;
      assert.equal(await readFile(join(upper, 'new'), 'utf8'), 'hi\n');
      const committed = await env.snapshotter.commit('layer-2', 'step');
      assert.equal(committed.parents.join(), 'base');
    },
  );
});

test('runc on the copy snapshotter: the same step, found by diffing the trees', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(t, 'copy', [typeof runtime === 'string' ? runtime : undefined], async (env) => {
    const rt = runtime as RuntimeInfo;
    await runStep(env, rt, 'step', { args: ['/bin/sh', '-c', STEP_SCRIPT] });
    await assertNothingLeft(env, rt);
    assert.deepEqual(summarize(await env.snapshotter.changes('step')), [
      'changed d3',
      'whiteout d3/keep',
      'changed d3/n',
      'whiteout dir',
      'changed dir2',
      'changed etc',
      'whiteout etc/old',
      'changed new',
    ]);
  });
});

test('runc: USER uid:gid with supplementary groups and the working directory are honoured', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const rt = runtime as RuntimeInfo;
      const { stdout } = await runStep(env, rt, 'user', {
        args: ['/bin/sh', '-c', 'id -u; id -g; id -G; pwd; touch owned; grep CapEff /proc/self/status'],
        user: { uid: 1000, gid: 1000, additionalGids: [10, 20] },
        cwd: '/tmp',
      });
      const [uid, gid, groups, cwd, capEff] = stdout.trim().split('\n');
      assert.equal(uid, '1000');
      assert.equal(gid, '1000');
      assert.deepEqual(groups?.split(' ').sort(), ['10', '1000', '20']);
      assert.equal(cwd, '/tmp');
      assert.match(capEff ?? '', /CapEff:\s+0+$/, 'a non-root user starts without capabilities');
      const st = await lstat(join((await env.snapshotter.stat('user')).dir, 'tmp', 'owned'));
      assert.equal(st.uid, 1000);
      assert.equal(st.gid, 1000);
      const root = await runStep(env, rt, 'root', {
        args: ['/bin/sh', '-c', 'grep CapEff /proc/self/status; echo $PATH'],
      });
      assert.match(root.stdout, /CapEff:\s+0*a80425fb\n/, "root gets Docker's 14 capabilities");
      assert.match(root.stdout, /\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin/);
    },
  );
});

test('runc: network none has only lo; host shares the host interfaces', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const rt = runtime as RuntimeInfo;
      const ifaces = (text: string): string[] =>
        text
          .split('\n')
          .slice(2)
          .map((l) => l.split(':')[0]?.trim() ?? '')
          .filter((l) => l !== '')
          .sort();
      const none = await runStep(env, rt, 'none', { args: ['cat', '/proc/net/dev'], network: 'none' });
      assert.deepEqual(ifaces(none.stdout), ['lo']);
      const up = await runStep(env, rt, 'lo-up', {
        args: ['/bin/sh', '-c', 'ip link show lo'],
        network: 'none',
      });
      assert.match(up.stdout, /UP/);
      const host = await runStep(env, rt, 'host', { args: ['cat', '/proc/net/dev'], network: 'host' });
      assert.deepEqual(ifaces(host.stdout), ifaces(await readFile('/proc/net/dev', 'utf8')));
    },
  );
});

test('runc: exit codes and the stderr tail propagate as a RunStepError', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const rt = runtime as RuntimeInfo;
      const script = 'for i in $(seq 1 50); do echo line$i >&2; done; exit 3';
      await assert.rejects(runStep(env, rt, 'fail', { args: ['/bin/sh', '-c', script] }), (err) => {
        assert.ok(err instanceof RunStepError);
        assert.ok(isRunStepError(err));
        assert.equal(err.code, 'EINVAL');
        assert.equal(err.exitCode, 3);
        assert.equal(err.signal, undefined);
        assert.equal(err.isCanceled, false);
        assert.equal(err.command, `/bin/sh -c '${script}'`);
        assert.equal(err.stderrTail.split('\n').length, 20);
        assert.match(err.stderrTail, /^line31\n[\s\S]*line50$/);
        assert.match(err.shortMessage, /^command failed with exit code 3: \/bin\/sh -c/);
        assert.match(err.message, /line50$/);
        return true;
      });
      await assertNothingLeft(env, rt);
      const soft = await runStep(env, rt, 'soft', { args: ['/bin/sh', '-c', 'exit 4'] }, { reject: false });
      assert.equal(soft.exitCode, 4);
      await assert.rejects(runStep(env, rt, 'missing', { args: ['no-such-command'] }), (err) => {
        assert.ok(err instanceof RunStepError);
        assert.equal(err.exitCode, 127);
        assert.match(err.runtimeMessage ?? '', /executable file not found/);
        return true;
      });
      await assertNothingLeft(env, rt);
    },
  );
});

test('runc: a run that ends on its own leaves no state and is not deleted; one that leaves state is', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const logged = await loggingRuntime(env, runtime as RuntimeInfo);
      const ok = await runStep(env, logged.runtime, 'ok', { args: ['/bin/sh', '-c', 'echo fine'] });
      assert.equal(ok.stdout, 'fine\n');
      const failed = await runStep(
        env,
        logged.runtime,
        'exit5',
        { args: ['/bin/sh', '-c', 'exit 5'] },
        { reject: false },
      );
      assert.equal(failed.exitCode, 5);
      for (const id of [ok.id, failed.id])
        assert.ok(!existsSync(join(env.state, id)), `no state dir for ${id}`);
      const calls = await logged.calls();
      assert.equal(calls.filter((c) => / run --bundle /.test(c)).length, 2);
      assert.deepEqual(deletes(calls), [], 'no runc delete after runs that ended on their own');
      await assertNothingLeft(env, logged.runtime);

      const detached = await loggingRuntime(env, runtime as RuntimeInfo, true);
      const left = await runStep(env, detached.runtime, 'left', { args: ['/bin/sh', '-c', 'sleep 1'] });
      assert.equal(deletes(await detached.calls()).length, 1, 'state left behind is deleted');
      assert.ok(!existsSync(join(env.state, left.id)));
      await assertNothingLeft(env, detached.runtime);
    },
  );
});

test('runc: an aborted run is killed and leaves no mount and no runtime state', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const logged = await loggingRuntime(env, runtime as RuntimeInfo);
      const rt = logged.runtime;
      const controller = new AbortController();
      const started = Date.now();
      await assert.rejects(
        runStep(
          env,
          rt,
          'abort',
          { args: ['/bin/sh', '-c', 'echo started; sleep 60'] },
          {
            signal: controller.signal,
            onStdout: () => controller.abort(new Error('user pressed ^C')),
            killGraceMs: 300,
          },
        ),
        (err) => {
          assert.ok(err instanceof RunStepError);
          assert.equal(err.isCanceled, true);
          assert.equal(err.code, 'ECANCELED');
          return true;
        },
      );
      assert.ok(Date.now() - started < 20_000, 'killed well before the sleep ends');
      assert.equal(deletes(await logged.calls()).length, 1, 'a canceled run is deleted by force');
      await assertNothingLeft(env, rt);
      // Aborted before it starts: nothing is run at all.
      await assert.rejects(
        runStep(env, rt, 'pre-aborted', { args: ['true'] }, { signal: AbortSignal.abort() }),
        (err) => err instanceof RunStepError && err.isCanceled,
      );
      await assertNothingLeft(env, rt);
    },
  );
});

test('runc: SIGTERM to this process is forwarded to the container', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const rt = runtime as RuntimeInfo;
      const script = 'trap "echo got-term; exit 7" TERM; echo ready; sleep 60 & wait';
      await assert.rejects(
        runStep(
          env,
          rt,
          'forward',
          { args: ['/bin/sh', '-c', script] },
          // Emitting the event runs our listeners without signalling the test process for real.
          { onStdout: (c) => c.toString().includes('ready') && process.emit('SIGTERM', 'SIGTERM') },
        ),
        (err) => {
          assert.ok(err instanceof RunStepError);
          assert.equal(err.exitCode, 7);
          return true;
        },
      );
      assert.equal(process.listenerCount('SIGTERM'), 0, 'listeners removed after the run');
      await assertNothingLeft(env, rt);
    },
  );
});

test('runc: mount points missing from the rootfs are removed again after the run', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const rt = runtime as RuntimeInfo;
      const cache = join(env.root, 'cache');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(cache);
      await runStep(env, rt, 'stubs', {
        args: ['/bin/sh', '-c', 'echo cached > /var/cache/x/out'],
        binds: [{ source: cache, destination: '/var/cache/x' }],
      });
      assert.equal(await readFile(join(cache, 'out'), 'utf8'), 'cached\n');
      const upper = (await env.snapshotter.stat('stubs')).dir;
      assert.deepEqual(await readdir(upper), [], 'the /var/cache/x stub did not stay in the layer');
    },
  );
});

test('chroot isolation: the same RUN step, user, cwd, exit codes, and nothing left mounted', async (t) => {
  await withBase(t, 'overlay', [chrootReason(), await overlayReason()], async (env) => {
    const mounts = await env.snapshotter.prepare('step', ['base']);
    const target = join(env.root, 'mnt', 'step');
    let stdout = '';
    const result = await withMounted(mounts, target, (rootfs) =>
      runChroot({
        rootfs,
        spec: spec(env, {
          args: ['/bin/sh', '-c', `${STEP_SCRIPT}; cat /etc/hosts; ls /dev/null /dev/pts/ptmx; echo $$`],
        }),
        stdio: { stdout: (c) => (stdout += c.toString()) },
      }),
    );
    assert.equal(result.exitCode, 0);
    assert.match(stdout, /127\.0\.0\.1 localhost/);
    assert.match(stdout, /\/dev\/null/);
    assert.match(stdout, /\n1\n$/, 'the command is pid 1 of its own pid namespace');
    assert.deepEqual(mountsBelow(env.root), []);
    assert.deepEqual(summarize(await env.snapshotter.changes('step')), [
      'changed d3',
      'opaque d3',
      'changed d3/n',
      'whiteout dir',
      'changed dir2',
      'changed etc',
      'whiteout etc/old',
      'changed new',
    ]);

    const userRun = await env.snapshotter.prepare('user', ['base']);
    let out = '';
    await withMounted(userRun, join(env.root, 'mnt', 'user'), (rootfs) =>
      runChroot({
        rootfs,
        spec: spec(env, {
          args: ['/bin/sh', '-c', 'id -u; id -g; pwd'],
          user: { uid: 1000, gid: 1000 },
          cwd: '/tmp/made/by/chroot',
        }),
        stdio: { stdout: (c) => (out += c.toString()) },
      }),
    );
    assert.equal(out, '1000\n1000\n/tmp/made/by/chroot\n');

    const failing = await env.snapshotter.prepare('fail', ['base']);
    await assert.rejects(
      withMounted(failing, join(env.root, 'mnt', 'fail'), (rootfs) =>
        runChroot({ rootfs, spec: spec(env, { args: ['/bin/sh', '-c', 'echo oops >&2; exit 9'] }) }),
      ),
      (err) => err instanceof RunStepError && err.exitCode === 9 && err.stderrTail === 'oops',
    );
    const controller = new AbortController();
    const aborted = await env.snapshotter.prepare('abort', ['base']);
    await assert.rejects(
      withMounted(aborted, join(env.root, 'mnt', 'abort'), (rootfs) =>
        runChroot({
          rootfs,
          spec: spec(env, { args: ['/bin/sh', '-c', 'echo started; sleep 60'] }),
          signal: controller.signal,
          killGraceMs: 300,
          stdio: { stdout: () => controller.abort() },
        }),
      ),
      (err) => err instanceof RunStepError && err.isCanceled,
    );
    assert.deepEqual(mountsBelow(env.root), []);
  });
});

test('crash recovery: after the builder is SIGKILLed mid-step, stale containers and mounts are cleaned up', async (t) => {
  const runtime = await runtimeOrReason();
  await withBase(
    t,
    'overlay',
    [typeof runtime === 'string' ? runtime : undefined, await overlayReason()],
    async (env) => {
      const rt = runtime as RuntimeInfo;
      const target = join(env.root, 'mnt', 'crash');
      const id = 'strata-crashtest';
      const snapshotUrl = new URL('../../src/snapshot/index.js', import.meta.url).href;
      const runtimeUrl = new URL('../../src/runtime/index.js', import.meta.url).href;
      const script = `
      import { OverlaySnapshotter, mountAll } from ${JSON.stringify(snapshotUrl)};
      import { runContainer, generateSpec } from ${JSON.stringify(runtimeUrl)};
      const s = new OverlaySnapshotter(${JSON.stringify(env.root)});
      const mounts = await s.prepare('crash', ['base']);
      await mountAll(mounts, ${JSON.stringify(target)});
      await runContainer({
        runtime: ${JSON.stringify(rt)},
        bundleDir: ${JSON.stringify(join(env.root, 'bundles', 'crash'))},
        rootfs: ${JSON.stringify(target)},
        spec: generateSpec({ args: ['/bin/sh', '-c', 'echo up; sleep 60'] }),
        stateRoot: ${JSON.stringify(env.state)},
        id: ${JSON.stringify(id)},
        stdio: { stdout: 'inherit' },
      });
    `;
      const child = await builderUntilUp(script);
      child.kill('SIGKILL');
      // 'exit', not 'close': the orphaned runtime still holds the stdout pipe.
      await new Promise((resolve) => child.once('exit', resolve));
      assert.deepEqual(await listContainers(rt, env.state), [id], 'the container outlived its builder');
      assert.ok(mountsBelow(env.root).includes(target), 'and so did the mount');

      const { cleanupStaleContainers } = await import('../../src/runtime/index.js');
      const { cleanupStaleMounts } = await import('../../src/snapshot/index.js');
      assert.deepEqual(await cleanupStaleContainers(rt, env.state), [id]);
      assert.deepEqual(await listContainers(rt, env.state), []);
      assert.ok(cleanupStaleMounts(env.root).includes(target));
      assert.deepEqual(mountsBelow(env.root), []);
    },
  );
});

test('probeRuntime explains why a candidate is rejected, and caches its answer', async (t) => {
  if (skipIf(t, typeof process.getuid === 'function' && process.getuid() !== 0 ? 'not root' : undefined))
    return;
  const { probeRuntime } = await import('../../src/runtime/index.js');
  const none = await probeRuntime({ candidates: ['strata-no-such-runtime'] });
  assert.equal(none.ok, false);
  assert.match(none.ok ? '' : none.reason, /strata-no-such-runtime: not found on PATH/);
  const fake = await probeRuntime({ candidates: ['/bin/false'] });
  assert.equal(fake.ok, false);
  assert.match(fake.ok ? '' : fake.reason, /--version failed/);
  assert.equal(probeRuntime(), probeRuntime(), 'one probe per process');
});

test('an overlay of 150 layers with long paths mounts (options compacted below one page)', async (t) => {
  if (skipIf(t, await overlayReason())) return;
  const tmp = await tempRoot('strata-many-layers-');
  try {
    const root = join(
      tmp.path,
      'a-rather-long-directory-name-for-the-store-root',
      'and-another-level-below-it',
    );
    const s = new OverlaySnapshotter(root);
    let parent: string[] = [];
    for (let i = 0; i < 150; i++) {
      await s.prepare(`k${i}`, parent);
      await writeFile(join((await s.stat(`k${i}`)).dir, 'layer'), String(i));
      await writeFile(join((await s.stat(`k${i}`)).dir, `only-${i}`), '');
      await s.commit(`l${i}`, `k${i}`);
      parent = [`l${i}`];
    }
    const mounts = await s.prepare('top', parent);
    const options = mounts[0]?.options.join(',') ?? '';
    assert.ok(options.length > 4096, `options are ${options.length} bytes`);
    const cwd = process.cwd();
    await withMounted(mounts, join(tmp.path, 'mnt'), async (target) => {
      assert.equal(await readFile(join(target, 'layer'), 'utf8'), '149');
      assert.equal((await readdir(target)).filter((n) => n.startsWith('only-')).length, 150);
      await assert.rejects(
        s.commit('top-layer', 'top'),
        (e) => e instanceof BuilderError && e.code === 'EPRECONDITION',
      );
    });
    assert.equal(process.cwd(), cwd, 'the working directory is restored');
    assert.deepEqual(mountsBelow(tmp.path), []);
  } finally {
    await tmp.cleanup();
  }
});

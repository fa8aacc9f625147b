// The build memo's edit replay (src/cli/edit-replay.ts, native/edit_replay.c): when only the
// files a COPY-last Dockerfile's last COPY copies have changed, the `strata` front program
// makes the new top layer, config, manifest, image record and tag itself. Checked against
// what the CLI makes from the same files (the same image but for times), against the store's
// own check and skopeo, and against every change the replay must leave to the CLI.
//
// "Made without Node" is checked by running the front program with no node on its PATH.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPLAY_LINE } from '../../src/cli/build-memo.js';
import { treeFingerprint } from '../../src/sys/native.js';
import { FRONT_PROGRAM } from '../helpers/cli-paths.js';
import { frontProgram } from '../helpers/front-program.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { BUSYBOX, mountReason, runtimeOrReason, skipIf } from './prereqs.js';

const reason = existsSync(FRONT_PROGRAM)
  ? mountReason()
  : `${FRONT_PROGRAM} is missing (npm run build:native)`;

/** A tar's entries: name, type, mode, owner, size, mtime, content. */
function tarEntries(tar: Buffer) {
  const out: Array<{
    name: string;
    type: string;
    mode: number;
    uid: number;
    gid: number;
    mtime: number;
    data: string;
  }> = [];
  for (let at = 0; at + 512 <= tar.length; ) {
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const field = (a: number, n: number) =>
      h
        .subarray(a, a + n)
        .toString('latin1')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12), 8);
    out.push({
      name: field(0, 100),
      type: field(156, 1),
      mode: Number.parseInt(field(100, 8), 8),
      uid: Number.parseInt(field(108, 8), 8),
      gid: Number.parseInt(field(116, 8), 8),
      mtime: Number.parseInt(field(136, 12), 8),
      data: tar.subarray(at + 512, at + 512 + size).toString('utf8'),
    });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Entries with the times of directories left out, but for those named in `kept`: a replay and
 * a CLI build give the directories a copy writes into each its own time. */
function dirsTimeless(entries: ReturnType<typeof tarEntries>, kept: string[] = []) {
  return entries.map((e) => (e.type === '5' && !kept.includes(e.name) ? { ...e, mtime: 0 } : e));
}

describe('the edit replay: a COPY-last image rebuilt by the front program', { concurrency: false }, () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let env: NodeJS.ProcessEnv;
  let ctx: string;
  let store: string;

  const { run, answer, built, settle } = frontProgram(
    () => tmp.path,
    () => env,
  );
  const build = (tag = 'replay:1') => ['build', '-q', '-t', tag, ctx];
  const edit = (text: string) => {
    appendFileSync(join(ctx, 'app.txt'), text);
    settle();
  };
  /** The image a name points at: manifest, config, and the top layer's tar. */
  const image = (name: string) => {
    const blob = (d: string) =>
      readFileSync(join(store, 'content', 'blobs', 'sha256', d.slice('sha256:'.length)));
    const rec = JSON.parse(
      readFileSync(
        join(store, 'meta', 'v1', 'names', `docker.io%2Flibrary%2F${name.replace(':', '%3A')}.json`),
        'utf8',
      ),
    );
    const manifest = JSON.parse(blob(rec.value.target.digest).toString('utf8'));
    const config = JSON.parse(blob(manifest.config.digest).toString('utf8'));
    const layer = (i: number) => blob(manifest.layers.at(i).digest);
    return { rec, manifest, config, top: layer(-1), layer };
  };

  /** A copy of the context with another Dockerfile, and its build tagged replay:<name>. */
  const variant = (name: string, dockerfile?: string) => {
    const dir = join(tmp.path, name);
    rmSync(dir, { recursive: true, force: true });
    execFileSync('cp', ['-r', ctx, dir]);
    if (dockerfile !== undefined) writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    return { dir, args: ['build', '-q', '-t', `replay:${name}`, dir] };
  };
  /** Built by the CLI (which leaves the memo), `file` edited, built again: by the replay. */
  const replayedEdit = (args: string[], file: string, text: string) => {
    settle();
    built(args);
    appendFileSync(file, text);
    settle();
    const r = answer(args);
    assert.equal(r.code, 0, r.stderr);
    return r;
  };

  before(async () => {
    tmp = await makeTempDir('strata-replay-');
    store = join(tmp.path, 'store');
    env = {
      PATH: process.env.PATH,
      HOME: tmp.path,
      STRATA_ROOT: store,
      XDG_CACHE_HOME: join(tmp.path, 'cache'),
    };
    ctx = join(tmp.path, 'ctx');
    await mkdir(join(ctx, 'lib'), { recursive: true });
    await mkdir(join(tmp.path, 'base'));
    writeFileSync(join(tmp.path, 'base', 'Dockerfile'), 'FROM scratch\nCOPY b /opt/b\n');
    writeFileSync(join(tmp.path, 'base', 'b'), 'base\n');
    writeFileSync(
      join(ctx, 'Dockerfile'),
      'FROM replay-base\nENV GREETING=hi\nCOPY app.txt lib/util.txt /srv/app/\nLABEL stage=last\nCMD ["cat", "/srv/app/app.txt"]\n',
    );
    writeFileSync(join(ctx, 'app.txt'), 'version 1\n');
    writeFileSync(join(ctx, 'lib', 'util.txt'), 'util\n');
    writeFileSync(join(ctx, 'README'), 'not copied\n');
  });
  after(() => tmp?.cleanup());

  test('the masked digest leaves out the hot files’ content and nothing else', async (t) => {
    if (skipIf(t, reason)) return;
    const dir = join(tmp.path, 'fp');
    await mkdir(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'hot'), 'one');
    writeFileSync(join(dir, 'cold'), 'one');
    const fp = async () => {
      const r = await treeFingerprint(dir, 1000, [], ['sub/hot']);
      assert.ok(r?.masked, 'the addon gives a masked digest');
      return r;
    };
    const a = await fp();
    writeFileSync(join(dir, 'sub', 'hot'), 'two, longer');
    const b = await fp();
    assert.notEqual(b.digest, a.digest, 'the exact digest sees the edit');
    assert.equal(b.masked, a.masked, 'the masked one does not');
    // A file listed whole is counted whole, though it is listed.
    const whole = async () => (await treeFingerprint(dir, 1000, [], ['sub/hot'], ['cold']))?.masked;
    const before = await whole();
    writeFileSync(join(dir, 'cold'), 'edited');
    assert.notEqual(await whole(), before, 'an edit of a file listed whole');
    for (const [what, change] of [
      ['a mode change of the hot file', () => chmodSync(join(dir, 'sub', 'hot'), 0o600)],
      ['a new file beside it', () => writeFileSync(join(dir, 'sub', 'new'), '')],
      ['an edit of another file', () => writeFileSync(join(dir, 'cold'), 'changed')],
    ] as const) {
      const before = (await fp()).masked;
      change();
      assert.notEqual((await fp()).masked, before, what);
    }
  });

  test('an edit of the copied files is built without Node, as the CLI builds it but for times', (t) => {
    if (skipIf(t, reason)) return;
    built(['build', '-q', '-t', 'replay-base', join(tmp.path, 'base')]);
    settle();
    const first = built(build());
    edit('version 2\n');
    const replayed = answer(build());
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.equal(replayed.stderr, '');
    const id = replayed.stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.notEqual(id, first);

    // The same files through the CLI (no memo), under another name.
    const viaCli = built(build('replay:cli'), { STRATA_BUILD_MEMO: '0' });
    const a = image('replay:1');
    const b = image('replay:cli');
    assert.equal(a.rec.value.labels['org.strata.image.id'], id);
    assert.equal(a.manifest.config.digest, id);
    assert.notEqual(viaCli, id, 'times differ');
    // Times aside: the steps' dates, and the top layer's digest (its directories carry the time
    // they were written, compared below).
    const timeless = (c: {
      created?: string;
      history?: Array<{ created?: string }>;
      rootfs: { diff_ids: string[] };
    }) => ({
      ...c,
      created: undefined,
      history: c.history?.map((h) => ({ ...h, created: undefined })),
      rootfs: { ...c.rootfs, diff_ids: c.rootfs.diff_ids.slice(0, -1) },
    });
    assert.deepEqual(timeless(a.config), timeless(b.config));
    assert.equal(
      a.config.created,
      a.config.history.at(-1).created,
      'the replay dates its steps as the CLI does',
    );
    assert.deepEqual(
      a.config.history.slice(0, -3),
      b.config.history.slice(0, -3),
      'earlier steps keep their times',
    );
    assert.equal(a.manifest.layers.length, b.manifest.layers.length);
    assert.deepEqual(a.manifest.layers.slice(0, -1), b.manifest.layers.slice(0, -1));
    assert.equal(a.top.length, b.top.length);
    assert.deepEqual(dirsTimeless(tarEntries(a.top)), dirsTimeless(tarEntries(b.top)));
    const app = tarEntries(a.top).find((e) => e.name === 'srv/app/app.txt');
    assert.equal(app?.data, 'version 1\nversion 2\n');

    // The store agrees, and so does the CLI reading it.
    assert.equal(run(['system', 'check']).code, 0);
    const history = run(['history', 'replay:1']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /COPY app\.txt lib\/util\.txt \/srv\/app\//);
    assert.deepEqual(readdirSync(join(store, 'content', 'ingest')), [], 'no ingest file left');
    assert.ok(!existsSync(join(store, 'meta', 'v1', 'locks', 'gc.lock')), 'the gc lock released');

    // A no-op after it is answered with the replayed image; the next edit is replayed again.
    settle();
    assert.deepEqual(answer(build()), { code: 0, stdout: `${id}\n`, stderr: '' });
    edit('version 3\n');
    const again = answer(build());
    assert.equal(again.code, 0, again.stderr);
    assert.notEqual(again.stdout.trim(), id);
    assert.equal(
      tarEntries(image('replay:1').top).find((e) => e.name === 'srv/app/app.txt')?.data,
      'version 1\nversion 2\nversion 3\n',
    );
  });

  test('files changed within the racy margin: replayed, never answered as a no-op', (t) => {
    if (skipIf(t, reason)) return;
    settle();
    built(build());
    // Edited and built at once, as a benchmark does: the CLI's record can only replay.
    appendFileSync(join(ctx, 'app.txt'), 'racy 1\n');
    const viaCli = built(build());
    const first = answer(build());
    assert.equal(first.code, 0, first.stderr);
    assert.notEqual(first.stdout.trim(), viaCli, 'a replay, not a no-op answer');
    // A replay right after another edit: again only a replay may follow.
    appendFileSync(join(ctx, 'app.txt'), 'racy 2\n');
    const second = answer(build()).stdout.trim();
    const third = answer(build()).stdout.trim();
    assert.notEqual(third, second);
    assert.match(third, /^sha256:/);
    // Once the files are older than the margin, a replay leaves a record that answers no-ops.
    settle();
    const settled = answer(build()).stdout.trim();
    assert.deepEqual(answer(build()), { code: 0, stdout: `${settled}\n`, stderr: '' });
    assert.equal(
      tarEntries(image('replay:1').top).find((e) => e.name === 'srv/app/app.txt')?.data,
      readFileSync(join(ctx, 'app.txt'), 'utf8'),
    );
  });

  test('a COPY the CLI took from the cache (same content, another file’s time) still replays', (t) => {
    if (skipIf(t, reason)) return;
    settle();
    const original = readFileSync(join(ctx, 'app.txt'), 'utf8');
    built(build());
    // Rewritten with the same content: a new mtime, the COPY step's key unchanged.
    writeFileSync(join(ctx, 'app.txt'), original);
    settle();
    const r = run(build(), { STRATA_BUILD_MEMO: 'explain' });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /no edit replay/);
    edit('after a cached COPY\n');
    const replayed = answer(build());
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.equal(
      tarEntries(image('replay:1').top).find((e) => e.name === 'srv/app/app.txt')?.data,
      readFileSync(join(ctx, 'app.txt'), 'utf8'),
    );
  });

  test('skopeo reads a replayed image', (t) => {
    if (skipIf(t, reason)) return;
    if (spawnSync('skopeo', ['--version']).status !== 0) {
      skipIf(t, 'skopeo is not installed (scripts/install-deps.sh installs it)');
      return;
    }
    edit('version 4\n');
    const id = answer(build()).stdout.trim();
    assert.match(id, /^sha256:/);
    const archive = join(tmp.path, 'replayed.tar');
    assert.equal(run(['save', '--format', 'oci', '-o', archive, 'replay:1']).code, 0);
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', '--config', `oci-archive:${archive}`], { encoding: 'utf8' }),
    );
    assert.equal(inspected.rootfs.diff_ids.at(-1), image('replay:1').manifest.layers.at(-1).digest);
    rmSync(archive);
  });

  test('plain progress says the layer was made again, and shows the COPY built', (t) => {
    if (skipIf(t, reason)) return;
    const plain = ['build', '--progress', 'plain', '-t', 'replay:1', ctx];
    settle();
    assert.equal(run(plain).code, 0);
    edit('version 5\n');
    const r = answer(plain);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.startsWith(REPLAY_LINE), r.stderr);
    assert.match(r.stderr, /COPY app\.txt lib\/util\.txt \/srv\/app\/\n#\d+ DONE/);
    const id = image('replay:1').manifest.config.digest;
    assert.match(r.stderr, new RegExp(`writing image ${id}\n`));
    assert.match(
      r.stderr,
      new RegExp(`Successfully built ${id}\nSuccessfully tagged docker.io/library/replay:1\n$`),
    );
  });

  // Each change below must send the build to the CLI, which then makes the image it calls for.
  const changes: Array<{ name: string; change: () => void; undo?: () => void }> = [
    {
      name: 'another context file changed too',
      change: () => writeFileSync(join(ctx, 'README'), `changed ${Date.now()}\n`),
    },
    { name: 'a copied file’s mode changed', change: () => chmodSync(join(ctx, 'lib', 'util.txt'), 0o600) },
    {
      name: 'a new file beside a copied one',
      change: () => writeFileSync(join(ctx, 'lib', `new-${Date.now()}`), ''),
    },
    {
      name: 'the store’s gc lock held by another process',
      change: () => writeFileSync(join(store, 'meta', 'v1', 'locks', 'gc.lock'), '{}'),
      undo: () => rmSync(join(store, 'meta', 'v1', 'locks', 'gc.lock')),
    },
  ];
  for (const c of changes) {
    test(`not replayed when ${c.name}`, (t) => {
      if (skipIf(t, reason)) return;
      settle();
      built(build());
      c.change();
      edit(`edit ${Date.now()}\n`);
      const r = answer(build(), { STRATA_BUILD_MEMO: 'explain' });
      assert.notEqual(r.code, 0, `replayed after ${c.name}`);
      assert.match(r.stderr, /build memo: not used/);
      c.undo?.();
      const after = built(build());
      assert.equal(
        tarEntries(image('replay:1').top).find((e) => e.name === 'srv/app/app.txt')?.data,
        readFileSync(join(ctx, 'app.txt'), 'utf8'),
      );
      assert.equal(image('replay:1').manifest.config.digest, after);
    });
  }

  test('COPY --chown and --chmod: the replay writes the owner and mode the CLI wrote', (t) => {
    if (skipIf(t, reason)) return;
    const { dir: owned, args } = variant(
      'owned',
      'FROM replay-base\nCOPY --chown=1000:1001 --chmod=640 app.txt lib /srv/\n',
    );
    replayedEdit(args, join(owned, 'app.txt'), 'owned\n');
    const replayed = tarEntries(image('replay:owned').top);
    built(['build', '-q', '-t', 'replay:owned-cli', owned], { STRATA_BUILD_MEMO: '0' });
    const viaCli = tarEntries(image('replay:owned-cli').top);
    assert.deepEqual(dirsTimeless(replayed), dirsTimeless(viaCli));
    const app = replayed.find((e) => e.name === 'srv/app.txt');
    assert.deepEqual(
      [app?.uid, app?.gid, app?.mode, app?.data],
      [1000, 1001, 0o640, readFileSync(join(owned, 'app.txt'), 'utf8')],
    );
  });

  test('a COPY of other files before the last one: edits of the last one’s files replay, of the others not', (t) => {
    if (skipIf(t, reason)) return;
    const { dir: two, args } = variant('two', 'FROM replay-base\nCOPY lib/util.txt /u\nCOPY app.txt /a\n');
    replayedEdit(args, join(two, 'app.txt'), 'two\n');
    const replayed = image('replay:two');
    assert.equal(
      tarEntries(replayed.top).find((e) => e.name === 'a')?.data,
      readFileSync(join(two, 'app.txt'), 'utf8'),
    );
    // The earlier COPY's file is not the replay's: an edit of it goes to the CLI.
    appendFileSync(join(two, 'lib', 'util.txt'), 'changed\n');
    settle();
    assert.notEqual(answer(args).code, 0);
    built(args);
    const rebuilt = image('replay:two');
    assert.equal(tarEntries(rebuilt.layer(-2)).find((e) => e.name === 'u')?.data, 'util\nchanged\n');
  });

  test('with RUN steps: one before the COPY keeps the replay, one that mounts the context not', async (t) => {
    const runtime = await runtimeOrReason();
    if (skipIf(t, typeof runtime === 'string' ? runtime : undefined)) return;
    const bb = join(tmp.path, 'bb');
    await mkdir(join(bb, 'rootfs', 'bin'), { recursive: true });
    copyFileSync(BUSYBOX, join(bb, 'rootfs', 'bin', 'busybox'));
    symlinkSync('busybox', join(bb, 'rootfs', 'bin', 'sh'));
    symlinkSync('busybox', join(bb, 'rootfs', 'bin', 'cat'));
    writeFileSync(join(bb, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\n');
    built(['build', '-q', '-t', 'replay-bb', bb]);
    const { dir: runs, args } = variant('runs', 'FROM replay-bb\nRUN echo ran > /ran\nCOPY app.txt /a\n');
    replayedEdit(args, join(runs, 'app.txt'), 'after a RUN\n');
    assert.equal(
      tarEntries(image('replay:runs').top).find((e) => e.name === 'a')?.data,
      readFileSync(join(runs, 'app.txt'), 'utf8'),
    );
    writeFileSync(
      join(runs, 'Dockerfile'),
      'FROM replay-bb\nRUN --mount=type=bind,target=/ctx cat /ctx/app.txt > /seen\nCOPY app.txt /a\n',
    );
    settle();
    const mounted = run(args, { STRATA_BUILD_MEMO: 'explain' });
    assert.equal(mounted.code, 0, mounted.stderr);
    assert.match(mounted.stderr, /no edit replay: its last COPY copies only files other steps read too/);
  });

  test('a directory copied last: an edit of one of its files replays; a new file, or an edit of a file an earlier step read, goes to the CLI', (t) => {
    if (skipIf(t, reason)) return;
    const tree = join(tmp.path, 'tree');
    rmSync(tree, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', join(tree, 'src', 'pkg'), join(tree, 'src', 'empty')]);
    writeFileSync(join(tree, 'requirements.txt'), 'flask\n');
    writeFileSync(join(tree, 'src', 'main.py'), 'print(1)\n');
    writeFileSync(join(tree, 'src', 'pkg', '__init__.py'), '');
    writeFileSync(join(tree, 'src', 'pkg', 'mod.py'), 'x = 1\n');
    writeFileSync(join(tree, '.dockerignore'), 'ignored\n');
    writeFileSync(join(tree, 'ignored'), 'not copied\n');
    // The usual shape: what the dependencies need first, then everything.
    writeFileSync(join(tree, 'Dockerfile'), 'FROM replay-base\nCOPY requirements.txt /app/\nCOPY . /app/\n');
    const args = ['build', '-q', '-t', 'replay:tree', tree];
    settle();
    built(args);
    appendFileSync(join(tree, 'src', 'pkg', 'mod.py'), 'y = 2\n');
    settle();
    const r = answer(args);
    assert.equal(r.code, 0, r.stderr);
    const viaCli = image('replay:tree');
    const entries = tarEntries(viaCli.top);
    assert.equal(entries.find((e) => e.name === 'app/src/pkg/mod.py')?.data, 'x = 1\ny = 2\n');
    assert.ok(
      entries.some((e) => e.name === 'app/src/empty/' || e.name === 'app/src/empty'),
      'the empty directory',
    );
    assert.ok(!entries.some((e) => e.name.endsWith('ignored')), '.dockerignore still applies');
    // The CLI's build of the same files: the same entries but for the times of the directories
    // the copy wrote into.
    built(['build', '-q', '-t', 'replay:tree-cli', tree], { STRATA_BUILD_MEMO: '0' });
    const kept = ['app/src/empty/'];
    assert.deepEqual(
      dirsTimeless(entries, kept),
      dirsTimeless(tarEntries(image('replay:tree-cli').top), kept),
    );
    for (const [what, change] of [
      ['a new file', () => writeFileSync(join(tree, 'src', 'new.py'), '')],
      [
        'an edit of requirements.txt, which the first COPY read',
        () => appendFileSync(join(tree, 'requirements.txt'), 'click\n'),
      ],
    ] as const) {
      settle();
      built(args);
      change();
      settle();
      assert.notEqual(answer(args).code, 0, what);
    }
  });

  test('builds whose context reaches the image otherwise leave no replay', (t) => {
    if (skipIf(t, reason)) return;
    const { dir: other } = variant('other');
    for (const [dockerfile, why] of [
      [
        'FROM replay-base\nCOPY app.txt /all\nCOPY app.txt /a\n',
        /no edit replay: its last COPY copies only files other steps read too/,
      ],
      ['FROM replay-base\nCOPY app.txt /a\nWORKDIR /w\n', /no edit replay: its image does not end in a COPY/],
      ['FROM replay-base\nADD app.txt /a\n', /no edit replay: its image does not end in a COPY/],
      [
        'FROM replay-base AS early\nCOPY app.txt /x\nFROM replay-base\nCOPY --from=early /x /y\nCOPY app.txt /a\n',
        /no edit replay: its last COPY copies only files other steps read too/,
      ],
    ] as const) {
      writeFileSync(join(other, 'Dockerfile'), dockerfile);
      settle();
      const r = run(['build', '-q', '-t', 'replay:other', other], { STRATA_BUILD_MEMO: 'explain' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, why, dockerfile);
    }
  });
});

// The build memo's pure parts: the invocation key (which the front program computes too, in
// C: test/integration/build-memo.test.ts checks they agree), the flags that rule a memo out,
// the no-op transcript, and the context fingerprint it pins.

import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ProgressEvent } from '../../../src/build/progress.js';
import {
  buildMemoDir,
  buildMemoKey,
  excludedTopDirectories,
  ineligibleFlags,
  keepForTranscript,
  MEMO_LINE,
  noOpTranscript,
  writeBuildMemo,
} from '../../../src/cli/build-memo.js';
import { ReadJournal } from '../../../src/store/meta/read-journal.js';
import { sysAvailable, treeFingerprint } from '../../../src/sys/native.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';
import { skipIf } from '../../integration/prereqs.js';

describe('build memo key', () => {
  const base = { uid: 0, cwd: '/w', entry: '/s/dist/strata.cjs', argv: ['build', '.'], env: {} };

  it('is NUL-separated fields, the keyed environment sorted by bytes', () => {
    const key = buildMemoKey({
      ...base,
      env: {
        STRATA_ROOT: '/r',
        PATH: '/bin',
        SOURCE_DATE_EPOCH: '1',
        STRATA_BUILD_MEMO: 'explain',
        HOME: '/h',
      },
    });
    assert.equal(
      key.toString(),
      'strata-build-memo 1\0uid=0\0cwd=/w\0entry=/s/dist/strata.cjs\0argc=2\0build\0.\0env\0HOME=/h\0SOURCE_DATE_EPOCH=1\0STRATA_ROOT=/r\0',
    );
  });

  it('differs with every input that can change a build, not with PATH or the explain switch', () => {
    const k = (o: Partial<typeof base>) => buildMemoKey({ ...base, ...o }).toString('hex');
    const same = k({});
    assert.equal(k({ env: { PATH: '/x', STRATA_BUILD_MEMO: 'explain', TERM: 'xterm' } }), same);
    for (const o of [
      { uid: 1 },
      { cwd: '/v' },
      { entry: '/t/dist/strata.cjs' },
      { argv: ['build', './'] },
      { argv: ['build', '.', ''] },
      { env: { STRATA_ISOLATION: 'runc' } },
      { env: { XDG_DATA_HOME: '/d' } },
    ])
      assert.notEqual(k(o), same, JSON.stringify(o));
  });

  it('the folder follows XDG_CACHE_HOME, then HOME; STRATA_BUILD_MEMO=0 turns it off', () => {
    assert.equal(buildMemoDir({ XDG_CACHE_HOME: '/c', HOME: '/h' }), '/c/strata/build-memo');
    assert.equal(buildMemoDir({ HOME: '/h' }), '/h/.cache/strata/build-memo');
    assert.equal(buildMemoDir({}), undefined);
    assert.equal(buildMemoDir({ HOME: '/h', STRATA_BUILD_MEMO: '0' }), undefined);
  });

  it('flags that make a build read more than its inputs rule a memo out', () => {
    const none = {
      fromStdin: false,
      noCache: false,
      pull: false,
      push: false,
      outputs: 0,
      secrets: 0,
      buildArgsFromEnv: false,
    };
    assert.equal(ineligibleFlags(none), undefined);
    assert.match(ineligibleFlags({ ...none, noCache: true }) ?? '', /--no-cache/);
    assert.match(ineligibleFlags({ ...none, buildArgsFromEnv: true }) ?? '', /environment/);
    assert.match(ineligibleFlags({ ...none, fromStdin: true }) ?? '', /stdin/);
  });
});

describe('no-op transcript', () => {
  it('shows steps that ran as CACHED without their output, keeps status lines of the rest', () => {
    const ev = (
      id: number,
      name: string,
      status: ProgressEvent['status'],
      time: number,
      log?: ProgressEvent['log'],
    ) => ({ id, name, status, time, ...(log ? { log } : {}) }) as ProgressEvent;
    const events = [
      ev(1, '[1/3] FROM base', 'started', 1000),
      ev(1, '[1/3] FROM base', 'done', 1000),
      ev(2, '[2/3] RUN make', 'started', 1000),
      ev(2, '[2/3] RUN make', 'started', 1100, { stream: 'stdout', text: 'compiling\n' }),
      ev(2, '[2/3] RUN make', 'done', 1500),
      ev(3, '[3/3] COPY a /a', 'started', 1500),
      ev(3, '[3/3] COPY a /a', 'cached', 1500),
      ev(4, 'exporting to image', 'started', 1500),
      ev(4, 'exporting to image', 'started', 1520, { stream: 'status', text: 'writing image sha256:1' }),
      ev(4, 'exporting to image', 'done', 1530),
    ].filter(keepForTranscript);
    assert.equal(events.length, 9, 'step output is not kept');
    assert.equal(
      noOpTranscript(events, new Set(['[2/3] RUN make', '[3/3] COPY a /a'])),
      `${MEMO_LINE}#1 [1/3] FROM base\n#1 DONE 0.0s\n\n#2 [2/3] RUN make\n#2 CACHED\n\n#3 [3/3] COPY a /a\n#3 CACHED\n\n#4 exporting to image\n#4 0.020 writing image sha256:1\n#4 DONE 0.0s\n\n`,
    );
  });
});

describe('context fingerprint (native)', () => {
  it('changes with every kind of change to the tree, and only then', async (t) => {
    if (skipIf(t, sysAvailable() ? undefined : 'the native addon is not built (npm run build:native)'))
      return;
    const dir = await makeTempDir('strata-fp-');
    try {
      const root = dir.path;
      mkdirSync(join(root, 'sub'));
      writeFileSync(join(root, 'a'), 'aaaa');
      writeFileSync(join(root, 'sub', 'b'), 'bbbb');
      symlinkSync('a', join(root, 'link'));
      const fp = async (pruned?: string[]) => (await treeFingerprint(root, 1000, pruned))?.digest;
      const first = await fp();
      assert.match(first ?? '', /^[0-9a-f]{64}$/);
      assert.equal((await treeFingerprint(root, 1000))?.entries, 5, 'the root and its 4 entries');
      assert.equal(await fp(), first, 'stable when nothing changed');
      assert.deepEqual(
        await treeFingerprint(root, 1000),
        await treeFingerprint(root, 1000),
        'every walk agrees',
      );
      const changes: Array<[string, () => void]> = [
        [
          'content, same size, mtime put back',
          () => {
            writeFileSync(join(root, 'sub', 'b'), 'BBBB');
            utimesSync(join(root, 'sub', 'b'), 1, 1);
          },
        ],
        ['mode', () => chmodSync(join(root, 'a'), 0o600)],
        ['new file deep down', () => writeFileSync(join(root, 'sub', 'c'), '')],
        ['rename', () => renameSync(join(root, 'sub', 'c'), join(root, 'sub', 'd'))],
        ['removal', () => unlinkSync(join(root, 'sub', 'd'))],
        [
          'symlink retargeted',
          () => {
            unlinkSync(join(root, 'link'));
            symlinkSync('sub', join(root, 'link'));
          },
        ],
      ];
      const seen = new Set([first]);
      for (const [what, change] of changes) {
        change();
        const now = await fp();
        assert.ok(!seen.has(now), `unchanged after: ${what}`);
        seen.add(now);
      }
      // A pruned top-level directory counts by name and type: what happens inside does not.
      mkdirSync(join(root, '.git'));
      writeFileSync(join(root, '.git', 'HEAD'), 'ref: a');
      const pruned = await fp(['.git']);
      writeFileSync(join(root, '.git', 'HEAD'), 'ref: b');
      writeFileSync(join(root, '.git', 'index'), 'new');
      assert.equal(await fp(['.git']), pruned, 'changed by what is inside a pruned directory');
      assert.notEqual(await fp(), pruned, 'the same digest with nothing pruned');
      assert.equal(await fp(['.git']), pruned);
      rmSync(join(root, '.git'), { recursive: true });
      writeFileSync(join(root, '.git'), 'gitdir: elsewhere');
      assert.notEqual(await fp(['.git']), pruned, 'a file where the directory was');
      await assert.rejects(treeFingerprint(root, 2) as Promise<unknown>, { code: 'E2BIG' });
      await assert.rejects(treeFingerprint(join(root, 'nope'), 10) as Promise<unknown>, {
        code: 'ENOENT',
      });
    } finally {
      await dir.cleanup();
    }
  });
});

describe('directories the fingerprint leaves out', () => {
  it('are top-level directories .dockerignore excludes whole, not those an exception reaches into', async () => {
    const dir = await makeTempDir('strata-prune-');
    try {
      for (const d of ['.git', 'node_modules', 'logs', 'src', 'build']) mkdirSync(join(dir.path, d));
      writeFileSync(join(dir.path, 'notes'), '');
      writeFileSync(
        join(dir.path, '.dockerignore'),
        '.git\nnode_modules\nlogs\n!logs/keep\nnotes\nbuild/*.o\n',
      );
      assert.deepEqual(await excludedTopDirectories(dir.path), ['.git', 'node_modules']);
      // The .dockerignore beside a Dockerfile elsewhere is the one that counts.
      writeFileSync(join(dir.path, 'Dockerfile.dev.dockerignore'), 'src\n');
      assert.deepEqual(await excludedTopDirectories(dir.path, join(dir.path, 'Dockerfile.dev')), ['src']);
      rmSync(join(dir.path, '.dockerignore'));
      assert.deepEqual(await excludedTopDirectories(dir.path), []);
    } finally {
      await dir.cleanup();
    }
  });
});

describe('writeBuildMemo keeps the folder bounded', () => {
  it('a new record past 512 drops the older half; rewriting an existing one lists nothing', async () => {
    const tmp = await makeTempDir();
    try {
      const dir = join(tmp.path, 'memo');
      const context = join(tmp.path, 'ctx');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      mkdirSync(context);
      const old = Math.floor(Date.now() / 1000) - 3600;
      for (let i = 0; i < 600; i++) {
        writeFileSync(join(dir, `old-${i}`), '');
        utimesSync(join(dir, `old-${i}`), old + i, old + i);
      }
      utimesSync(context, old, old);
      const write = (key: string) =>
        writeBuildMemo({
          dir,
          key: Buffer.from(key),
          contextDir: context,
          context: {
            tree: { digest: 'd'.repeat(64), entries: 1, newestNs: BigInt(old) * 1_000_000_000n },
            pruned: [],
          },
          startedMs: Date.now(),
          journal: new ReadJournal(),
          files: [],
          watched: [],
          blobs: [],
          code: [],
          stdout: '',
          stderr: '',
        });
      assert.equal(write('first'), undefined);
      const afterNew = readdirSync(dir).length;
      assert.ok(afterNew <= 301 && afterNew >= 300, `a new record trimmed the folder: ${afterNew}`);
      assert.ok(!readdirSync(dir).includes('old-0'), 'the oldest went');
      for (let i = 0; i < 300; i++) writeFileSync(join(dir, `more-${i}`), '');
      assert.equal(write('first'), undefined, 'the same invocation again');
      assert.equal(readdirSync(dir).length, afterNew + 300, 'a rewritten record trims nothing');
    } finally {
      await tmp.cleanup();
    }
  });
});

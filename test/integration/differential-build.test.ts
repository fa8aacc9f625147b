// Differential tests: the same Dockerfile and context built by Strata and by Docker's BuildKit
// (a private dockerd, test/helpers/docker-engine.ts), then compared on
//   (a) the image config, normalised (no `created`, no diff IDs),
//   (b) the history: created_by, empty_layer, comment, in order,
//   (c) the flattened filesystem: path, type, mode, uid, gid, size, content hash, link target,
//   (d) each layer's tar entries, whiteouts and opaque markers included,
// ignoring timestamps and compressed bytes. Every case starts from a busybox image that both
// builders make from the same context (`FROM scratch` + `COPY rootfs/ /`), itself compared.
//
// A case whose Dockerfile the engine's BuildKit is too old for (an unknown flag or heredocs)
// is still built by Strata, then skipped loudly with the engine's own error as the reason.
// Where we keep a deliberate difference, the case says so and docs/decisions.md explains it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { buildInStore } from '../../src/build/build-in-store.js';
import type { BuildResult } from '../../src/build/engine.js';
import { exportRootfs } from '../../src/build/export-rootfs.js';
import type { Digest } from '../../src/digest/digest.js';
import { Store } from '../../src/store/store.js';
import { unmountTree } from '../../src/sys/index.js';
import { loadArchive } from '../../src/transfer/load.js';
import { readConformanceJson } from '../helpers/conformance.js';
import { DockerCommandError, type DockerEngine, useDockerEngine } from '../helpers/docker-engine.js';
import {
  entryLine,
  type FsEntry,
  flattenLayers,
  historyLines,
  layerEntries,
  normaliseConfig,
  readArchive,
  savedImage,
  walkTree,
} from '../helpers/image-diff.js';
import { makeBusyboxRootfs, runtimeOrReason, skipIf } from './prereqs.js';

type FileSpec = string | { content: string; mode?: number } | { link: string } | { dir: true };

interface Case {
  name: string;
  dockerfile: string;
  /** The Dockerfile's name in the context (default `Dockerfile`). */
  dockerfileName?: string;
  files?: Record<string, FileSpec>;
  /** Makes files the table cannot describe (a tar archive) in the context. */
  prepare?: (context: string) => Promise<void>;
  buildArgs?: Record<string, string>;
  target?: string;
  /** Tag the result with this name on both sides (later cases build FROM it). */
  tag?: string;
  /** Both builders must fail. */
  expectError?: boolean;
  /** Runs first, with the engine and our store (to give both the same base image). */
  setup?: (s: { docker: DockerEngine['docker']; store: Store; root: string }) => Promise<void>;
  /**
   * A documented difference we keep (docs/decisions.md): rewrites the judge's layers into what
   * we write before they are compared (and flattened).
   */
  judgeLayers?: (layers: FsEntry[][]) => FsEntry[][];
  /** What the case is about, checked on our flattened filesystem besides the comparison. */
  expect?: (fs: Map<string, FsEntry>, config: Record<string, unknown>) => void;
  /** Timestamps are not compared; a case about them maps each side's layers to what must agree. */
  times?: (layers: FsEntry[][]) => unknown;
}

const df = (...lines: string[]) => `${lines.join('\n')}\n`;

/** 2020-01-01, in seconds: a context time no copy made now can have. */
const OLD_TIME = 1577836800;

/** Our history has these created_by lines, in this order (other lines may come between). */
function pinHistory(...lines: string[]): NonNullable<Case['expect']> {
  return (_fs, config) => {
    const ours = ((config.history ?? []) as { created_by?: string }[]).map((h) => h.created_by ?? '');
    let at = 0;
    for (const line of lines) {
      const found = ours.indexOf(line, at);
      assert.ok(found !== -1, `history has ${JSON.stringify(line)} (in order); it is:\n${ours.join('\n')}`);
      at = found + 1;
    }
  };
}

const COMMON_FILES: Record<string, FileSpec> = {
  'a.txt': 'a\n',
  'b.txt': { content: 'b\n', mode: 0o600 },
  'c.md': '# c\n',
  'script.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'dir/x': 'x\n',
  'dir/sub/y': { content: 'y\n', mode: 0o640 },
  'dir/.hidden': 'hidden\n',
  'dir/empty': { dir: true },
  'dir/link': { link: 'x' },
  'link.txt': { link: 'a.txt' },
  linkdir: { link: 'dir' },
};

/** Tar archives (plain, gzip, xz, bzip2) with owners, modes, a symlink and a hardlink, made by GNU tar. */
async function makeTarGz(context: string): Promise<void> {
  const src = await mkdtemp(join(tmpdir(), 'strata-diff-tar-'));
  try {
    await mkdir(join(src, 'app', 'bin'), { recursive: true });
    await mkdir(join(src, 'app', 'private'), { mode: 0o700 });
    await writeFile(join(src, 'app', 'bin', 'run'), '#!/bin/sh\necho run\n', { mode: 0o755 });
    await writeFile(join(src, 'app', 'private', 'key'), 'secret\n', { mode: 0o600 });
    await writeFile(join(src, 'app', 'README'), 'readme\n');
    await symlink('bin/run', join(src, 'app', 'run-link'));
    execFileSync('ln', [join(src, 'app', 'README'), join(src, 'app', 'README.hard')]);
    const tar = (flag: string, name: string) =>
      execFileSync('tar', [
        '-C',
        src,
        '--owner=12',
        '--group=34',
        '--numeric-owner',
        '--sort=name',
        flag,
        join(context, name),
        'app',
      ]);
    tar('-czf', 'app.tar.gz');
    tar('-cf', 'app.tar');
    tar('-cJf', 'app.tar.xz');
    tar('-cjf', 'app.tar.bz2');
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}

const cases: Case[] = [
  {
    name: 'ENV, LABEL, ARG: scoping and expansion, --build-arg, global ARG in FROM, MAINTAINER',
    buildArgs: { NAME: 'given', W: 'w-arg', UNUSED: 'unused' },
    dockerfile: df(
      'ARG TAG=latest',
      'ARG NAME',
      'ARG BASE=busybox',
      'FROM ${BASE}:${TAG} AS one',
      'ARG TAG',
      'ARG NAME=default',
      'ARG V=1 W',
      'ENV A=$V B="x y" C=${W:-dflt} D=${UNSET:-fallback} E=${TAG:+set}',
      'ENV A=${A}2 \\',
      '    F=$NAME',
      'ENV LEGACY value with spaces',
      'LABEL l1=$A "l 2"="v 2" esc="a\\"b"',
      'MAINTAINER Someone <someone@example.com>',
      'ARG V=3',
      'RUN echo "$V $W $A $NAME $TAG" > /args',
      'ENV V=env',
      'RUN echo "$V" > /v',
    ),
    // As BuildKit at 73ed682 writes them: resolved ARG values, one RUN prefix entry per name.
    expect: pinHistory(
      'ARG TAG=latest',
      'ARG NAME=given',
      'ARG V=1 W=w-arg',
      'ARG V=3',
      'RUN |4 TAG=latest NAME=given V=3 W=w-arg /bin/sh -c echo "$V $W $A $NAME $TAG" > /args # buildkit',
      'RUN |4 TAG=latest NAME=given V=env W=w-arg /bin/sh -c echo "$V" > /v # buildkit',
    ),
  },
  {
    name: 'WORKDIR: relative chains, expansion, an existing directory, COPY relative to it',
    files: { 'f.txt': 'f\n' },
    dockerfile: df(
      'FROM busybox',
      'WORKDIR /a',
      'WORKDIR b',
      'WORKDIR ../c/./d',
      'ENV DIR=sub',
      'WORKDIR $DIR',
      'WORKDIR /tmp',
      'WORKDIR /',
      'RUN pwd > /pwd',
      'WORKDIR /a/b',
      'COPY f.txt .',
      'COPY f.txt rel/',
    ),
  },
  {
    name: 'USER with WORKDIR: RUN as a named and a numeric user',
    dockerfile: df(
      'FROM busybox',
      'USER app',
      'WORKDIR /tmp/work/dir',
      'RUN id -u > uid && id -g > gid && pwd > pwd && touch made && mkdir madedir',
      'USER svc:other',
      'RUN id > /tmp/id-svc',
      'USER 1234:5678',
      'WORKDIR /tmp/numeric',
      'RUN touch /tmp/numeric/made',
    ),
  },
  {
    name: 'EXPOSE ranges, VOLUME, STOPSIGNAL, HEALTHCHECK exec form',
    dockerfile: df(
      'FROM busybox',
      'EXPOSE 80 443/tcp 53/udp 8000-8002 9000-9001/udp',
      'EXPOSE 80/tcp',
      'VOLUME /data',
      'VOLUME ["/var/log", "/var/db"]',
      'STOPSIGNAL SIGKILL',
      'HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=4 CMD ["/bin/true"]',
    ),
    expect: pinHistory(
      'EXPOSE [80/tcp 443/tcp 53/udp 8000/tcp 8001/tcp 8002/tcp 9000/udp 9001/udp]',
      'EXPOSE [80/tcp]',
      'HEALTHCHECK {Test:[CMD /bin/true] Interval:5s Timeout:3s StartPeriod:2s StartInterval:0s Retries:4}',
    ),
  },
  {
    name: 'HEALTHCHECK shell form',
    tag: 'strata-diff-hc',
    dockerfile: df('FROM busybox', 'HEALTHCHECK CMD wget -q -O- http://localhost/ || exit 1'),
  },
  {
    name: 'HEALTHCHECK NONE over an inherited one',
    dockerfile: df('FROM strata-diff-hc', 'HEALTHCHECK NONE'),
    expect: pinHistory(
      'HEALTHCHECK {Test:[CMD-SHELL wget -q -O- http://localhost/ || exit 1] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}',
      'HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}',
    ),
  },
  {
    name: 'SHELL: RUN, CMD and ENTRYPOINT shell forms go through it',
    dockerfile: df(
      'FROM busybox',
      'SHELL ["/bin/sh", "-ec"]',
      'RUN echo "$0 $-" > /shell',
      'CMD echo from shell',
      'ENTRYPOINT echo entry',
    ),
  },
  ...['exec-entry', 'same-stage', 'shell-forms', 'entry-only'].map(
    (target): Case => ({
      name: `CMD and ENTRYPOINT (${target})`,
      target,
      dockerfile: df(
        'FROM busybox AS base',
        'CMD ["echo", "base"]',
        'FROM base AS exec-entry',
        'ENTRYPOINT ["/bin/echo", "x"]',
        'FROM base AS same-stage',
        'CMD ["a"]',
        'ENTRYPOINT ["b"]',
        'FROM busybox AS shell-forms',
        'ENTRYPOINT /bin/echo hi',
        'CMD echo there',
        'FROM busybox AS entry-only',
        'ENTRYPOINT ["/bin/true"]',
      ),
    }),
  ),
  {
    name: 'ONBUILD triggers are stored',
    target: 'parent',
    tag: 'strata-diff-onbuild',
    dockerfile: df(
      'FROM busybox AS parent',
      'ONBUILD RUN echo triggered > /onbuild',
      'ONBUILD ENV FROM_ONBUILD=1',
      'FROM parent AS child',
      'RUN echo child > /child',
    ),
  },
  {
    name: 'ONBUILD triggers run in a stage built on a stage with them',
    target: 'child',
    dockerfile: df(
      'FROM busybox AS parent',
      'ONBUILD RUN echo triggered > /onbuild',
      'ONBUILD ENV FROM_ONBUILD=1',
      'FROM parent AS child',
      'RUN echo child > /child',
    ),
  },
  {
    name: 'ONBUILD triggers run in an image built FROM an image with them',
    dockerfile: df('FROM strata-diff-onbuild', 'RUN echo after > /after'),
  },
  {
    name: 'FROM an image docker imported (loaded into Strata from docker save): the fields BuildKit does not know are dropped',
    setup: async ({ docker, store, root }) => {
      const rootfsTar = join(root, 'imported-rootfs.tar');
      execFileSync('tar', ['-C', join(root, 'base', 'rootfs'), '-cf', rootfsTar, '.']);
      await docker(['import', '-c', 'CMD ["/bin/sh"]', '-c', 'ENV X=1', rootfsTar, 'strata-diff-imported']);
      const saved = join(root, 'imported-save.tar');
      await docker(['save', '-o', saved, 'strata-diff-imported']);
      await loadArchive(store, createReadStream(saved));
    },
    dockerfile: df('FROM strata-diff-imported', 'ENV Y=2', 'RUN echo hi > /hi'),
  },
  {
    name: 'COPY: files, directories, wildcards, trailing slash, several sources, symlink sources',
    files: COMMON_FILES,
    dockerfile: df(
      'FROM busybox',
      'COPY a.txt /dst/',
      'COPY a.txt /dst/renamed',
      'COPY b.txt script.sh /multi/',
      'COPY dir /dir-contents',
      'COPY dir/ /dir-slash/',
      'COPY *.txt /wild/',
      'COPY d?r/sub /q/',
      'COPY [ab].txt /class/',
      'COPY a.txt relative',
      'WORKDIR /w',
      'COPY a.txt .',
      'COPY dir ./nested/',
      'COPY link.txt /links/',
      'COPY linkdir /links/dir/',
      'COPY dir/link /links/inner',
      'COPY a.txt /etc/',
    ),
  },
  {
    // The edit replay (docs/decisions.md) writes directories the same way: the copy's time for
    // one it writes into, its own for an empty one.
    name: 'COPY of a directory: the directories it writes into get the copy’s time, an empty one keeps its own',
    files: { 'tree/sub/f': 'f\n', 'tree/g': 'g\n', 'tree/empty': { dir: true } },
    prepare: async (ctx) => {
      const old = new Date('2020-01-01T00:00:00Z');
      for (const d of ['tree/sub', 'tree/empty', 'tree']) await utimes(join(ctx, d), old, old);
    },
    dockerfile: df('FROM busybox', 'COPY tree/ /t/', 'COPY tree /u/tree'),
    times: (layers) =>
      layers.slice(-2).map((layer) =>
        layer
          .filter((e) => e.type === 'dir')
          .map(
            (e) =>
              `${e.path} ${e.mtime === OLD_TIME ? 'its own time' : (e.mtime ?? 0) > OLD_TIME ? 'the copy’s time' : e.mtime}`,
          )
          .sort(),
      ),
  },
  {
    name: 'COPY to a destination through a symlink in the image, and over an existing file',
    files: COMMON_FILES,
    dockerfile: df(
      'FROM busybox',
      'RUN ln -s /tmp /tlink && mkdir /tmp/sub && ln -s sub /tmp/rel && echo old > /tmp/over',
      'COPY a.txt /tlink/',
      'COPY b.txt /tlink/rel/',
      'COPY dir /tlink/rel/tree/',
      'COPY script.sh /tmp/over',
    ),
  },
  {
    name: 'COPY --chown (names through /etc/passwd and /etc/group) and --chmod',
    files: COMMON_FILES,
    dockerfile: df(
      'FROM busybox',
      'COPY --chown=app:app a.txt /o/app-app',
      'COPY --chown=svc a.txt /o/svc',
      'COPY --chown=1234:5678 a.txt /o/numeric',
      'COPY --chown=svc:other dir /o/dir/',
      'COPY --chown=0:app a.txt /o/root-app',
      'COPY --chmod=640 a.txt /m/file',
      'COPY --chmod=750 dir /m/dir/',
      'COPY --chown=app --chmod=600 script.sh /m/both',
    ),
    expect: pinHistory(
      'COPY --chown=app:app a.txt /o/app-app # buildkit',
      'COPY --chown=svc:other dir /o/dir/ # buildkit',
      'COPY --chmod=640 a.txt /m/file # buildkit',
      'COPY --chown=app --chmod=600 script.sh /m/both # buildkit',
    ),
  },
  {
    name: 'COPY --from a stage (owners kept), by index, from an image, through a symlink',
    dockerfile: df(
      'FROM busybox AS build',
      'RUN mkdir -p /out/sub && echo built > /out/sub/f && chown -R 1000:1000 /out && ln -s sub/f /out/l',
      'FROM busybox',
      'COPY --from=build /out /from-stage/',
      'COPY --from=build /out/l /deref',
      'COPY --from=0 /out/sub/f /by-index',
      'COPY --from=busybox /bin/sh /sh-from-image',
      'COPY --from=build --chown=svc /out /chowned/',
    ),
    expect: pinHistory('COPY /out/l /deref # buildkit', 'COPY --chown=svc /out /chowned/ # buildkit'),
  },
  {
    name: 'COPY heredoc',
    dockerfile: df('FROM busybox', 'COPY <<EOF /h.txt', 'hello', 'EOF'),
  },
  {
    name: 'COPY --parents',
    files: COMMON_FILES,
    dockerfile: df('FROM busybox', 'COPY --parents dir/sub/y a.txt /p/'),
  },
  {
    name: 'COPY --exclude',
    files: COMMON_FILES,
    dockerfile: df('FROM busybox', 'COPY --exclude=*.md --exclude=dir/sub . /e/'),
  },
  {
    name: 'COPY --link',
    files: COMMON_FILES,
    dockerfile: df('FROM busybox', 'COPY --link a.txt dir /l/'),
  },
  {
    name: 'ADD: local tar archives (plain, gzip, xz, bzip2) are unpacked with owners, modes and links; a plain file is copied',
    files: { 'plain.txt': 'plain\n', ...COMMON_FILES },
    prepare: makeTarGz,
    dockerfile: df(
      'FROM busybox',
      'ADD app.tar.gz /opt/',
      'ADD app.tar.gz /opt/named.tar.gz',
      'ADD app.tar /plain-tar/',
      'ADD app.tar.xz /xz/',
      'ADD app.tar.bz2 /bz2/',
      'ADD plain.txt /opt/plain',
      'ADD --chown=app dir /added/',
    ),
    expect: pinHistory('ADD app.tar.gz /opt/ # buildkit', 'ADD --chown=app dir /added/ # buildkit'),
  },
  ...['build', 'final'].map(
    (target): Case => ({
      name: `multi-stage, --target ${target}: stages it does not need are not built`,
      target,
      dockerfile: df(
        'FROM busybox AS base',
        'ENV STAGE=base',
        'RUN echo base > /base',
        'FROM base AS build',
        'RUN echo build > /build',
        'FROM busybox AS unused',
        'RUN exit 1',
        'FROM build AS final',
        'COPY --from=base /base /copied-base',
        'RUN echo final > /final',
      ),
    }),
  ),
  {
    name: 'RUN creates, modifies and deletes files, deletes a whole directory, replaces a directory',
    dockerfile: df(
      'FROM busybox',
      'RUN mkdir -p /data/keep /data/gone/deep /data/replaced /data/dir2file' +
        ' && echo old > /data/replaced/old && echo a > /data/keep/a && echo x > /data/file' +
        ' && echo y > /data/gone/deep/y && echo z > /data/dir2file/z && echo f > /data/file2dir' +
        ' && echo m > /data/mode && ln -s keep /data/link && echo h > /data/hard1 && ln /data/hard1 /data/hard2' +
        ' && mkdir /data/owned && echo o > /data/owned/o && chown -R 1000:1000 /data/owned',
      'RUN echo new > /data/new && echo changed > /data/keep/a && rm /data/file && rm -r /data/gone' +
        ' && rm -r /data/replaced && mkdir /data/replaced && echo fresh > /data/replaced/fresh' +
        ' && rm -r /data/dir2file && echo now-a-file > /data/dir2file' +
        ' && rm /data/file2dir && mkdir /data/file2dir && chmod 600 /data/mode' +
        ' && ln -sfn replaced /data/link && rm /etc/group && rm -r /root && mkdir /tmp/made' +
        ' && rm -r /data/owned && mkdir -m 750 /data/owned && chown 1000:1003 /data/owned',
    ),
  },
  {
    name: 'RUN on a base without /dev, /proc, /sys and /etc: no mount point is left in the layer',
    prepare: async (ctx) => {
      await mkdir(join(ctx, 'min'), { recursive: true });
      execFileSync('cp', ['-a', join(dirname(ctx), 'base', 'rootfs', 'bin'), join(ctx, 'min', 'bin')]);
    },
    dockerfile: df('FROM scratch', 'COPY min/ /', 'RUN echo hi > /hi'),
    // Docker 20.10's BuildKit leaves the directories runc made for its mounts (and the /etc that
    // held the /etc/hosts stub) in the layer; Strata removes every stub it made, files and
    // directories, so its layer is only the change. Checked: the judge's extra entries are
    // exactly those empty directories.
    judgeLayers: (layers) =>
      layers.map((layer, i) => {
        if (i === 0) return layer;
        const stubs = ['dev', 'etc', 'proc', 'sys'];
        const extra = layer.filter((e) => stubs.includes(e.path));
        assert.deepEqual(
          extra.map((e) => `${e.path} ${e.type}`),
          stubs.map((p) => `${p} dir`),
        );
        return layer.filter((e) => !stubs.includes(e.path));
      }),
  },
  {
    // BuildKit keeps the layer of a step that ran, even when it changed nothing (an empty tar),
    // and its history entry is not empty_layer.
    name: 'steps that change nothing still give a (empty) layer',
    dockerfile: df('FROM busybox', 'RUN true', 'WORKDIR /tmp', 'ENV A=1', 'RUN touch /x'),
  },
];

interface ContextBuild {
  id: string;
  context: Record<string, string>;
  expectInImage?: Record<string, string>;
  expectAbsent?: string[];
  expectBuildError?: boolean;
  builds?: { dockerfile: string; expectSuccess: boolean }[];
}

const { buildkitContextBuilds } = await readConformanceJson<{
  buildkitContextBuilds: { cases: ContextBuild[] };
}>('dockerignore', 'walk-cases.json');

for (const c of buildkitContextBuilds.cases) {
  for (const b of c.builds ?? [{ dockerfile: 'Dockerfile', expectSuccess: !c.expectBuildError }]) {
    cases.push({
      name: `.dockerignore: ${c.id} (${b.dockerfile})`,
      dockerfileName: b.dockerfile,
      dockerfile: c.context[b.dockerfile] as string,
      files: Object.fromEntries(Object.entries(c.context).filter(([k]) => k !== b.dockerfile)),
      ...(b.expectSuccess ? {} : { expectError: true }),
      expect: (fs) => {
        for (const [name, content] of Object.entries(c.expectInImage ?? {})) {
          const sha256 = createHash('sha256').update(content).digest('hex');
          assert.equal(fs.get(name)?.sha256, sha256, `${name} is in the image with its content`);
        }
        for (const name of c.expectAbsent ?? []) assert.ok(!fs.has(name), `${name} is not in the image`);
      },
    });
  }
}

/**
 * History lines whose form changed across BuildKit versions. Strata writes them as BuildKit
 * does at the corpus commit (73ed682; see docs/decisions.md); an older judge (docker 20.10
 * embeds BuildKit 0.8) writes the older form. Both sides are compared in a form every version
 * shares, and each case's `expect` pins the exact line Strata writes.
 * - EXPOSE: `EXPOSE map[443/tcp:{} 80/tcp:{}]` before 2025, now `EXPOSE [80/tcp 443/tcp]`
 *   (the ports as given): compared as the sorted set (ExposedPorts is compared exactly).
 * - HEALTHCHECK: `%q` of a pointer before 2025, now `%+v` of the struct: compared without it
 *   (Healthcheck is compared exactly in the config).
 * - ARG: the line as written before v0.15, now the resolved values: compared by names.
 * - RUN's `|N K=V…` prefix: one entry per ARG line before 2025 (a re-declared ARG appears
 *   twice), now one per name (first place, last value): the old form is brought to the new.
 * - COPY/ADD: `--chown`/`--chmod` appear in the line since v0.13: compared without them.
 */
function canonicalHistory(line: string): string {
  if (line.startsWith('EXPOSE ')) {
    const ports = line.match(/\d+(?:-\d+)?\/[a-z]+/g) ?? [];
    return `EXPOSE ${[...new Set(ports)].sort().join(' ')}`;
  }
  if (line.startsWith('HEALTHCHECK ')) return 'HEALTHCHECK (compared in the config)';
  if (line.startsWith('ARG ')) {
    return `ARG ${line
      .slice(4)
      .split(' ')
      .map((kv) => kv.split('=')[0])
      .join(' ')}`;
  }
  const run = /^RUN \|(\d+) (.*)$/.exec(line);
  if (run) {
    const words = (run[2] as string).split(' ');
    const n = Number(run[1]);
    const args = new Map<string, string>();
    for (const kv of words.slice(0, n)) {
      const eq = kv.indexOf('=');
      args.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    const prefix = [...args].map(([k, v]) => `${k}=${v}`).join(' ');
    return `RUN |${args.size} ${prefix} ${words.slice(n).join(' ')}`;
  }
  if (/^(COPY|ADD) /.test(line)) return line.replace(/ --ch(own|mod)=\S+/g, '');
  return line;
}

/** The judge's config as current BuildKit would write it: `OnBuild: null` is omitted since v0.13. */
function canonicalJudgeConfig(config: Record<string, unknown>): Record<string, unknown> {
  const cfg = config.config as Record<string, unknown> | undefined;
  if (cfg && cfg.OnBuild === null) {
    const { OnBuild: _omitted, ...rest } = cfg;
    return { ...config, config: rest };
  }
  return config;
}

async function writeContext(dir: string, files: Record<string, FileSpec>): Promise<void> {
  for (const [name, spec] of Object.entries(files)) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    if (typeof spec === 'string') await writeFile(path, spec);
    else if ('link' in spec) await symlink(spec.link, path);
    else if ('dir' in spec) await mkdir(path, { recursive: true });
    else {
      await writeFile(path, spec.content);
      if (spec.mode !== undefined) execFileSync('chmod', [spec.mode.toString(8), path]);
    }
  }
}

const runtime = await runtimeOrReason();
const runtimeReason = typeof runtime === 'string' ? runtime : undefined;

describe('differential: Strata vs BuildKit', { concurrency: false }, () => {
  const handle = useDockerEngine();
  let root: string;
  let store: Store;
  let baseReady: Promise<void> | undefined;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-diff-'));
    store = await Store.open(join(root, 'store'));
    const e = handle.engine;
    if (e)
      console.log(
        `differential judge: docker ${e.clientVersion} (CLI ${e.client}), engine ${e.serverVersion}`,
      );
  });
  after(async () => {
    if (!root) return;
    unmountTree(root);
    await rm(root, { recursive: true, force: true });
  });

  let counter = 0;

  /** Builds `c` with both and compares; fails with every difference found. */
  async function differential(c: Case, t: TestContext): Promise<void> {
    const engine = handle.engine;
    assert.ok(engine);
    const n = ++counter;
    const ctx = join(root, `case-${n}`);
    await mkdir(ctx, { recursive: true });
    await c.setup?.({ docker: engine.docker, store, root });
    await writeContext(ctx, c.files ?? {});
    await c.prepare?.(ctx);
    const dockerfileName = c.dockerfileName ?? 'Dockerfile';
    await writeFile(join(ctx, dockerfileName), c.dockerfile);
    const name = `strata-diff-${n}`;

    let dockerError: DockerCommandError | undefined;
    try {
      await engine.docker([
        'build',
        '--network',
        'host',
        '-t',
        name,
        ...(c.tag ? ['-t', c.tag] : []),
        '-f',
        join(ctx, dockerfileName),
        ...Object.entries(c.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
        ...(c.target ? ['--target', c.target] : []),
        ctx,
      ]);
    } catch (err) {
      if (!(err instanceof DockerCommandError)) throw err;
      dockerError = err;
    }
    let ours: BuildResult | undefined;
    let oursError: unknown;
    try {
      ours = await buildInStore(store, {
        contextDir: ctx,
        dockerfile: { text: c.dockerfile, name: dockerfileName, path: join(ctx, dockerfileName) },
        ...(c.buildArgs ? { buildArgs: c.buildArgs } : {}),
        ...(c.target ? { target: c.target } : {}),
        tags: [name, ...(c.tag ? [c.tag] : [])],
      });
    } catch (err) {
      oursError = err;
    }

    if (c.expectError) {
      assert.ok(dockerError, 'BuildKit fails this build');
      assert.ok(oursError, 'Strata fails this build');
      return;
    }
    if (dockerError) {
      // The engine's frontend is too old for this Dockerfile (a flag, heredocs).
      if (/dockerfile parse error .*(Unknown flag|unknown instruction)/i.test(dockerError.stderr)) {
        if (!ours) throw oursError;
        const line = dockerError.stderr.trim().split('\n').slice(-1)[0] ?? '';
        skipIf(
          t,
          `docker ${engine.serverVersion}'s BuildKit cannot build this Dockerfile (${line.trim()}); Strata built it, nothing compared`,
        );
        return;
      }
      throw dockerError;
    }
    if (!ours) throw oursError;

    // Docker's side: `docker save`.
    const archive = join(root, `${name}.tar`);
    await engine.docker(['save', '-o', archive, name]);
    const theirs = await savedImage(await readArchive(createReadStream(archive)));
    if (c.judgeLayers) theirs.layers = c.judgeLayers(theirs.layers);
    // Ours: the config blob as stored, the layers from the store, the image flattened.
    const ourConfig = JSON.parse(
      Buffer.from(await store.content.readBytes(ours.image.id as Digest)).toString('utf8'),
    ) as Record<string, unknown>;
    const ourLayers: FsEntry[][] = [];
    for (const l of ours.image.manifest.layers)
      ourLayers.push(await layerEntries(await store.content.open(l.digest)));
    const flat = join(root, `${name}-flat`);
    await exportRootfs(store.content, ours.image, flat);
    const ourFs = await walkTree(flat);

    const problems: string[] = [];
    const compare = (what: string, actual: unknown, expected: unknown) => {
      try {
        assert.deepEqual(actual, expected);
      } catch (err) {
        problems.push(`${what} differs (actual: Strata, expected: BuildKit)\n${(err as Error).message}`);
      }
    };
    const judgeConfig = canonicalJudgeConfig(theirs.config);
    compare('config', normaliseConfig(ourConfig, judgeConfig), normaliseConfig(judgeConfig, ourConfig));
    compare(
      'history',
      historyLines(ourConfig, canonicalHistory),
      historyLines(judgeConfig, canonicalHistory),
    );
    compare(
      'layers',
      ourLayers.map((l) => l.map(entryLine).sort()),
      theirs.layers.map((l) => l.map(entryLine).sort()),
    );
    compare('filesystem', ourFs.map(entryLine), flattenLayers(theirs.layers).map(entryLine));
    if (c.times) compare('times', c.times(ourLayers), c.times(theirs.layers));
    if (c.expect) {
      try {
        c.expect(new Map(ourFs.map((e) => [e.path, e])), ourConfig);
      } catch (err) {
        problems.push(`expectation: ${(err as Error).message}`);
      }
    }
    await rm(flat, { recursive: true, force: true });
    await rm(archive, { force: true });
    assert.equal(problems.length, 0, `${c.name}:\n${problems.join('\n\n')}`);
  }

  /** The base both builders start from: busybox-static with applet links and a small /etc. */
  function base(): Promise<void> {
    baseReady ??= (async () => {
      const rootfs = join(root, 'base', 'rootfs');
      await mkdir(rootfs, { recursive: true });
      await makeBusyboxRootfs(rootfs);
      await appendFile(join(rootfs, 'etc', 'passwd'), 'svc:x:1001:1002::/home/svc:/bin/sh\n');
      await appendFile(join(rootfs, 'etc', 'group'), 'svcgrp:x:1002:\nother:x:1003:\n');
    })();
    return baseReady;
  }

  test('the busybox base: FROM scratch + COPY rootfs/ /', { timeout: 120_000 }, async (t) => {
    if (handle.skip(t)) return;
    if (skipIf(t, runtimeReason)) return;
    await base();
    await differential(
      {
        name: 'base',
        dockerfile: df('FROM scratch', 'COPY rootfs/ /'),
        tag: 'busybox',
        prepare: async (ctx) => {
          execFileSync('cp', ['-a', join(root, 'base', 'rootfs'), join(ctx, 'rootfs')]);
        },
      },
      t,
    );
  });

  for (const c of cases) {
    test(c.name, { timeout: 120_000 }, async (t) => {
      if (handle.skip(t)) return;
      if (skipIf(t, runtimeReason)) return;
      await base();
      await differential(c, t);
    });
  }
});

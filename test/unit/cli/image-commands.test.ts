// The image commands run in-process against a temp store (STRATA_ROOT), checking the output
// shape docker users and scripts rely on: column headers, <none>/<missing>, truncation, JSON.

import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { parseArgs } from '../../../src/cli/args.js';
import type { CommandContext } from '../../../src/cli/command.js';
import { imageCommands } from '../../../src/cli/image-commands.js';
import { humanSizeWithPrecision } from '../../../src/cli/render/units.js';
import { resolveStoreRoot } from '../../../src/cli/store-root.js';
import { digestHex } from '../../../src/digest/digest.js';
import type { StoredImage } from '../../../src/store/image-store.js';
import { randomImage, tarBytes, withStore } from '../../helpers/image-fixtures.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk, _e, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

async function strata(root: string, argv: string[], stdin: Buffer = Buffer.alloc(0)): Promise<Run> {
  const def = [...imageCommands]
    .sort((a, b) => b.path.length - a.path.length)
    .find((d) => d.path.every((w, i) => argv[i] === w));
  assert.ok(def, `no command for ${argv.join(' ')}`);
  const out = collector();
  const err = collector();
  const ctx: CommandContext = {
    args: parseArgs(argv.slice(def.path.length), def.options),
    stdin: Readable.from([stdin]),
    stdout: out.stream,
    stderr: err.stream,
    env: { STRATA_ROOT: root },
    cwd: process.cwd(),
    signal: new AbortController().signal,
  };
  const mod = await def.load();
  let code: number;
  try {
    code = await mod.run(ctx);
  } catch (e) {
    err.stream.write(`error: ${(e as Error).message}\n`);
    code = 1;
  }
  return { code, stdout: out.text(), stderr: err.text() };
}

const short = (image: StoredImage) => digestHex(image.id).slice(0, 12);

describe('strata images', () => {
  it('prints docker’s table, one row per tag, <none> for dangling images', async () => {
    await withStore(async (store, root) => {
      assert.equal(
        (await strata(root, ['images'])).stdout,
        'REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n',
      );
      const app = await randomImage(store);
      await store.images.tag(app, 'app:1.0');
      await store.images.tag(app, 'localhost:5000/team/app:latest');
      const dangling = await randomImage(store);
      const { stdout, code } = await strata(root, ['images']);
      assert.equal(code, 0);
      const lines = stdout.trimEnd().split('\n');
      assert.match(lines[0] as string, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
      const rows = lines.slice(1).map((l) => l.split(/ {3,}/));
      const size = humanSizeWithPrecision(await store.images.imageSize(app), 3);
      assert.deepEqual(
        rows.map((r) => [r[0], r[1], r[2], r[4]]).sort(),
        [
          ['app', '1.0', short(app), size],
          ['localhost:5000/team/app', 'latest', short(app), size],
          [
            '<none>',
            '<none>',
            short(dangling),
            humanSizeWithPrecision(await store.images.imageSize(dangling), 3),
          ],
        ].sort(),
      );
      assert.match(rows[0]?.[3] as string, /^(\d+|\d\d) (months|years) ago$/, 'created 2024-01-02');
    });
  });

  it('-q, --no-trunc, --digests, --format and --filter', async () => {
    await withStore(async (store, root) => {
      const app = await randomImage(store);
      await store.images.tag(app, 'app:1.0');
      const dangling = await randomImage(store, { created: '2023-01-01T00:00:00Z' });
      assert.equal((await strata(root, ['images', '-q'])).stdout, `${short(app)}\n${short(dangling)}\n`);
      assert.equal(
        (await strata(root, ['images', '-q', '--no-trunc'])).stdout,
        `${app.id}\n${dangling.id}\n`,
      );
      const digests = (await strata(root, ['images', '--digests'])).stdout.split('\n');
      assert.match(digests[0] as string, /^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE$/);
      assert.ok(digests[1]?.includes(app.manifestDescriptor.digest));
      assert.equal(
        (await strata(root, ['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout,
        'app:1.0\n<none>:<none>\n',
      );
      assert.equal(
        (await strata(root, ['images', '--format', 'table {{.Repository}}\\t{{.ID}}'])).stdout,
        `REPOSITORY   IMAGE ID\napp          ${short(app)}\n<none>       ${short(dangling)}\n`,
      );
      const json = (await strata(root, ['image', 'ls', '--format', 'json'])).stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(Object.keys(json[0]), [
        'Containers',
        'CreatedAt',
        'CreatedSince',
        'Digest',
        'ID',
        'Repository',
        'SharedSize',
        'Size',
        'Tag',
        'UniqueSize',
        'VirtualSize',
      ]);
      assert.equal(json[0].CreatedAt, '2024-01-02 03:04:05 +0000 UTC');
      assert.equal(
        (await strata(root, ['images', '-q', '--filter', 'dangling=true'])).stdout,
        `${short(dangling)}\n`,
      );
      assert.equal((await strata(root, ['images', '-q', 'app'])).stdout, `${short(app)}\n`);
      assert.equal((await strata(root, ['images', '-q', 'app:2'])).stdout, '');
      const bad = await strata(root, ['images', '--filter', 'colour=red']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /invalid filter 'colour'/);
    });
  });
});

describe('strata history', () => {
  it('newest first, <missing> below the top, CREATED BY cut at 45 with …', async () => {
    await withStore(async (store, root) => {
      const image = await randomImage(store, { layers: 2 });
      await store.images.tag(image, 'app:1');
      const { stdout } = await strata(root, ['history', 'app:1']);
      const lines = stdout.trimEnd().split('\n');
      assert.match(lines[0] as string, /^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
      const rows = lines.slice(1).map((l) => l.split(/ {3,}/));
      assert.equal(rows.length, 3);
      assert.deepEqual(
        rows.map((r) => r[0]),
        [short(image), '<missing>', '<missing>'],
      );
      assert.equal(rows[0]?.[2], 'CMD ["/bin/sh"]');
      assert.equal(rows[0]?.[3], '0B');
      const cut = rows[1]?.[2] as string;
      assert.equal([...cut].length, 45);
      assert.ok(cut.endsWith('…'));
      assert.ok('/bin/sh -c echo layer 1 > /layer-1.txt && a very long'.startsWith(cut.slice(0, -1)));
      const sizes = await store.images.layerSizes(image);
      assert.equal(rows[1]?.[3], humanSizeWithPrecision(sizes[1] as number, 3));
      assert.equal(rows[1]?.[4], 'buildkit.dockerfile.v0');

      const raw = (await strata(root, ['history', '-H=false', '--no-trunc', 'app:1'])).stdout.split('\n');
      assert.match(raw[0] as string, /^IMAGE +CREATED AT +CREATED BY +SIZE +COMMENT$/);
      assert.ok(raw[1]?.startsWith(image.id));
      assert.ok(raw[1]?.includes('2024-01-02T03:04:05Z'));
      assert.ok(raw[2]?.includes('a very long command line that goes on'));
      assert.ok(raw[2]?.includes(` ${sizes[1]} `));
      assert.equal(
        (await strata(root, ['history', '-q', 'app:1'])).stdout,
        `${short(image)}\n<missing>\n<missing>\n`,
      );
      const json = (await strata(root, ['history', '--format', 'json', 'app:1'])).stdout.trim().split('\n');
      assert.deepEqual(Object.keys(JSON.parse(json[0] as string)), [
        'Comment',
        'CreatedAt',
        'CreatedBy',
        'CreatedSince',
        'ID',
        'Size',
      ]);
    });
  });
});

describe('strata inspect', () => {
  it("prints docker's fields in docker's order, and --format templates", async () => {
    await withStore(async (store, root) => {
      const image = await randomImage(store);
      await store.images.tag(image, 'app:1');
      const { stdout, code } = await strata(root, ['inspect', 'app:1']);
      assert.equal(code, 0);
      assert.ok(stdout.startsWith('[\n    {\n        "Id": '), 'four-space indent');
      const [doc] = JSON.parse(stdout);
      assert.deepEqual(Object.keys(doc), [
        'Id',
        'RepoTags',
        'RepoDigests',
        'Parent',
        'Comment',
        'Created',
        'DockerVersion',
        'Author',
        'Config',
        'Architecture',
        'Os',
        'Size',
        'RootFS',
        'Metadata',
        'Descriptor',
        'History',
      ]);
      assert.equal(doc.Id, image.id);
      assert.deepEqual(doc.RepoTags, ['app:1']);
      assert.deepEqual(doc.RepoDigests, [`app@${image.manifestDescriptor.digest}`]);
      assert.equal(doc.Comment, 'buildkit.dockerfile.v0', 'the last history comment, as docker');
      assert.equal(doc.Created, '2024-01-02T03:04:05Z');
      assert.deepEqual(doc.RootFS, { Type: 'layers', Layers: image.config.rootfs.diff_ids });
      assert.equal(doc.Size, await store.images.imageSize(image));
      assert.deepEqual(Object.keys(doc.Config), ['Env', 'Cmd']);
      assert.match(doc.Metadata.LastTagTime, /^\d{4}-\d\d-\d\dT/);

      assert.equal(
        (await strata(root, ['image', 'inspect', '--format', '{{.Id}}', 'app:1'])).stdout,
        `${image.id}\n`,
      );
      assert.equal(
        (await strata(root, ['inspect', '-f', '{{json .Config}}', 'app:1'])).stdout,
        '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]}\n',
      );
      assert.equal(
        (await strata(root, ['inspect', '-f', '{{.Os}}/{{.Architecture}} {{.RepoTags}}', 'app:1'])).stdout,
        'linux/amd64 [app:1]\n',
      );
      const missing = await strata(root, ['inspect', 'app:1', 'nothere']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /No such image: nothere/);
      assert.equal(JSON.parse(missing.stdout).length, 1);
      assert.equal((await strata(root, ['inspect', 'nothere'])).stdout, '[]\n');
    });
  });
});

describe('strata tag / rmi / import', () => {
  it('tags, untags and deletes with docker’s lines; rmi goes on after a failure', async () => {
    await withStore(async (store, root) => {
      const image = await randomImage(store);
      assert.equal((await strata(root, ['tag', image.id, 'app:1'])).code, 0);
      assert.equal((await strata(root, ['image', 'tag', 'app:1', 'other:2'])).code, 0);
      const conflict = await strata(root, ['rmi', short(image)]);
      assert.equal(conflict.code, 1);
      assert.match(conflict.stderr, /conflict: unable to delete .* \(must be forced\)/);
      const r = await strata(root, ['rmi', 'nothere', 'other:2', 'app:1']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /No such image: nothere/);
      assert.equal(r.stdout, `Untagged: other:2\nUntagged: app:1\nDeleted: ${image.id}\n`);
    });
  });

  it('import applies --change and -m and prints the image ID', async () => {
    await withStore(async (store, root) => {
      const tar = await tarBytes([{ path: 'hello', body: 'hi' }]);
      const r = await strata(
        root,
        [
          'import',
          '-c',
          'CMD ["/hello"]',
          '--change',
          'ENV A=1',
          '-c',
          'WORKDIR /srv',
          '-c',
          'EXPOSE 80',
          '-m',
          'msg',
          '-',
          'imp:1',
        ],
        tar,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
      const image = await store.images.get('imp:1');
      assert.equal(image.id, r.stdout.trim());
      assert.deepEqual(image.config.config, {
        Cmd: ['/hello'],
        Env: ['A=1'],
        WorkingDir: '/srv',
        ExposedPorts: { '80/tcp': {} },
      });
      assert.equal(image.config.comment, 'msg');
      const bad = await strata(root, ['import', '-c', 'RUN echo hi', '-', 'x'], tar);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /RUN is not a valid change command/);
    });
  });
});

describe('argument parsing', () => {
  it('accepts pflag’s -H=false', () => {
    const def = imageCommands.find((d) => d.path.join(' ') === 'history');
    assert.ok(def);
    assert.equal(parseArgs(['-H=false', 'x'], def.options).options.human, false);
    assert.equal(parseArgs(['--human=false', 'x'], def.options).options.human, false);
    assert.equal(parseArgs(['-qH', 'x'], def.options).options.human, true);
  });
});

describe('store root', () => {
  it('is $STRATA_ROOT, else /var/lib/strata as root, else under XDG_DATA_HOME or ~/.local/share', () => {
    assert.equal(resolveStoreRoot({ STRATA_ROOT: '/srv/strata' }), '/srv/strata');
    const uid = process.getuid?.();
    if (uid === 0) assert.equal(resolveStoreRoot({}), '/var/lib/strata');
    else {
      assert.equal(resolveStoreRoot({ HOME: '/home/u' }), '/home/u/.local/share/strata');
      assert.equal(resolveStoreRoot({ HOME: '/home/u', XDG_DATA_HOME: '/data' }), '/data/strata');
    }
  });
});

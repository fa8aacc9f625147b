// `strata build` through the CLI: contexts from a directory or a tar on stdin, -f -, outputs,
// --iidfile, plain progress, a refused --platform, help, and error shapes.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { tarStream } from '../../src/archive/tar-writer.js';
import { hostPlatform } from '../../src/build/engine.js';
import { repoRoot } from '../helpers/conformance.js';
import { overlayReason, skipIf } from './prereqs.js';

const exec = promisify(execFile);
const reason = await overlayReason();
const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function strata(
  env: NodeJS.ProcessEnv,
  args: string[],
  stdin?: Buffer,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const entries = Object.entries(files).map(([path, content]) => ({
    path,
    type: 'file' as const,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: Buffer.byteLength(content),
    mtime: 1700000000,
    open: () => [Buffer.from(content)],
  }));
  for await (const c of tarStream(entries)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('strata build (CLI)', { concurrency: false }, () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-build-cli-'));
    env = { ...process.env, STRATA_ROOT: join(root, 'store') };
  });
  after(async () => rm(root, { recursive: true, force: true }));

  test('a tar context on stdin, a Dockerfile on stdin, --iidfile and --output type=local', async (t) => {
    if (skipIf(t, reason)) return;
    const tar = await tarOf({
      Dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\n',
      'hello.txt': 'hi from a tar\n',
    });
    const iid = join(root, 'iid');
    const out = join(root, 'out');
    const r = await strata(
      env,
      ['build', '--iidfile', iid, '--output', `type=local,dest=${out}`, '-t', 'fromtar', '-'],
      tar,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(await readFile(iid, 'utf8'), /^sha256:[0-9a-f]{64}$/);
    assert.equal(await readFile(join(out, 'hello.txt'), 'utf8'), 'hi from a tar\n');

    const ctx = await mkdtemp(join(root, 'ctx-'));
    await writeFile(join(ctx, 'x.txt'), 'x');
    const piped = await strata(
      env,
      ['build', '-q', '-f', '-', ctx],
      Buffer.from('FROM scratch\nCOPY x.txt /\n'),
    );
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /^sha256:[0-9a-f]{64}\n$/);
  });

  test('--output type=oci writes gzip layers (stored uncompressed) under the same image ID', async (t) => {
    if (skipIf(t, reason)) return;
    const ctx = await mkdtemp(join(root, 'ctx-'));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
    await writeFile(join(ctx, 'a.txt'), 'layer a\n'.repeat(1000));
    await writeFile(join(ctx, 'b.txt'), 'layer b\n');
    const archive = join(root, 'image-oci.tar');
    const iid = join(root, 'oci-iid');
    const r = await strata(env, [
      'build',
      '-q',
      '--iidfile',
      iid,
      '--output',
      `type=oci,dest=${archive}`,
      ctx,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const dir = await mkdtemp(join(root, 'oci-'));
    await exec('tar', ['-xf', archive, '-C', dir]); // GNU tar as the reader: an outside judge
    const blob = (d: string) => readFile(join(dir, 'blobs', 'sha256', d.slice('sha256:'.length)));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse((await blob(index.manifests[0].digest)).toString());
    assert.equal(
      manifest.config.digest,
      (await readFile(iid, 'utf8')).trim(),
      'the image ID is the config digest',
    );
    const config = JSON.parse((await blob(manifest.config.digest)).toString());
    assert.equal(manifest.layers.length, 2);
    for (const [i, layer] of manifest.layers.entries()) {
      assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      const bytes = await blob(layer.digest);
      assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, layer.digest);
      const tar = gunzipSync(bytes);
      assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, config.rootfs.diff_ids[i]);
    }
  });

  test('plain progress names each step, marks cache hits and ends with the image', async (t) => {
    if (skipIf(t, reason)) return;
    const ctx = await mkdtemp(join(root, 'ctx-'));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nENV A=1\n');
    await writeFile(join(ctx, 'a.txt'), 'a');
    const first = await strata(env, ['build', '--progress', 'plain', '-t', 'plain', ctx]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^#\d+ \[1\/1\] COPY a\.txt \/a\.txt$/m);
    assert.match(first.stderr, /^#\d+ DONE \d+\.\ds$/m);
    assert.match(first.stderr, /naming to docker\.io\/library\/plain:latest/);
    const second = await strata(env, ['build', '--progress', 'plain', '-t', 'plain', ctx]);
    assert.match(second.stderr, /^#\d+ CACHED$/m);
  });

  test('usage and input errors are clear and exit non-zero', async () => {
    const other = hostPlatform().architecture === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    const ctx = await mkdtemp(join(root, 'ctx-'));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\n');
    const platform = await strata(env, ['build', '--platform', other, ctx]);
    assert.equal(platform.code, 1);
    assert.match(platform.stderr, new RegExp(`platform ${other} is not supported`));
    const noFile = await strata(env, ['build', '-f', 'Nope', ctx]);
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /failed to read Dockerfile/);
    const flag = await strata(env, ['build', '--frobnicate', ctx]);
    assert.equal(flag.code, 125);
    assert.match(flag.stderr, /unknown flag: --frobnicate/);
    const args = await strata(env, ['build']);
    assert.equal(args.code, 125);
    assert.match(args.stderr, /"strata build" requires exactly 1 argument/);
    await writeFile(join(ctx, 'Dockerfile.bad'), 'FROM scratch\nCOPY\n');
    const bad = await strata(env, ['build', '-f', join(ctx, 'Dockerfile.bad'), ctx]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Dockerfile\.bad:2:1: COPY requires at least two arguments/);
    assert.match(bad.stderr, / 2 \| COPY\n/);
  });

  test('help reads like docker', async () => {
    const top = await strata(env, ['--help']);
    assert.match(top.stdout, /^Usage: {2}strata \[OPTIONS\] COMMAND$/m);
    assert.match(top.stdout, /^ {2}build\s+Build an image from a Dockerfile$/m);
    const build = await strata(env, ['build', '--help']);
    assert.match(build.stdout, /^Usage: {2}strata build \[OPTIONS\] PATH \| -$/m);
    assert.match(build.stdout, /^ {2}-t, --tag stringArray\s+Name and optionally a tag/m);
    assert.match(build.stdout, /^ {6}--build-arg list\s+Set build-time variables$/m);
  });
});

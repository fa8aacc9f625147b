// readFileBody: a file's bytes for a tar body, in chunks sized to the file, and the writer
// still told when the file changed size after it was stat'ed.

import assert from 'node:assert/strict';
import { appendFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFileBody } from '../../../src/archive/file-body.js';
import { generateTar } from '../../../src/archive/tar-writer.js';
import { isBuilderError } from '../../../src/errors.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

async function chunksOf(path: string, size: number, maxChunk?: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of readFileBody(path, size, maxChunk)) out.push(Buffer.from(c));
  return out;
}

test('a small file is one chunk of exactly its size; a large one comes in maxChunk pieces', async (t) => {
  const dir = await makeTempDir();
  t.after(() => dir.cleanup());
  const small = Buffer.from('x'.repeat(20 * 1024));
  await writeFile(join(dir.path, 'small'), small);
  const one = await chunksOf(join(dir.path, 'small'), small.length);
  assert.equal(one.length, 1);
  assert.equal(one[0]?.length, small.length);
  assert.deepEqual(Buffer.concat(one), small);

  const large = Buffer.alloc(10_000, 7);
  await writeFile(join(dir.path, 'large'), large);
  const parts = await chunksOf(join(dir.path, 'large'), large.length, 4096);
  assert.deepEqual(
    parts.map((p) => p.length),
    [4096, 4096, 1808],
  );
  assert.deepEqual(Buffer.concat(parts), large);

  await writeFile(join(dir.path, 'empty'), '');
  assert.deepEqual(await chunksOf(join(dir.path, 'empty'), 0), []);
});

test('a file that grew or shrank after its stat makes the tar writer refuse it', async (t) => {
  const dir = await makeTempDir();
  t.after(() => dir.cleanup());
  const path = join(dir.path, 'f');
  await writeFile(path, 'hello');
  await appendFile(path, ', world'); // 12 bytes now; the entry says 5
  const grown = await chunksOf(path, 5);
  assert.equal(
    Buffer.concat(grown).toString(),
    'hello,',
    'one byte past the size is yielded, for the writer to see',
  );
  for (const size of [5, 20]) {
    if (size === 20) await truncate(path, 3);
    const entry = { path: 'f', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size };
    await assert.rejects(
      async () => {
        for await (const _ of generateTar([{ ...entry, open: () => readFileBody(path, size) }])) {
          // drain
        }
      },
      (err: unknown) => isBuilderError(err) && err.code === 'EPRECONDITION',
    );
  }
});

test('a body read straight into the output block (sourcePath) gives the same tar, and a size change is refused the same way', async (t) => {
  const dir = await makeTempDir();
  t.after(() => dir.cleanup());
  const files: { name: string; bytes: Buffer }[] = [];
  // Sizes around the block padding, and enough bytes to cross the writer's 1 MiB output blocks.
  for (let i = 0; i < 90; i++) {
    const bytes = Buffer.alloc(i * 511 + (i % 7) * 4096 + 20_000, i);
    files.push({ name: `f${i}`, bytes });
    await writeFile(join(dir.path, `f${i}`), bytes);
  }
  // Bodies past the old 256 KiB limit and across several 1 MiB output blocks, between small ones.
  for (const [i, size] of [300 * 1024 + 7, 3 * 1024 * 1024 + 513, 1024 * 1024].entries()) {
    const bytes = Buffer.alloc(size, 200 + i);
    files.splice(10 + i * 20, 0, { name: `big${i}`, bytes });
    await writeFile(join(dir.path, `big${i}`), bytes);
  }
  const entries = (inline: boolean) =>
    files.map(({ name, bytes }) => {
      const path = join(dir.path, name);
      const size = bytes.length;
      const entry = { path: name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size };
      return inline
        ? { ...entry, sourcePath: path, open: () => readFileBody(path, size) }
        : { ...entry, open: () => readFileBody(path, size) };
    });
  const tarOf = async (inline: boolean) => {
    const out: Buffer[] = [];
    for await (const chunk of generateTar(entries(inline))) out.push(Buffer.from(chunk));
    return { bytes: Buffer.concat(out), chunks: out.length };
  };
  const [streamed, inline] = await Promise.all([tarOf(false), tarOf(true)]);
  assert.ok(streamed.bytes.length > 6 * 1024 * 1024);
  assert.ok(streamed.bytes.equals(inline.bytes), 'same bytes');
  assert.ok(inline.chunks < 12, `a few 1 MiB blocks, not ${inline.chunks} chunks`);

  const path = join(dir.path, 'changing');
  await writeFile(path, 'hello, world');
  const bigPath = join(dir.path, 'big-changing');
  await writeFile(bigPath, Buffer.alloc(2 * 1024 * 1024 + 12, 1));
  for (const [size, grew] of [
    [2 * 1024 * 1024, true],
    [2 * 1024 * 1024 + 100, false],
  ] as const) {
    const entry = { path: 'b', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size };
    await assert.rejects(
      async () => {
        for await (const _ of generateTar([{ ...entry, sourcePath: bigPath }])) {
          // drain
        }
      },
      (err: unknown) =>
        isBuilderError(err) &&
        err.code === 'EPRECONDITION' &&
        (grew ? /longer than its size/ : /expected 2097252/).test(err.message),
    );
  }
  for (const size of [5, 20]) {
    const entry = { path: 'c', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size };
    await assert.rejects(
      async () => {
        for await (const _ of generateTar([
          { ...entry, sourcePath: path, open: () => readFileBody(path, size) },
        ])) {
          // drain
        }
      },
      (err: unknown) =>
        isBuilderError(err) &&
        err.code === 'EPRECONDITION' &&
        /changed while archiving/.test(err.message) &&
        (size === 5 ? /longer than its size 5/ : /has 12 bytes, expected 20/).test(err.message),
    );
  }
});

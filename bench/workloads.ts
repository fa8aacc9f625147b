// The workloads, generated into the bench's work dir with deterministic content (same bytes on
// every run and machine), and the base images they start from.

import { createCipheriv } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { repoRoot } from './engines/strata.js';
import type { BaseSpec } from './engines/types.js';
import { capture, must } from './lib/proc.js';

export type WorkloadName = 'steps20' | 'bigctx' | 'seed';
export const WORKLOADS: WorkloadName[] = ['steps20', 'bigctx', 'seed'];

export interface Workload {
  name: WorkloadName;
  /** What the image is called in each tool (`bench-<name>`). */
  tag: string;
  contextDir: string;
  bases: BaseSpec[];
  /** The file the edit phase changes: the last one the Dockerfile COPYs. */
  editFile: string;
  /** Changes editFile to content unique to `n` (so no edit can hit an earlier edit's cache). */
  edit(n: number): Promise<void>;
  summary: string;
}

/** mulberry32: a small seeded PRNG, so the "random" text is the same everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS =
  'const let function return import export from await async class extends new this if else for while of in type interface string number boolean undefined null true false value key map set get push length index data buffer stream error result options config layer image build cache digest'.split(
    ' ',
  );

/** About `size` bytes of source-like text (compresses roughly like real code, ~4:1). */
function sourceText(seed: number, size: number): Buffer {
  const rnd = prng(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const indent = '  '.repeat(Math.floor(rnd() * 4));
    const words: string[] = [];
    const count = 3 + Math.floor(rnd() * 9);
    for (let i = 0; i < count; i++) {
      const w = WORDS[Math.floor(rnd() * WORDS.length)] as string;
      words.push(rnd() < 0.2 ? `${w}${Math.floor(rnd() * 1000)}` : w);
    }
    const line = `${indent}${words.join(' ')};\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

/** `size` bytes that do not compress (AES-CTR keystream under a fixed key), like a binary artifact. */
async function incompressible(file: string, size: number): Promise<void> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const out = createWriteStream(file);
  const zero = Buffer.alloc(1 << 20);
  for (let done = 0; done < size; done += zero.length) {
    const chunk = cipher.update(zero.subarray(0, Math.min(zero.length, size - done)));
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
}

async function busyboxBase(dir: string): Promise<BaseSpec> {
  const ctx = join(dir, 'bases', 'busybox');
  const bin = join(ctx, 'rootfs', 'bin');
  await mkdir(bin, { recursive: true });
  await mkdir(join(ctx, 'rootfs', 'tmp'), { recursive: true });
  if (!existsSync('/bin/busybox'))
    throw new Error('/bin/busybox is missing (apt-get install busybox-static)');
  await copyFile('/bin/busybox', join(bin, 'busybox'));
  const list = await capture({ file: '/bin/busybox', args: ['--list'] });
  for (const applet of list.text.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a))) {
    if (applet !== 'busybox') await symlink('busybox', join(bin, applet)).catch(() => {});
  }
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n');
  return { name: 'bench-busybox:latest', contextDir: ctx };
}

async function debianBase(log: string): Promise<BaseSpec> {
  const ctx = join(repoRoot, 'examples', 'debian');
  if (!existsSync(join(ctx, 'rootfs.tar'))) {
    await must(
      { file: 'bash', args: [join(repoRoot, 'scripts', 'make-debian-rootfs.sh')] },
      {
        log,
        timeoutMs: 900_000,
      },
    );
  }
  return { name: 'debian:bookworm', contextDir: ctx };
}

export async function makeWorkloads(dir: string, names: WorkloadName[], log: string): Promise<Workload[]> {
  const out: Workload[] = [];
  const busybox = names.some((n) => n !== 'seed') ? await busyboxBase(dir) : undefined;
  for (const name of names) {
    const ctx = join(dir, 'contexts', name);
    await mkdir(ctx, { recursive: true });
    if (name === 'steps20') {
      const lines = ['FROM bench-busybox'];
      for (let i = 1; i <= 20; i++) {
        lines.push(`RUN echo "step ${i}" >> /tmp/steps.log`);
        if (i === 10) lines.push('COPY stamp.txt /stamp.txt');
      }
      await writeFile(join(ctx, 'Dockerfile'), `${lines.join('\n')}\n`);
      await writeFile(join(ctx, 'stamp.txt'), 'stamp\n');
      out.push({
        name,
        tag: 'bench-steps20',
        contextDir: ctx,
        bases: [busybox as BaseSpec],
        editFile: join(ctx, 'stamp.txt'),
        edit: (n) => appendFile(join(ctx, 'stamp.txt'), `edit ${n}\n`),
        summary:
          'busybox base; 20 × `RUN echo "step N" >> /tmp/steps.log`, with `COPY stamp.txt` after step 10 (the edit changes stamp.txt: COPY + 10 RUNs rebuild)',
      });
    } else if (name === 'bigctx') {
      const files = join(ctx, 'files');
      await mkdir(files, { recursive: true });
      for (let i = 0; i < 5000; i++) {
        await writeFile(join(files, `f${String(i).padStart(4, '0')}.txt`), sourceText(i + 1, 20 * 1024));
      }
      await incompressible(join(ctx, 'big.bin'), 100 * 1024 * 1024);
      await writeFile(
        join(ctx, 'Dockerfile'),
        'FROM bench-busybox\nCOPY big.bin /data/big.bin\nCOPY files/ /data/files/\nRUN ls /data/files | wc -l > /data/count\n',
      );
      const last = (await readdir(files)).sort().pop() as string;
      out.push({
        name,
        tag: 'bench-bigctx',
        contextDir: ctx,
        bases: [busybox as BaseSpec],
        editFile: join(files, last),
        edit: (n) => appendFile(join(files, last), `// edit ${n}\n`),
        summary:
          'busybox base; `COPY big.bin` (100 MiB, incompressible), `COPY files/` (5,000 × 20 KiB source-like text, ~4:1 gzip), one RUN; the edit appends a line to the last of the 5,000 files',
      });
    } else {
      const src = join(repoRoot, 'examples', 'flask');
      for (const f of await readdir(src)) await copyFile(join(src, f), join(ctx, f));
      out.push({
        name,
        tag: 'bench-seed',
        contextDir: ctx,
        bases: [await debianBase(log)],
        editFile: join(ctx, 'app.py'),
        edit: (n) => appendFile(join(ctx, 'app.py'), `# edit ${n}\n`),
        summary:
          'examples/flask: Debian bookworm base (debootstrap minbase, `ADD rootfs.tar /`), `RUN apt-get update && apt-get install python3 python3-flask` (from the Debian mirror), `COPY app.py`; the edit changes app.py',
      });
    }
  }
  return out;
}

// `strata save`, `strata load`, `strata import`: the CLI side of src/transfer (files, stdin and
// stdout, docker's messages).

import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BuilderError } from '../../errors.js';
import type { Platform } from '../../oci/types.js';
import { parseReference } from '../../reference/reference.js';
import { randomHex } from '../../sys/index.js';
import { importRootfs } from '../../transfer/import-rootfs.js';
import { loadArchive } from '../../transfer/load.js';
import { type SaveFormat, saveImages } from '../../transfer/save.js';
import { optBool, optList, optString } from '../args.js';
import { applyChanges } from '../change.js';
import type { CommandContext } from '../command.js';
import { openCliStore } from '../store-root.js';

function isTTY(stream: unknown): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** A file to read, ENOTFOUND with the path when it is missing. */
async function openInput(path: string): Promise<Readable> {
  const stream = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT')
        reject(new BuilderError('ENOTFOUND', `open ${path}: no such file or directory`));
      else if (err.code === 'EISDIR') reject(new BuilderError('EINVAL', `${path} is a directory`));
      else reject(err);
    });
  });
  return stream;
}

export async function save(ctx: CommandContext): Promise<number> {
  const output = optString(ctx.args, 'output');
  const format = (optString(ctx.args, 'format') ?? 'docker') as SaveFormat;
  if (format !== 'docker' && format !== 'oci')
    throw new BuilderError('EINVAL', `invalid --format ${JSON.stringify(format)}: docker or oci`);
  const store = await openCliStore(ctx.env);
  const refs = ctx.args.positionals;
  if (output === undefined || output === '-') {
    if (isTTY(ctx.stdout))
      throw new BuilderError(
        'EINVAL',
        'cowardly refusing to save to a terminal. Use the -o flag or redirect',
      );
    await saveImages(store, refs, ctx.stdout, { format, end: false, signal: ctx.signal });
    return 0;
  }
  // Written beside the target and renamed into place: a failed save leaves no partial file.
  const temp = join(dirname(output), `.${basename(output)}.strata-${randomHex(6)}`);
  try {
    const file = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
    await saveImages(store, refs, file, { format, signal: ctx.signal });
    await finished(file);
    await rename(temp, output);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return 0;
}

export async function load(ctx: CommandContext): Promise<number> {
  const inputPath = optString(ctx.args, 'input');
  let input: Readable;
  if (inputPath === undefined || inputPath === '-') {
    if (isTTY(ctx.stdin))
      throw new BuilderError('EINVAL', 'requested load from stdin, but stdin is empty', {
        hint: 'use -i FILE, or pipe an archive into strata load',
      });
    input = ctx.stdin;
  } else {
    input = await openInput(inputPath);
  }
  const store = await openCliStore(ctx.env);
  const result = await loadArchive(store, input, { signal: ctx.signal });
  for (const line of result.lines) ctx.stdout.write(`${line}\n`);
  return 0;
}

function parsePlatform(text: string): Platform {
  const [os, architecture, variant] = text.split('/');
  if (os === undefined || os === '' || architecture === undefined || architecture === '')
    throw new BuilderError('EINVAL', `invalid platform ${JSON.stringify(text)}: expected os/arch[/variant]`);
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export async function importCommand(ctx: CommandContext): Promise<number> {
  const [source, name] = ctx.args.positionals as [string, string | undefined];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source))
    throw new BuilderError('EINVAL', `importing from a URL is not supported: ${source}`, {
      hint: 'download the file first, then strata import FILE',
    });
  if (name !== undefined && parseReference(name).digest !== undefined)
    throw new BuilderError('EINVAL', `refusing to create a tag with a digest reference: ${name}`);
  const config = applyChanges(optList(ctx.args, 'change'));
  const platformText = optString(ctx.args, 'platform');
  const message = optString(ctx.args, 'message');
  let input: Readable;
  if (source === '-') {
    if (isTTY(ctx.stdin)) throw new BuilderError('EINVAL', 'import from stdin needs a tar archive piped in');
    input = ctx.stdin;
  } else {
    input = await openInput(source);
  }
  const store = await openCliStore(ctx.env);
  const image = await importRootfs(store, input, {
    config,
    ...(message === undefined ? {} : { message }),
    ...(platformText === undefined ? {} : { platform: parsePlatform(platformText) }),
    ...(name === undefined ? {} : { name }),
    signal: ctx.signal,
  });
  if (!optBool(ctx.args, 'quiet')) ctx.stdout.write(`${image.id}\n`);
  return 0;
}

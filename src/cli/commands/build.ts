// `strata build`: docker build's flags over the library's build().

import { createWriteStream, readFileSync, type Stats, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { extractLayer } from '../../archive/extract.js';
import { decompressLayer, detectCompression } from '../../archive/layer-stream.js';
import { buildInStore } from '../../build/build-in-store.js';
import type { ProgressEvent } from '../../build/progress.js';
import { parseIsolation } from '../../build/run-executor.js';
import { ignoreFileCandidates } from '../../context/dockerignore.js';
import { BuilderError } from '../../errors.js';
import type { Registries } from '../../registry/registries.js';
import { ReadJournal } from '../../store/meta/read-journal.js';
import { optBool, optList, optString } from '../args.js';
import {
  buildMemoDir,
  buildMemoKey,
  cliEntry,
  fingerprintContext,
  ineligibleFlags,
  keepForTranscript,
  noOpTranscript,
  writeBuildMemo,
} from '../build-memo.js';
import type { CommandContext } from '../command.js';
import type { ReplaySection } from '../edit-replay.js';
import { readAll } from '../input.js';
import { createProgressRenderer, type ProgressMode } from '../render/progress.js';
import { openCliStore } from '../store-root.js';

function keyValues(list: string[], flag: string, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === 0) throw new BuilderError('EINVAL', `invalid ${flag} "${item}": the name is empty`);
    if (eq === -1) {
      // docker: `--build-arg NAME` takes NAME from the environment, if set.
      const v = env[item];
      if (v !== undefined) out[item] = v;
      continue;
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function parseSecrets(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of list) {
    const fields = new Map(
      spec.split(',').map((kv) => {
        const eq = kv.indexOf('=');
        return [eq === -1 ? kv : kv.slice(0, eq), eq === -1 ? '' : kv.slice(eq + 1)] as const;
      }),
    );
    const id = fields.get('id');
    const src = fields.get('src') ?? fields.get('source');
    if (!id || !src) {
      throw new BuilderError('EINVAL', `invalid --secret "${spec}"`, {
        hint: 'Write it as --secret id=NAME,src=FILE.',
      });
    }
    out[id] = resolve(src);
  }
  return out;
}

/** --compression gzip|zstd|uncompressed and --compression-level N (BuildKit's names, as flags). */
function parseCompression(
  type: string | undefined,
  levelText: string | undefined,
): { type: 'gzip' | 'zstd' | 'none'; level?: number } | undefined {
  if (type === undefined && levelText === undefined) return undefined;
  const name = type ?? 'gzip';
  const kind = name === 'uncompressed' ? 'none' : name;
  if (kind !== 'gzip' && kind !== 'zstd' && kind !== 'none') {
    throw new BuilderError('EINVAL', `invalid --compression "${name}"`, {
      hint: 'Use gzip, zstd or uncompressed.',
    });
  }
  if (levelText === undefined) return { type: kind };
  const max = kind === 'zstd' ? 22 : 9;
  if (kind === 'none' || !/^\d+$/.test(levelText) || Number(levelText) > max) {
    throw new BuilderError('EINVAL', `invalid --compression-level "${levelText}" for ${name}`, {
      hint: kind === 'none' ? 'Uncompressed layers take no level.' : `Use a level from 0 to ${max}.`,
    });
  }
  return { type: kind, level: Number(levelText) };
}

interface OutputSpec {
  type: 'oci' | 'docker' | 'local' | 'image';
  dest?: string;
}

function parseOutput(text: string): OutputSpec {
  const fields = new Map(
    text.split(',').map((kv) => {
      const eq = kv.indexOf('=');
      return [eq === -1 ? kv : kv.slice(0, eq), eq === -1 ? '' : kv.slice(eq + 1)] as const;
    }),
  );
  let type = fields.get('type');
  if (type === undefined && fields.size === 1 && fields.has(text)) {
    type = 'local';
    fields.set('dest', text);
  }
  if (type !== 'oci' && type !== 'docker' && type !== 'local' && type !== 'image') {
    throw new BuilderError('EINVAL', `unsupported output type "${type ?? ''}"`, {
      hint: 'Use --output type=oci,dest=FILE, type=docker,dest=FILE or type=local,dest=DIR.',
    });
  }
  const dest = fields.get('dest');
  if (type !== 'image' && !dest) throw new BuilderError('EINVAL', `--output type=${type} needs dest=…`);
  return { type, ...(dest ? { dest } : {}) };
}

/** A tar (or compressed tar) on stdin is the context; anything else is a Dockerfile with no context. */
async function stdinContext(
  ctx: CommandContext,
): Promise<{ dir: string; dockerfileText?: string; cleanup: () => Promise<void> }> {
  const data = await readAll(ctx.stdin);
  const dir = await mkdtemp(join(tmpdir(), 'strata-context-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  // docker build reads a context tar plain or compressed with gzip, bzip2, xz or zstd.
  const isCompressed = detectCompression(data) !== 'none';
  const isTar = data.length >= 262 && data.subarray(257, 262).toString('latin1') === 'ustar';
  if (isCompressed || isTar) {
    const { tar } = await decompressLayer(Readable.from([data]));
    await extractLayer(tar, dir, { whiteouts: 'keep' });
    return { dir, cleanup };
  }
  return { dir, dockerfileText: new TextDecoder().decode(data), cleanup };
}

/** Read synchronously, as the Dockerfile is: an awaited call is a thread-pool round trip. */
function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

export async function run(ctx: CommandContext): Promise<number> {
  // Before anything is read: a context file changed after this cannot be trusted to a memo.
  const startedMs = Date.now();
  const { args } = ctx;
  const pathArg = args.positionals[0] as string;
  const fileArg = optString(args, 'file');
  const quiet = optBool(args, 'quiet');
  const progressMode = (quiet ? 'quiet' : (optString(args, 'progress') ?? 'auto')) as ProgressMode;
  if (!['auto', 'tty', 'plain', 'quiet'].includes(progressMode)) {
    throw new BuilderError('EINVAL', `invalid --progress "${progressMode}"`, {
      hint: 'Use auto, tty, plain or quiet.',
    });
  }
  const outputs = optList(args, 'output').map(parseOutput);
  const compression = parseCompression(optString(args, 'compression'), optString(args, 'compression-level'));

  let contextDir: string;
  let dockerfileText: string | undefined;
  let dockerfileName: string;
  let dockerfilePath: string | undefined;
  let cleanup = async () => {};
  let cleanupRegistries = () => {};
  if (pathArg === '-') {
    if (fileArg === '-')
      throw new BuilderError('EINVAL', 'the context and the Dockerfile cannot both come from stdin');
    const s = await stdinContext(ctx);
    contextDir = s.dir;
    dockerfileText = s.dockerfileText;
    cleanup = s.cleanup;
  } else {
    contextDir = resolve(ctx.cwd, pathArg);
    const st = statOrUndefined(contextDir);
    if (!st?.isDirectory()) {
      throw new BuilderError('ENOTFOUND', `unable to prepare context: path "${pathArg}" not found`, {
        hint: 'Give the build context directory, e.g. strata build . -t NAME',
      });
    }
  }
  try {
    if (dockerfileText !== undefined) {
      dockerfileName = 'Dockerfile';
    } else if (fileArg === '-') {
      dockerfileText = new TextDecoder().decode(await readAll(ctx.stdin));
      dockerfileName = 'Dockerfile';
    } else {
      dockerfilePath = fileArg === undefined ? join(contextDir, 'Dockerfile') : resolve(ctx.cwd, fileArg);
      dockerfileName = fileArg ?? 'Dockerfile';
      try {
        dockerfileText = readFileSync(dockerfilePath, 'utf8');
      } catch (err) {
        throw new BuilderError(
          'ENOTFOUND',
          `failed to read Dockerfile: open ${dockerfilePath}: no such file or directory`,
          {
            hint:
              fileArg === undefined
                ? 'Add a Dockerfile to the context, or name one with -f.'
                : 'Check the path given to -f.',
            cause: err,
          },
        );
      }
    }
    if (dockerfileText.length === 0) {
      throw new BuilderError('EINVAL', 'the Dockerfile cannot be empty', {
        hint: 'Write at least a FROM line.',
      });
    }

    const epochText = ctx.env.SOURCE_DATE_EPOCH;
    const buildArgs = keyValues(optList(args, 'build-arg'), '--build-arg', ctx.env);
    const epochArg = buildArgs.SOURCE_DATE_EPOCH ?? epochText;
    let sourceDateEpoch: number | undefined;
    if (epochArg !== undefined && epochArg !== '') {
      if (!/^\d+$/.test(epochArg))
        throw new BuilderError(
          'EINVAL',
          `invalid SOURCE_DATE_EPOCH "${epochArg}": expected seconds since 1970`,
        );
      sourceDateEpoch = Number(epochArg);
    }

    const store = await openCliStore(ctx.env);
    const pushAfter = optBool(args, 'push');
    if (pushAfter && optList(args, 'tag').length === 0)
      throw new BuilderError('EINVAL', '--push needs a name to push to', {
        hint: 'Add -t REGISTRY/NAME[:TAG].',
      });
    // The registry client loads only when a base must be pulled or the image pushed.
    let registryClient: Promise<Registries> | undefined;
    const registries = () => {
      registryClient ??= import('../registry-env.js').then(({ registriesFromEnv }) => {
        const r = registriesFromEnv(ctx.env);
        cleanupRegistries = () => r.close();
        return r;
      });
      return registryClient;
    };
    const renderer = createProgressRenderer(progressMode, ctx.stderr as never);
    const memo = memoPlan(ctx, contextDir, dockerfilePath, {
      fromStdin: pathArg === '-' || fileArg === '-',
      noCache: optBool(args, 'no-cache'),
      pull: optBool(args, 'pull'),
      push: pushAfter,
      outputs: outputs.length,
      secrets: optList(args, 'secret').length,
      buildArgsFromEnv: optList(args, 'build-arg').some((a) => !a.includes('=')),
    });
    if (memo) store.meta.journal = memo.journal;
    let result: Awaited<ReturnType<typeof buildInStore>>;
    try {
      result = await buildInStore(store, {
        contextDir,
        dockerfile: {
          text: dockerfileText,
          name: dockerfileName,
          ...(dockerfilePath ? { path: dockerfilePath } : {}),
        },
        buildArgs,
        ...(optString(args, 'target') ? { target: optString(args, 'target') as string } : {}),
        noCache: optBool(args, 'no-cache'),
        labels: keyValues(optList(args, 'label'), '--label', {}),
        ...(optString(args, 'platform') ? { platform: optString(args, 'platform') as string } : {}),
        tags: optList(args, 'tag'),
        ...(sourceDateEpoch === undefined ? {} : { sourceDateEpoch }),
        ...(compression === undefined ? {} : { compression }),
        secrets: parseSecrets(optList(args, 'secret')),
        isolation: parseIsolation(optString(args, 'isolation')),
        registries,
        pull: optBool(args, 'pull'),
        progress: (e) => {
          if (memo && keepForTranscript(e)) memo.events.push(e);
          renderer.onEvent(e);
        },
        signal: ctx.signal,
        onWarning: () => {},
      });
    } finally {
      renderer.close();
      store.meta.journal = undefined;
    }
    const id = result.image.id;
    const warnings = result.warnings.map((w) => `WARNING: ${w}\n`).join('');
    ctx.stderr.write(warnings);
    const iidfile = optString(args, 'iidfile');
    if (iidfile) await writeFile(iidfile, id);
    for (const out of outputs) await writeOutput(store, result.image, out);
    const stdout = quiet ? `${id}\n` : '';
    const summary = quiet
      ? ''
      : `Successfully built ${id}\n${result.tags.map((t) => `Successfully tagged ${t}\n`).join('')}`;
    ctx.stdout.write(stdout);
    ctx.stderr.write(summary);
    if (memo) {
      const reason = await leaveMemo(memo, store, result, {
        contextDir,
        startedMs,
        dockerfile: dockerfilePath === undefined ? undefined : { path: dockerfilePath, text: dockerfileText },
        stdout,
        stderr: `${warnings}${summary}`,
        quiet,
        writes: iidfile ? [{ path: resolve(ctx.cwd, iidfile), content: id }] : [],
      });
      if (reason !== undefined && ctx.env.STRATA_BUILD_MEMO === 'explain')
        ctx.stderr.write(`build memo: none written: ${reason}\n`);
    }
    if (pushAfter) {
      const { pushLine, pushWithProgress } = await import('./registry.js');
      const { parseReference } = await import('../../reference/reference.js');
      for (const t of result.tags) {
        const ref = parseReference(t);
        const out = { stdout: ctx.stderr, signal: ctx.signal };
        if (!quiet) ctx.stderr.write(`The push refers to repository [${ref.name}]\n`);
        const pushed = await pushWithProgress(out, store, await registries(), ref, quiet);
        ctx.stderr.write(`${pushLine(pushed)}\n`);
      }
    }
    return 0;
  } finally {
    cleanupRegistries();
    await cleanup();
  }
}

interface MemoPlan {
  dir: string;
  key: Buffer;
  code: string[];
  journal: ReadJournal;
  events: ProgressEvent[];
  context: ReturnType<typeof fingerprintContext>;
  /** With STRATA_BUILD_MEMO=explain: says why on stderr. */
  explain?: (why: string) => void;
}

/**
 * Writes the build memo for the `strata` front program (see ../build-memo.ts); returns why it
 * did not. A memo only ever saves time: failing to write one (a full disk, a folder of another
 * user's) is a reason not to have one, never an error of the build's.
 */
async function leaveMemo(
  memo: MemoPlan,
  store: Awaited<ReturnType<typeof openCliStore>>,
  result: Awaited<ReturnType<typeof buildInStore>>,
  o: {
    contextDir: string;
    startedMs: number;
    dockerfile: { path: string; text: string } | undefined;
    /** What this build printed after its progress. */
    stdout: string;
    stderr: string;
    quiet: boolean;
    /** Files it wrote besides the store (--iidfile). */
    writes: Array<{ path: string; content: string }>;
  },
): Promise<string | undefined> {
  if (result.externalInputs.length > 0) return `it downloaded ${result.externalInputs.join(', ')}`;
  const context = await memo.context; // never rejects: a reason string instead
  try {
    const { image } = result;
    const steps = new Set(result.steps.map((s) => s.name));
    const transcript = o.quiet ? '' : noOpTranscript(memo.events, steps);
    let replay: ReplaySection | undefined;
    if (result.replayable === undefined)
      memo.explain?.('no edit replay: its image does not end in a COPY of context files and directories');
    else if (o.writes.length > 0) memo.explain?.('no edit replay: it writes files outside the store');
    else if (typeof context !== 'string') {
      const { replayRecords } = await import('../edit-replay.js');
      const records = await replayRecords({
        store,
        result,
        contextDir: o.contextDir,
        pruned: context.pruned,
        treeDigest: context.tree.digest,
        stdout: o.stdout,
        stderr: o.stderr,
        noOpTranscript: transcript,
        replayTranscript: o.quiet ? '' : noOpTranscript(memo.events, steps, result.replayable.step),
      });
      if (typeof records === 'string') {
        if (memo.explain) memo.explain(`no edit replay: ${records}`);
      } else replay = records;
    }
    return writeBuildMemo({
      dir: memo.dir,
      key: memo.key,
      contextDir: o.contextDir,
      context,
      startedMs: o.startedMs,
      journal: memo.journal,
      files: o.dockerfile ? [o.dockerfile] : [],
      watched: ignoreFileCandidates(o.contextDir, o.dockerfile?.path),
      blobs: [image.manifestDescriptor.digest, image.id, ...image.manifest.layers.map((l) => l.digest)].map(
        (d) => store.content.blobPath(d),
      ),
      code: memo.code,
      writes: o.writes,
      stdout: o.stdout,
      stderr: `${transcript}${o.stderr}`,
      ...(replay === undefined ? {} : { replay }),
    });
  } catch (err) {
    return `writing it failed: ${(err as Error).message}`;
  }
}

/** Whether this build may leave a memo for the `strata` front program, and its key. */
function memoPlan(
  ctx: CommandContext,
  contextDir: string,
  dockerfilePath: string | undefined,
  flags: Parameters<typeof ineligibleFlags>[0],
): MemoPlan | undefined {
  const dir = buildMemoDir(ctx.env);
  if (dir === undefined || ctx.argv?.[0] !== 'build' || typeof process.geteuid !== 'function')
    return undefined;
  const why = ineligibleFlags(flags);
  if (why !== undefined) {
    if (ctx.env.STRATA_BUILD_MEMO === 'explain') ctx.stderr.write(`build memo: none written: ${why}\n`);
    return undefined;
  }
  const entry = cliEntry();
  return {
    dir,
    key: buildMemoKey({ uid: process.geteuid(), cwd: ctx.cwd, entry, argv: ctx.argv, env: ctx.env }),
    code: [entry, join(dirname(entry), 'strata-bundle.cjs')],
    journal: new ReadJournal(),
    events: [],
    // Walked on a worker while the build runs (see fingerprintContext).
    context: fingerprintContext(contextDir, dockerfilePath),
    ...(ctx.env.STRATA_BUILD_MEMO === 'explain'
      ? { explain: (why: string) => ctx.stderr.write(`build memo: ${why}\n`) }
      : {}),
  };
}

async function writeOutput(
  store: Awaited<ReturnType<typeof openCliStore>>,
  image: Awaited<ReturnType<typeof buildInStore>>['image'],
  out: OutputSpec,
): Promise<void> {
  if (out.type === 'image') return;
  if (out.type === 'local') {
    const { exportRootfs } = await import('../../build/export-rootfs.js');
    await exportRootfs(store.content, image, out.dest as string);
    return;
  }
  const { saveImages } = await import('../../transfer/save.js');
  const { CompressedLayers } = await import('../../image/compressed-layer.js');
  const compressed = new CompressedLayers(store);
  await saveImages(
    store,
    [image.id],
    out.dest === '-' ? process.stdout : createWriteStream(out.dest as string),
    {
      format: out.type,
      // The image leaves the machine: gzip what is stored uncompressed, as a push does.
      layerForm: (l) => compressed.distributable(l),
    },
  );
}

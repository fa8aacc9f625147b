// The build engine: Dockerfile → layered image. Per step: compute the cache key; on a hit
// reuse the recorded layer without reading it; on a miss run the step in a snapshot and
// record its layer. A miss at step N rebuilds N and everything after it in that stage,
// because every key includes its parent's. Stages the target needs run concurrently once
// their own dependencies are done.

import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { decompressLayer } from '../archive/layer-stream.js';
import { loadIgnorePatterns } from '../context/dockerignore.js';
import { checksumSources, type SelectedSource, type StatMemo, selectSources } from '../context/sources.js';
import type { Digest } from '../digest/digest.js';
import { sha256Hex } from '../digest/sha256.js';
import { parseDockerfile } from '../dockerfile/index.js';
import { convertNode } from '../dockerfile/instructions/convert.js';
import type {
  AddInstruction,
  CopyInstruction,
  Instruction,
  ParsedDockerfile,
  RunInstruction,
  StageInstruction,
  WorkdirInstruction,
} from '../dockerfile/instructions/types.js';
import { parse as parseSyntax } from '../dockerfile/parser/parse.js';
import { BuilderError, DigestMismatchError, DockerfileError } from '../errors.js';
import { formatGoTime } from '../oci/go-json.js';
import { layerCompression } from '../oci/media-types.js';
import type { Descriptor, ImageConfig, Platform } from '../oci/types.js';
import { RootfsManager, type WriteLayerFn } from '../rootfs/rootfs-manager.js';
import type { Snapshotter } from '../snapshot/types.js';
import { writeFileAtomic } from '../store/meta/atomic-file.js';
import { prefetchFiles } from '../sys/index.js';
import {
  type ArgScope,
  argHistoryLine,
  type DeclaredArg,
  declareStageArgs,
  EnvList,
  formatPlatform,
  PROXY_ARGS,
  platformArgs,
  resolveGlobalArgs,
  runHistoryLine,
  unusedBuildArgs,
} from './args.js';
import { baseKeyForScratch, type CacheRecord, type LayerRef, type StepKey, stepKey } from './cache-key.js';
import { expandInstruction, makeExpander } from './expand.js';
import type { Download } from './fetch.js';
import { type BuildPlan, type PlannedStage, planBuild, type SourceRef } from './plan.js';
import { ProgressReporter, type ProgressSink, type Vertex } from './progress.js';
import {
  addHistory,
  applyConfigInstruction,
  buildkitImageConfig,
  type ConfigInstruction,
  containerConfig,
  getEnv,
  resolveWorkdir,
  withShell,
} from './steps/config.js';
import {
  type CopySpec,
  directCopyFits,
  followSourceLinks,
  joinDest,
  makeDirectories,
  NotDirectError,
  parseChmod,
  performCopy,
  resolveOwner,
} from './steps/copy.js';
import { parseRunMount, type ResolvedRunMount, type RunExecutor, type RunMount } from './steps/run.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the engine needs of an image store (src/store's Store provides it). */
export interface BuildStore {
  root: string;
  content: {
    has(digest: Digest): Promise<boolean>;
    open(digest: Digest, options?: { signal?: AbortSignal }): Promise<Readable>;
    readBytes(digest: Digest, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  };
  cache: {
    get(key: string): Promise<{ value: unknown } | undefined>;
    put(key: string, value: unknown): Promise<unknown>;
  };
  images: {
    /** `names: false`: the build needs the image, not the names it has (ImageStore's NameOptions). */
    get(ref: string, options?: { names?: boolean }): Promise<BaseImage>;
    put(
      config: ImageConfig,
      layers: Descriptor[],
      options?: { mediaTypes?: 'oci' | 'docker'; names?: boolean },
    ): Promise<BaseImage>;
    tag(target: BaseImage, name: string): Promise<{ name: string }>;
  };
}

/** An image as the engine sees it. */
export interface BaseImage {
  id: Digest;
  manifestDescriptor: Descriptor;
  manifest: { layers: Descriptor[] };
  config: ImageConfig;
}

export interface BuildOptions {
  store: BuildStore;
  contextDir: string;
  dockerfile: {
    text: string;
    /** How errors name it (`Dockerfile`, `Dockerfile.dev`, `<stdin>`). */
    name: string;
    /** Its path on disk, for the `<name>.dockerignore` lookup; undefined for stdin. */
    path?: string;
  };
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  /**
   * COPY from the context writes an overlay snapshot's upper dir directly and links files
   * that an earlier COPY already made from the same source (snapshot/file-pool.ts). Default
   * true; false copies every file through the mounted rootfs (the layer is the same).
   */
  directCopy?: boolean;
  labels?: Record<string, string>;
  /** Must be the host platform (no emulation). */
  platform?: string;
  tags?: string[];
  /** Seconds: clamps layer mtimes and sets every `created` (reproducible builds). */
  sourceDateEpoch?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
  /**
   * Compression of the layers the build writes (buildInStore's default: uncompressed, as docker
   * and BuildKit keep layers; push compresses them).
   * When set, a cached layer stored with another compression is rewritten in this one (same
   * diffID) and the cache entry then points at the new blob; when unset, cached layers are
   * used as they are stored.
   */
  compression?: { type: 'gzip' | 'zstd' | 'none'; level?: number };
  /** Runs RUN steps; without one a RUN is an error that says what is missing. */
  runExecutor?: RunExecutor;
  /** Needed by steps that change the filesystem (COPY, ADD, WORKDIR, RUN) on a cache miss. */
  snapshotter?: Snapshotter;
  writeLayer?: WriteLayerFn;
  /** Secrets for RUN --mount=type=secret: id → file path. */
  secrets?: Record<string, string>;
  /** Resolves a base image missing from the store (pull); default: ENOTFOUND with a hint. */
  resolveMissingBase?: (ref: string) => Promise<BaseImage>;
  onWarning?: (message: string) => void;
}

export interface StepReport {
  name: string;
  cached: boolean;
  key?: string;
}

export interface BuildResult {
  image: BaseImage;
  tags: string[];
  steps: StepReport[];
  warnings: string[];
  /** What this result depended on besides the Dockerfile, the context and the store (a URL
   * ADD downloaded): a no-op build cannot be answered from a record of its inputs. */
  externalInputs: string[];
  /** Set when the image's top layer is a plain COPY of context files and directories: the
   * result then depends on the content of the files no other step read only through that
   * layer, which the build memo can make again without Node (cli/edit-replay.ts). */
  replayable?: ReplayableStep;
}

/** The last step of a build, a COPY of context files and directories (no links, no --parents,
 * no --exclude). */
export interface ReplayableStep {
  /** Its progress name ("[3/3] COPY app.py /opt/app.py"). */
  step: string;
  /** The regular files it copied, in the order it copied them. */
  files: CopiedFile[];
}

export interface CopiedFile {
  /** Relative to the context. */
  path: string;
  /** How its path in the layer ends: its name, or for a file in a copied directory its path
   * below that directory. */
  tail: string;
  /** Another step read it too: an edit of it is not the last COPY's alone. */
  shared: boolean;
}

export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return {
    os: 'linux',
    architecture: arch[process.arch] ?? process.arch,
    ...(process.arch === 'arm' ? { variant: 'v7' } : {}),
  };
}

/** The state of a stage between steps. */
interface StageState {
  image: ImageConfig;
  layers: LayerRef[];
  /** The chain key: base, then each layer-producing step. */
  key: string;
  /** Expansion and RUN environment: the image's Env plus declared ARGs. */
  env: EnvList;
  declared: DeclaredArg[];
  cmdSet: boolean;
  /** Instructions to run first: the base's ONBUILD triggers. */
  triggers: StageInstruction[];
  /**
   * When the newest layer below this point was made. History entries take it, and the image
   * its latest, so rebuilding unchanged steps from the cache gives the same image ID (as
   * BuildKit does); SOURCE_DATE_EPOCH overrides it.
   */
  created: string | undefined;
  /** The stage's newest layer, when a COPY that could be replayed made it (BuildResult.replayable). */
  replay?: StageReplay | undefined;
}

interface StageReplay extends ReplayableStep {
  /** What that COPY read of the context (one of Build.contextReads). */
  reads: SelectedSource[];
}

/** Context files about to be hashed are read in many at a time, from a worker: a context
 * generated or edited a while ago may have left this machine's page cache, and one small file
 * read at a time from the disk cost ~60 µs each (5,000 files: ~0.3 s). Best effort. */
function prefetchContextFiles(paths: string[]): void {
  prefetchFiles(paths)?.catch(() => {});
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

class Build {
  private readonly progress: ProgressReporter;
  private readonly platform: Platform;
  private readonly platformText: string;
  private readonly created: string;
  private readonly epochDate: Date | undefined;
  private readonly warnings: string[] = [];
  private readonly externalInputs: string[] = [];
  private readonly steps: StepReport[] = [];
  /** What each step that read the context selected (COPY/ADD sources, RUN bind mounts of it):
   * a replayable COPY's files that another step read too are marked shared. */
  private readonly contextReads: SelectedSource[][] = [];
  private readonly stageResults = new Map<number, Promise<StageState>>();
  private readonly imageSources = new Map<string, Promise<BaseImage>>();
  private ignorePatterns: Promise<string[]> | undefined;
  private statMemo: Promise<StatMemo> | undefined;
  private statMemoDirty = false;
  private rootfsManager: RootfsManager | undefined;
  private file!: ParsedDockerfile;
  private plan!: BuildPlan;
  private globalArgs!: EnvList;
  private scope!: ArgScope;

  constructor(private readonly o: BuildOptions) {
    this.progress = new ProgressReporter(o.progress);
    this.platform = hostPlatform();
    this.platformText = formatPlatform(this.platform);
    this.epochDate = o.sourceDateEpoch === undefined ? undefined : new Date(o.sourceDateEpoch * 1000);
    this.created = formatGoTime(this.epochDate ?? new Date());
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.o.onWarning?.(message);
  }

  async run(): Promise<BuildResult> {
    const { o } = this;
    if (
      o.platform !== undefined &&
      o.platform !== this.platformText &&
      o.platform !== `${this.platform.os}/${this.platform.architecture}`
    ) {
      throw new BuilderError(
        'EINVAL',
        `platform ${o.platform} is not supported: this machine builds ${this.platformText} only`,
        {
          hint: `Drop --platform, or use --platform ${this.platformText}; building for other platforms needs emulation, which Strata does not have yet.`,
        },
      );
    }
    const load = this.progress.vertex(`[internal] load build definition from ${o.dockerfile.name}`).start();
    this.file = parseDockerfile(o.dockerfile.text, { file: o.dockerfile.name });
    load.done();
    for (const w of this.file.warnings) this.warn(`${o.dockerfile.name}:${w.range.start.line}: ${w.short}`);

    this.scope = { buildArgs: new Map(Object.entries(o.buildArgs ?? {})), consumed: new Set() };
    const defaults = platformArgs(this.platform, this.platform);
    this.globalArgs = this.wrapDockerfileErrors(() =>
      resolveGlobalArgs(this.file.globalArgs, defaults, this.scope, this.file.escapeToken),
    );
    this.plan = this.wrapDockerfileErrors(() => planBuild(this.file, this.globalArgs, o.target));

    const target = await this.buildStage(this.plan.target);
    const unused = unusedBuildArgs(this.scope);
    if (unused.length > 0) this.warn(`One or more build-args [${unused.join(' ')}] were not consumed`);
    await this.saveStatMemo();
    return this.export(target);
  }

  private wrapDockerfileErrors<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof DockerfileError && err.file === undefined)
        throw err.withFile(this.o.dockerfile.name, this.o.dockerfile.text);
      throw err;
    }
  }

  private buildStage(index: number): Promise<StageState> {
    let result = this.stageResults.get(index);
    if (!result) {
      result = this.runStage(this.plan.stages[index] as PlannedStage);
      // Other stages may still be running: keep one rejection from being reported twice.
      result.catch(() => {});
      this.stageResults.set(index, result);
    }
    return result;
  }

  private async runStage(p: PlannedStage): Promise<StageState> {
    // Start what this stage needs at once, so independent stages build concurrently.
    const deps = [...p.deps].map((d) => this.buildStage(d));
    const total =
      (p.base.kind === 'image' ? 1 : 0) +
      p.stage.instructions.filter((i) => ['add', 'copy', 'run', 'workdir'].includes(i.kind)).length;
    let stepIndex = 0;
    const label = (text: string) => {
      stepIndex++;
      const width = String(total).length;
      return `[${p.displayName ? `${p.displayName} ` : ''}${String(stepIndex).padStart(width)}/${total}] ${text}`;
    };

    let state: StageState;
    if (p.base.kind === 'scratch') {
      state = this.scratchState();
    } else if (p.base.kind === 'stage') {
      const base = await this.buildStage(p.base.index);
      const baseStage = this.plan.stages[p.base.index] as PlannedStage;
      state = {
        ...clone({ image: base.image, declared: base.declared }),
        layers: [...base.layers],
        key: base.key,
        env: base.env.clone(),
        cmdSet: false,
        created: base.created,
        triggers: baseStage.stage.instructions.flatMap((i) =>
          i.kind === 'onbuild' ? [i.trigger as StageInstruction] : [],
        ),
      };
      // ONBUILD triggers do not carry over from a base stage.
      if (state.image.config) delete state.image.config.OnBuild;
    } else {
      const v = this.progress.vertex(label(`FROM ${p.base.ref}`)).start();
      try {
        const base = await this.baseImage(p.base.ref, p.stage.from.range);
        state = this.imageState(base);
        v.done();
      } catch (err) {
        v.fail(err);
        throw err;
      }
    }
    await Promise.all(deps);

    const instructions = [...state.triggers, ...p.stage.instructions];
    state.triggers = [];
    for (const instruction of instructions) {
      this.o.signal?.throwIfAborted();
      try {
        await this.step(p, state, instruction, label);
      } catch (err) {
        if (err instanceof DockerfileError && err.file === undefined) {
          throw err.withFile(this.o.dockerfile.name, this.o.dockerfile.text);
        }
        if (err instanceof BuilderError && !(err instanceof DockerfileError) && err.code !== 'ECANCELED') {
          // Say where in the Dockerfile it happened: file:line, the line and a caret.
          throw new DockerfileError(err.message, {
            ranges: [instruction.range],
            file: this.o.dockerfile.name,
            source: this.o.dockerfile.text,
            ...(err.hint === undefined ? {} : { hint: err.hint }),
            cause: err.cause,
          });
        }
        throw err;
      }
    }
    return state;
  }

  private scratchState(): StageState {
    const image: ImageConfig = {
      architecture: this.platform.architecture,
      os: this.platform.os,
      ...(this.platform.variant ? { variant: this.platform.variant } : {}),
      // BuildKit's empty image: PATH set, and WorkingDir "/".
      config: { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    };
    return {
      image,
      layers: [],
      key: baseKeyForScratch(this.platformText),
      env: EnvList.from(image.config?.Env ?? []),
      declared: [],
      cmdSet: false,
      triggers: [],
      created: undefined,
    };
  }

  private imageState(base: BaseImage): StageState {
    // The base config as BuildKit's frontend reads it: only the fields it knows, none empty.
    const image = buildkitImageConfig(clone(base.config));
    delete image.created;
    const cfg = containerConfig(image);
    if (getEnv(cfg.Env ?? [], 'PATH') === undefined) cfg.Env = [...(cfg.Env ?? []), `PATH=${DEFAULT_PATH}`];
    const diffIds = image.rootfs?.diff_ids ?? [];
    if (diffIds.length !== base.manifest.layers.length) {
      throw new BuilderError(
        'EINVAL',
        `image ${base.id} is inconsistent: ${diffIds.length} diff_ids for ${base.manifest.layers.length} layers`,
      );
    }
    const layers: LayerRef[] = base.manifest.layers.map((descriptor, i) => ({
      descriptor,
      diffId: diffIds[i] as Digest,
      uncompressedSize: 0,
    }));
    const triggers = (cfg.OnBuild ?? []).map((expression) => {
      const node = parseSyntax(expression).nodes[0];
      if (!node) throw new BuilderError('EINVAL', `empty ONBUILD trigger in base image ${base.id}`);
      return convertNode(node) as StageInstruction;
    });
    delete cfg.OnBuild;
    return {
      image,
      layers,
      key: `image:${base.manifestDescriptor.digest}`,
      env: EnvList.from(cfg.Env ?? []),
      declared: [],
      cmdSet: false,
      triggers,
      created: base.config.created,
    };
  }

  private baseImage(
    ref: string,
    range?: { start: { line: number; character: number }; end: { line: number; character: number } },
  ): Promise<BaseImage> {
    let found = this.imageSources.get(ref);
    if (!found) {
      found = this.o.store.images.get(ref, { names: false }).catch(async (err: unknown) => {
        if (err instanceof BuilderError && err.code === 'ENOTFOUND') {
          if (this.o.resolveMissingBase) return this.o.resolveMissingBase(ref);
          throw new BuilderError('ENOTFOUND', `base image "${ref}" is not in the local store`, {
            hint: `Get it first: strata pull ${ref} (from a registry), strata load -i FILE (a docker save archive) or strata import ROOTFS.tar ${ref}.`,
            cause: err,
          });
        }
        throw err;
      });
      found.catch(() => {});
      this.imageSources.set(ref, found);
    }
    if (range) {
      return found.catch((err: unknown) => {
        if (err instanceof BuilderError && !(err instanceof DockerfileError)) {
          throw new DockerfileError(err.message, {
            ranges: [range],
            file: this.o.dockerfile.name,
            source: this.o.dockerfile.text,
            ...(err.hint === undefined ? {} : { hint: err.hint }),
          });
        }
        throw err;
      });
    }
    return found;
  }

  private history(state: StageState, line: string, emptyLayer: boolean): void {
    addHistory(state.image, line, emptyLayer, this.createdFor(state));
  }

  private createdFor(state: StageState): string {
    return this.epochDate ? this.created : (state.created ?? this.created);
  }

  private async step(
    p: PlannedStage,
    state: StageState,
    raw: StageInstruction,
    label: (text: string) => string,
  ): Promise<void> {
    const expander = makeExpander(this.file.escapeToken, state.env.getter());
    if (raw.kind === 'arg') {
      const declared = declareStageArgs(raw, this.globalArgs, state.env, this.scope, this.file.escapeToken);
      state.declared.push(...declared);
      this.history(state, argHistoryLine(declared), true);
      return;
    }
    const i = expandInstruction(raw, expander);
    switch (i.kind) {
      case 'workdir':
        return this.workdirStep(state, i, label);
      case 'copy':
      case 'add':
        return this.copyStep(p, state, i, label, raw);
      case 'run':
        return this.runStep(p, state, i, label);
      case 'onbuild':
      case 'env':
      case 'label':
      case 'maintainer':
      case 'cmd':
      case 'entrypoint':
      case 'healthcheck':
      case 'user':
      case 'volume':
      case 'stopsignal':
      case 'shell':
      case 'expose': {
        state.cmdSet = applyConfigInstruction(state.image, i as ConfigInstruction, {
          created: this.createdFor(state),
          cmdSet: state.cmdSet,
        });
        if (i.kind === 'env') for (const e of i.env) state.env.set(e.key, e.value);
        return;
      }
      default:
        throw new BuilderError('EINTERNAL', `unexpected instruction ${(i as Instruction).kind}`);
    }
  }

  /** Looks up a step's key; on a miss runs `execute` (which returns the layer, if any) and records it. */
  private async layerStep(
    state: StageState,
    name: string,
    key: StepKey,
    historyLine: string,
    execute: (vertex: Vertex) => Promise<LayerRef | undefined>,
  ): Promise<void> {
    const vertex = this.progress.vertex(name).start();
    try {
      let record = this.o.noCache ? undefined : await this.lookup(key.key);
      const cached = record !== undefined;
      if (!record) {
        const layer = await execute(vertex);
        record = { preimage: key.preimage, ...(layer ? { layer } : {}), created: formatGoTime(new Date()) };
        // Recorded only after the step succeeded: a failed step leaves no cache entry.
        await this.o.store.cache.put(key.key, record);
      } else if (record.layer && this.needsRecompression(record.layer)) {
        record = { ...record, layer: await this.recompress(record.layer) };
        await this.o.store.cache.put(key.key, record);
      }
      state.replay = undefined;
      if (record.layer) {
        state.layers.push(record.layer);
        state.image.rootfs = { type: 'layers', diff_ids: state.layers.map((l) => l.diffId) };
      }
      state.key = key.key;
      if (record.layer && record.created) state.created = record.created;
      this.history(state, historyLine, record.layer === undefined);
      this.steps.push({ name, cached, key: key.key });
      if (cached) vertex.cached();
      else vertex.done();
    } catch (err) {
      vertex.fail(err);
      throw err;
    }
  }

  private needsRecompression(layer: LayerRef): boolean {
    const wanted = this.o.compression?.type;
    return wanted !== undefined && layerCompression(layer.descriptor.mediaType) !== wanted;
  }

  /** A cached layer rewritten in the requested compression: same tar, so the same diffID. */
  private async recompress(layer: LayerRef): Promise<LayerRef> {
    const { writeLayer } = this.o;
    if (!writeLayer) return layer;
    const signal = this.o.signal === undefined ? {} : { signal: this.o.signal };
    const { tar } = await decompressLayer(await this.o.store.content.open(layer.descriptor.digest, signal));
    const converted = await writeLayer(tar, this.o.signal);
    if (converted.diffId !== layer.diffId)
      throw new DigestMismatchError(
        layer.diffId,
        converted.diffId,
        `recompressed layer ${layer.descriptor.digest}`,
      );
    return converted;
  }

  private async lookup(key: string): Promise<CacheRecord | undefined> {
    const entry = await this.o.store.cache.get(key);
    const record = entry?.value as CacheRecord | undefined;
    if (!record || typeof record !== 'object' || !('preimage' in record)) return undefined;
    // A layer pruned from the store since: rebuild rather than point at nothing.
    if (record.layer && !(await this.o.store.content.has(record.layer.descriptor.digest))) return undefined;
    return record;
  }

  private rootfs(): RootfsManager {
    if (!this.rootfsManager) {
      const { snapshotter, writeLayer } = this.o;
      if (!snapshotter || !writeLayer) {
        throw new BuilderError(
          'EPRECONDITION',
          'this step changes the filesystem, but no snapshotter is configured',
          {
            hint: 'Build through the strata CLI, or pass a snapshotter and writeLayer to build().',
          },
        );
      }
      this.rootfsManager = new RootfsManager({
        content: this.o.store.content,
        snapshotter,
        mountDir: join(this.o.store.root, 'mounts'),
        writeLayer,
        ...(this.o.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: this.o.sourceDateEpoch }),
      });
    }
    return this.rootfsManager;
  }

  private async workdirStep(
    state: StageState,
    i: WorkdirInstruction,
    label: (t: string) => string,
  ): Promise<void> {
    const cfg = containerConfig(state.image);
    const wd = resolveWorkdir(cfg.WorkingDir, i.path);
    cfg.WorkingDir = wd;
    if (wd === '/') {
      label('WORKDIR /');
      this.history(state, 'WORKDIR /', true);
      return;
    }
    const user = cfg.User ?? '';
    const key = stepKey(state.key, this.platformText, { kind: 'workdir', path: wd, user });
    await this.layerStep(state, label(`WORKDIR ${wd}`), key, `WORKDIR ${wd}`, () =>
      this.rootfs().mutate(
        state.layers,
        async (rootfs) => {
          const owner = user === '' ? { uid: 0, gid: 0 } : await resolveOwner(rootfs, user);
          await makeDirectories(rootfs, wd, owner, this.epochDate ?? new Date());
        },
        this.o.signal,
      ),
    );
  }

  private loadIgnore(): Promise<string[]> {
    this.ignorePatterns ??= loadIgnorePatterns(this.o.contextDir, this.o.dockerfile.path).then(
      (r) => r.patterns,
    );
    return this.ignorePatterns;
  }

  private memoPath(): string {
    const id = sha256Hex(this.o.contextDir).slice(0, 32);
    return join(this.o.store.root, 'cache', 'statmemo', `${id}.json`);
  }

  /** The stat memo, or an empty one: missing, unreadable or torn, it only costs hashing again. */
  private loadStatMemo(): Promise<StatMemo> {
    this.statMemo ??= (async () => {
      try {
        const parsed: unknown = JSON.parse(readFileSync(this.memoPath(), 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
          return new Map(Object.entries(parsed as Record<string, never>));
      } catch {}
      return new Map();
    })();
    return this.statMemo;
  }

  /** Written without fsyncs (a crash leaves it old, torn or absent: loadStatMemo copes), on
   * this thread: the build is about to wait for it anyway. */
  private async saveStatMemo(): Promise<void> {
    if (!this.statMemo || !this.statMemoDirty) return;
    const memo = await this.statMemo;
    mkdirSync(join(this.o.store.root, 'cache', 'statmemo'), { recursive: true });
    writeFileAtomic(this.memoPath(), JSON.stringify(Object.fromEntries(memo)), { durable: false });
  }

  private async copyStep(
    p: PlannedStage,
    state: StageState,
    i: CopyInstruction | AddInstruction,
    label: (t: string) => string,
    raw: StageInstruction,
  ): Promise<void> {
    const KW = i.kind.toUpperCase();
    const cfg = containerConfig(state.image);
    const dest = joinDest(cfg.WorkingDir, i.dest);
    const chmod = i.chmod === undefined ? undefined : parseChmod(i.chmod);
    const paths = i.sources.flatMap((s) => ('path' in s ? [s.path] : []));
    const heredocs = i.sources.flatMap((s) => ('heredoc' in s ? [s.heredoc] : []));
    const urls = paths.filter((s) => /^https?:\/\//.test(s));
    const localPaths = paths.filter((s) => !urls.includes(s));
    if (i.kind === 'copy' && urls.length > 0) {
      throw new BuilderError('EINVAL', "source can't be a URL for COPY", {
        hint: 'Use ADD to download a URL.',
      });
    }
    if (i.kind === 'add' && i.checksum !== undefined && (paths.length !== 1 || urls.length !== 1)) {
      throw new BuilderError('EINVAL', 'checksum requires a single HTTP(S) source');
    }
    const source: SourceRef | undefined = i.kind === 'copy' ? p.sources.get(raw) : undefined;

    // Inputs: the context files' checksum, or the source stage's key / image digest.
    const inputs: string[] = [];
    let selected: SelectedSource[] = [];
    let fromState: StageState | undefined;
    let fromImage: BaseImage | undefined;
    /** What this step read of the context (stages build concurrently: not the last one pushed). */
    let reads: SelectedSource[] | undefined;
    if (source?.kind === 'stage') {
      fromState = await this.buildStage(source.index);
      inputs.push(`stage:${fromState.key}`);
    } else if (source?.kind === 'image') {
      fromImage = await this.baseImage(source.ref);
      inputs.push(`image:${fromImage.manifestDescriptor.digest}`);
    } else if (localPaths.length > 0) {
      const ctxVertex = this.progress.vertex('[internal] load build context').start();
      try {
        const ignore = await this.loadIgnore();
        selected = await selectSources(this.o.contextDir, localPaths, ignore, {
          ...(this.o.signal ? { signal: this.o.signal } : {}),
        });
        selected = await followSourceLinks(this.o.contextDir, selected, ignore);
        reads = selected;
        this.contextReads.push(reads);
        const memo = await this.loadStatMemo();
        const before = memo.size;
        inputs.push(
          await checksumSources(selected, {
            memo,
            prefetch: prefetchContextFiles,
            ...(this.o.signal ? { signal: this.o.signal } : {}),
          }),
        );
        if (memo.size !== before || before === 0) this.statMemoDirty = true;
        ctxVertex.done();
      } catch (err) {
        ctxVertex.fail(err);
        throw err;
      }
    }
    for (const url of urls) this.externalInputs.push(`ADD ${url}`);
    // Loaded here: it brings node:http and node:https (~5 ms at start), which builds without
    // ADD <url> never need.
    let downloads: Download[] = [];
    if (urls.length > 0) {
      const { fetchToFile } = await import('./fetch.js');
      downloads = await Promise.all(
        urls.map((url) =>
          fetchToFile(url, join(this.o.store.root, 'tmp'), {
            ...(i.kind === 'add' && i.checksum ? { checksum: i.checksum } : {}),
            ...(this.o.signal ? { signal: this.o.signal } : {}),
          }),
        ),
      );
    }
    for (const d of downloads) inputs.push(`url:${d.url}:${d.digest}`);
    const heredocDigest = (content: string) => `sha256:${sha256Hex(content)}`;
    const op = {
      kind: i.kind,
      sources: paths,
      heredocs: heredocs.map((h) => ({ name: h.name, content: heredocDigest(h.content), chomp: h.chomp })),
      dest,
      chown: i.chown ?? null,
      chmod: chmod ?? null,
      exclude: i.exclude,
      parents: i.kind === 'copy' ? i.parents : false,
      unpack: i.kind === 'add' ? (i.unpack ?? true) : false,
    };
    const key = stepKey(state.key, this.platformText, op, inputs);
    const flags = [
      ...(i.kind === 'copy' && i.parents ? ['--parents'] : []),
      ...(i.chown !== undefined ? [`--chown=${i.chown}`] : []),
      ...(i.chmod !== undefined ? [`--chmod=${i.chmod}`] : []),
    ];
    const historyLine = [KW, ...flags, ...paths, ...heredocs.map((h) => `<<${h.name}`), i.dest].join(' ');
    const name = label(i.original.replace(/^\s*\S+/, KW).trim());
    const layersBefore = state.layers.length;
    await this.layerStep(state, name, key, `${historyLine} # buildkit`, async () => {
      const spec = (selected: SelectedSource[]): CopySpec => ({
        dest,
        selected,
        heredocs,
        ...(i.chown === undefined ? {} : { chown: i.chown }),
        ...(chmod === undefined ? {} : { chmod }),
        exclude: i.exclude,
        parents: i.kind === 'copy' ? i.parents : false,
        keepOwner: source !== undefined,
        unpackArchives: i.kind === 'add' && (i.unpack ?? true),
        downloads: downloads.map((d) => ({
          name: d.name,
          file: d.file,
          ...(d.mtime ? { mtime: d.mtime } : {}),
        })),
        now: this.epochDate ?? new Date(),
      });
      const run = (from: (root: string) => Promise<SelectedSource[]>) =>
        this.rootfs().mutate(
          state.layers,
          async (rootfs) => performCopy(rootfs, spec(await from(rootfs))),
          this.o.signal,
        );
      if (fromState || fromImage) {
        const layers = fromState ? fromState.layers : layersOf(fromImage as BaseImage);
        return this.rootfs().view(layers, (srcRoot) =>
          run(async () =>
            followSourceLinks(
              srcRoot,
              await selectSources(srcRoot, localPaths, [], this.o.signal ? { signal: this.o.signal } : {}),
              [],
            ),
          ),
        );
      }
      const pool = this.o.snapshotter?.filePool;
      if (
        this.o.directCopy !== false &&
        this.o.snapshotter?.kind === 'overlay' &&
        directCopyFits(spec(selected))
      ) {
        try {
          return await this.rootfs().mutateDirect(
            state.layers,
            (upper, lowers) => performCopy(upper, { ...spec(selected), direct: { lowers, pool } }),
            this.o.signal,
          );
        } catch (err) {
          if (!(err instanceof NotDirectError)) throw err;
        }
      }
      return run(async () => selected);
    });
    const plain =
      i.kind === 'copy' &&
      source === undefined &&
      urls.length === 0 &&
      heredocs.length === 0 &&
      localPaths.length > 0 &&
      !i.parents &&
      i.exclude.length === 0 &&
      selected.every((s) =>
        s.matches.every(
          (m) => m.type !== 'symlink' && m.entries.every((e) => e.type === 'file' || e.type === 'dir'),
        ),
      );
    // SOURCE_DATE_EPOCH sets times a replay would have to know: not replayed.
    if (plain && reads !== undefined && state.layers.length > layersBefore && this.epochDate === undefined)
      state.replay = {
        step: name,
        files: selected.flatMap((s) =>
          s.matches.flatMap((m) =>
            m.entries
              .filter((e) => e.type === 'file')
              .map((e) => ({
                path: e.path,
                tail: m.type === 'dir' ? e.rel : basename(m.path),
                shared: false,
              })),
          ),
        ),
        reads,
      };
  }

  private async runStep(
    p: PlannedStage,
    state: StageState,
    i: RunInstruction,
    label: (t: string) => string,
  ): Promise<void> {
    const cfg = containerConfig(state.image);
    let args = [...i.args];
    if (i.heredocs.length > 0 && i.prependShell) {
      // `RUN <<EOF` runs the document through the shell; more complex forms hand the shell
      // the line followed by each document, as BuildKit does.
      const first = i.heredocs[0];
      if (
        args.length === 1 &&
        /^<<-?\s*['"]?[A-Za-z0-9_]+['"]?\s*$/.test((args[0] as string).trim()) &&
        first
      ) {
        args = [first.content];
      } else {
        args = [[args.join(' '), ...i.heredocs.map((h) => `${h.content}${h.name}`)].join('\n')];
      }
    }
    const argv = i.prependShell ? withShell(state.image, args) : args;
    const proxy = new Set<string>(PROXY_ARGS);
    const env = state.env.clone();
    for (const k of PROXY_ARGS) {
      const v = this.scope.buildArgs.get(k);
      if (v !== undefined && !env.has(k)) env.set(k, v);
    }
    const runEnv = env.toList();
    const keyEnv = runEnv.filter((e) => !proxy.has(e.slice(0, e.indexOf('='))));
    const mounts = i.mounts.map(parseRunMount);
    const network = (i.network ?? 'default') as 'default' | 'host' | 'none';
    if (!['default', 'host', 'none'].includes(network)) {
      throw new BuilderError('EINVAL', `unsupported network mode ${i.network}`, {
        hint: 'RUN --network takes default, host or none.',
      });
    }
    const op = {
      kind: 'run',
      args: argv,
      env: keyEnv,
      user: cfg.User ?? '',
      workdir: cfg.WorkingDir || '/',
      network,
      security: i.security ?? 'sandbox',
      mounts: mounts.map((m) =>
        m.type === 'secret' ? { type: 'secret', id: m.id, target: m.target, env: m.env ?? null } : m,
      ),
    };
    const inputs: string[] = [];
    for (const m of mounts) {
      if ((m.type === 'bind' || m.type === 'cache') && m.from !== undefined) {
        const ref = this.resolveFrom(p, i, m.from);
        inputs.push(
          ref.kind === 'stage'
            ? `stage:${(await this.buildStage(ref.index)).key}`
            : `image:${(await this.baseImage(ref.ref)).manifestDescriptor.digest}`,
        );
      } else if (m.type === 'bind') {
        const sel = await selectSources(this.o.contextDir, [m.source], await this.loadIgnore());
        this.contextReads.push(sel);
        inputs.push(
          await checksumSources(sel, { memo: await this.loadStatMemo(), prefetch: prefetchContextFiles }),
        );
      }
    }
    const key = stepKey(state.key, this.platformText, op, inputs);
    const historyLine = runHistoryLine(argv, state.declared, env);
    const name = label(i.original.replace(/^\s*\S+/, 'RUN').trim());
    await this.layerStep(state, name, key, `${historyLine} # buildkit`, async (vertex) => {
      const executor = this.o.runExecutor;
      if (!executor) {
        throw new BuilderError('EPRECONDITION', 'RUN needs a container runtime, and none is configured', {
          hint: 'Install runc (apt-get install runc) and build as root, or use --isolation chroot.',
        });
      }
      return this.rootfs().mutate(
        state.layers,
        async (rootfs) => {
          const resolved = await this.resolveRunMounts(p, i, mounts, rootfs);
          try {
            await executor.run({
              rootfs,
              args: argv,
              env: runEnv.concat(resolved.env),
              user: cfg.User ?? '',
              workdir: cfg.WorkingDir || '/',
              network,
              security: (i.security ?? 'sandbox') as 'sandbox' | 'insecure',
              mounts: resolved.mounts,
              hostname: 'buildkitsandbox',
              onOutput: (stream, chunk) => vertex.log(stream, chunk.toString('utf8')),
              ...(this.o.signal ? { signal: this.o.signal } : {}),
            });
          } finally {
            await resolved.release();
          }
        },
        this.o.signal,
      );
    });
  }

  private resolveFrom(p: PlannedStage, i: StageInstruction, from: string): SourceRef {
    if (/^\d+$/.test(from)) return { kind: 'stage', index: Number(from) };
    const stage = this.plan.stages.find(
      (s) => s.stage.name === from.toLowerCase() && s.stage.index < p.stage.index,
    );
    if (stage) return { kind: 'stage', index: stage.stage.index };
    void i;
    return { kind: 'image', ref: from };
  }

  /** Host sources for RUN mounts: cache dirs, secrets, context or stage binds. */
  private async resolveRunMounts(
    p: PlannedStage,
    i: RunInstruction,
    mounts: RunMount[],
    rootfs: string,
  ): Promise<{ mounts: ResolvedRunMount[]; env: string[]; release: () => Promise<void> }> {
    const { resolveRunMounts } = await import('./run-mounts.js');
    return resolveRunMounts({
      storeRoot: this.o.store.root,
      contextDir: this.o.contextDir,
      secrets: this.o.secrets ?? {},
      rootfs,
      mounts,
      viewOf: async (from: string, fn) => {
        const ref = this.resolveFrom(p, i, from);
        const layers =
          ref.kind === 'stage'
            ? (await this.buildStage(ref.index)).layers
            : layersOf(await this.baseImage(ref.ref));
        return this.rootfs().view(layers, fn);
      },
    });
  }

  /** BuildResult.replayable: the stage's last COPY, its files marked when another step read them. */
  private replayable(replay: StageReplay): ReplayableStep {
    const copied = new Set(replay.files.map((f) => f.path));
    const shared = new Set<string>();
    for (const selection of this.contextReads) {
      if (selection === replay.reads) continue;
      for (const s of selection)
        for (const m of s.matches) for (const e of m.entries) if (copied.has(e.path)) shared.add(e.path);
    }
    return { step: replay.step, files: replay.files.map((f) => ({ ...f, shared: shared.has(f.path) })) };
  }

  private async export(target: StageState): Promise<BuildResult> {
    const v = this.progress.vertex('exporting to image').start();
    try {
      const image = clone(target.image);
      image.created = this.createdFor(target);
      image.rootfs = { type: 'layers', diff_ids: target.layers.map((l) => l.diffId) };
      const labels = this.o.labels ?? {};
      if (Object.keys(labels).length > 0) {
        const cfg = containerConfig(image);
        cfg.Labels = { ...(cfg.Labels ?? {}), ...labels };
      }
      const stored = await this.o.store.images.put(
        image,
        target.layers.map((l) => l.descriptor),
        // Its names are the tags about to be made, reported as such: not looked up here.
        { mediaTypes: 'oci', names: false },
      );
      v.log('status', `writing image ${stored.id}`);
      const tags: string[] = [];
      for (const tag of this.o.tags ?? []) {
        const { name } = await this.o.store.images.tag(stored, tag);
        v.log('status', `naming to ${name}`);
        tags.push(name);
      }
      v.done();
      return {
        image: stored,
        tags,
        steps: this.steps,
        warnings: this.warnings,
        externalInputs: this.externalInputs,
        ...(target.replay === undefined ? {} : { replayable: this.replayable(target.replay) }),
      };
    } catch (err) {
      v.fail(err);
      throw err;
    }
  }
}

function layersOf(image: BaseImage): LayerRef[] {
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  return image.manifest.layers.map((descriptor, i) => ({
    descriptor,
    diffId: diffIds[i] as Digest,
    uncompressedSize: 0,
  }));
}

/** Builds an image from a Dockerfile and a context directory. */
export function build(options: BuildOptions): Promise<BuildResult> {
  return new Build(options).run();
}

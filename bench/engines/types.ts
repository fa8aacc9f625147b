// What the harness asks of each tool. Everything but `build` and `push` is untimed preparation.

import type { Cmd } from '../lib/proc.js';

/** `baseline`: another Strata checkout (`--baseline DIR`), for before/after numbers in the same run. */
export type ToolName = 'strata' | 'buildkit' | 'buildah' | 'baseline';

/** A base image each tool makes for itself (not timed): a context dir and the name it gets. */
export interface BaseSpec {
  name: string;
  contextDir: string;
}

export interface ImageSize {
  /** Bytes of the uncompressed layers (what `images` shows). */
  uncompressed?: number;
  /** Bytes of the compressed layers (the manifest's sizes), when the tool stores them. */
  compressed?: number;
}

export interface Tool {
  readonly name: ToolName;
  /** Human description for the report (versions, isolation, storage). */
  describe(): string;
  /** Checks the tool can run here and starts what it needs (a daemon); throws with the reason. */
  setup(workDir: string, log: string): Promise<void>;
  /**
   * An empty build cache for `workload`, with `bases` present (made here, untimed):
   * a fresh store (strata, buildah) or a pruned builder (docker).
   */
  fresh(workload: string, bases: BaseSpec[], log: string): Promise<void>;
  /** The timed build. */
  build(workload: string, contextDir: string, tag: string): Cmd;
  /** Untimed, after a successful build: image size. */
  size(workload: string, tag: string): Promise<ImageSize>;
  /** Whether push exists, with a reason when it does not. */
  pushSupport(): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Untimed preparation of a push (tagging); returns the timed push command. */
  preparePush(workload: string, tag: string, remote: string, log: string): Promise<Cmd>;
  /** Stops what setup started and removes the tool's state. */
  teardown(): Promise<void>;
}

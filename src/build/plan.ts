// Stages → what to build: FROM names expanded with the global ARGs, each stage's base
// (scratch, an earlier stage, or an image), its dependencies (COPY --from, RUN --mount from=),
// the target, and only the stages the target needs.

import { didYouMean } from '../dockerfile/instructions/did-you-mean.js';
import type { ParsedDockerfile, Stage, StageInstruction } from '../dockerfile/instructions/types.js';
import { ShellLexer } from '../dockerfile/shell/shell-lexer.js';
import { DockerfileError } from '../errors.js';
import type { EnvList } from './args.js';

export type BaseRef = { kind: 'scratch' } | { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

/** Where a COPY --from or a RUN --mount from= reads: another stage or an image. */
export type SourceRef = { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

export interface PlannedStage {
  stage: Stage;
  /** BuildKit's display name: the AS name, `stage-N`, or '' when the file has one stage. */
  displayName: string;
  base: BaseRef;
  platform?: string;
  /** Sources used by instructions, keyed by the instruction. */
  sources: Map<StageInstruction, SourceRef>;
  /** Indexes of stages this one needs (its base and its sources). */
  deps: Set<number>;
}

export interface BuildPlan {
  stages: PlannedStage[];
  target: number;
  /** Stage indexes the target needs, in an order where each comes after what it needs. */
  order: number[];
}

export function planBuild(
  file: ParsedDockerfile,
  globalArgs: EnvList,
  target: string | undefined,
): BuildPlan {
  const lexer = new ShellLexer(file.escapeToken);
  const byName = new Map<string, number>();
  const planned: PlannedStage[] = [];
  for (const stage of file.stages) {
    const expansion = lexer.processWordWithMatches(stage.image, globalArgs.getter());
    const image = expansion.result;
    if (image === '') {
      throw new DockerfileError(`base name (${stage.image}) should not be blank`, {
        ranges: [stage.from.range],
        hint: 'Give FROM an image, or make sure the ARG it uses has a value (--build-arg or a default).',
      });
    }
    let base: BaseRef;
    const earlier = byName.get(image.toLowerCase());
    if (earlier !== undefined) base = { kind: 'stage', index: earlier };
    else if (image.toLowerCase() === 'scratch') base = { kind: 'scratch' };
    else base = { kind: 'image', ref: image };
    const platform =
      stage.platform === undefined ? undefined : lexer.processWord(stage.platform, globalArgs.getter());
    planned.push({
      stage,
      displayName: stage.name ?? `stage-${stage.index}`,
      base,
      ...(platform === undefined ? {} : { platform }),
      sources: new Map(),
      deps: new Set(base.kind === 'stage' ? [base.index] : []),
    });
    if (stage.name !== undefined) byName.set(stage.name, stage.index);
  }
  if (planned.length === 1) (planned[0] as PlannedStage).displayName = '';

  const resolveSource = (from: string, current: PlannedStage, instruction: StageInstruction): SourceRef => {
    if (/^\d+$/.test(from)) {
      const index = Number(from);
      if (index >= planned.length) {
        throw new DockerfileError(`invalid stage index ${index}`, { ranges: [instruction.range] });
      }
      if (index >= current.stage.index) {
        throw new DockerfileError(
          `cannot copy from stage "${from}", it needs to be defined before current stage "${current.displayName || current.stage.index}"`,
          { ranges: [instruction.range] },
        );
      }
      return { kind: 'stage', index };
    }
    const index = byName.get(from.toLowerCase());
    if (index !== undefined) {
      if (index >= current.stage.index) {
        throw new DockerfileError(
          `cannot copy from stage "${from}", it needs to be defined before current stage "${current.displayName}"`,
          { ranges: [instruction.range] },
        );
      }
      return { kind: 'stage', index };
    }
    return { kind: 'image', ref: from };
  };

  for (const p of planned) {
    for (const i of p.stage.instructions) {
      let from: string | undefined;
      if (i.kind === 'copy' && i.from !== undefined) from = i.from;
      if (i.kind === 'run') {
        // Only the first stage-reading mount is tracked as a dependency here; the RUN step
        // resolves each mount itself and finds the stage results through the same plan.
        for (const m of i.mounts) {
          const f = /(?:^|,)from=([^,]+)/.exec(m)?.[1];
          if (f !== undefined) {
            const ref = resolveSource(f, p, i);
            if (ref.kind === 'stage') p.deps.add(ref.index);
          }
        }
      }
      if (from === undefined) continue;
      if (lexer.processWord(from, globalArgs.getter()) !== from || /\$/.test(from)) {
        throw new DockerfileError(
          'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround',
          { ranges: [i.range] },
        );
      }
      const ref = resolveSource(from, p, i);
      p.sources.set(i, ref);
      if (ref.kind === 'stage') p.deps.add(ref.index);
    }
  }

  let targetIndex = planned.length - 1;
  if (target !== undefined && target !== '') {
    const found = byName.get(target.toLowerCase());
    if (found === undefined) {
      const names = [...byName.keys()];
      const guess = didYouMean(target, names);
      throw new DockerfileError(
        `target stage "${target}" could not be found${guess ? ` (did you mean ${guess}?)` : ''}`,
        {
          hint:
            names.length > 0
              ? `Stages with names: ${names.join(', ')}.`
              : 'No stage has a name; name one with FROM … AS <name>.',
        },
      );
    }
    targetIndex = found;
  }

  // Depth-first from the target: a stage comes after everything it needs.
  const order: number[] = [];
  const seen = new Set<number>();
  const visit = (index: number) => {
    if (seen.has(index)) return;
    seen.add(index);
    for (const d of (planned[index] as PlannedStage).deps) visit(d);
    order.push(index);
  };
  visit(targetIndex);
  return { stages: planned, target: targetIndex, order };
}

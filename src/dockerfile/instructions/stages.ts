// Instructions → stages: global ARGs before the first FROM, then one stage per FROM.

import { DockerfileError } from '../../errors.js';
import type { ParseResult } from '../parser/ast.js';
import { convertNode } from './convert.js';
import type { ArgInstruction, DockerfileWarning, ParsedDockerfile, Stage } from './types.js';

export function toStages(result: ParseResult): ParsedDockerfile {
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Map<string, Stage>();
  for (const node of result.nodes) {
    const instruction = convertNode(node);
    if (instruction.kind === 'from') {
      const stage: Stage = {
        index: stages.length,
        image: instruction.image,
        from: instruction,
        instructions: [],
        comments: node.comments,
        ...(instruction.stageName === undefined ? {} : { name: instruction.stageName }),
        ...(instruction.platform === undefined ? {} : { platform: instruction.platform }),
      };
      if (stage.name !== undefined) {
        const earlier = names.get(stage.name);
        if (earlier) {
          throw new DockerfileError(`duplicate stage name "${stage.name}"`, {
            ranges: [instruction.range, earlier.from.range],
            hint: 'Give each stage its own name after AS.',
          });
        }
        names.set(stage.name, stage);
      }
      stages.push(stage);
      continue;
    }
    const current = stages[stages.length - 1];
    if (current) {
      current.instructions.push(instruction);
    } else if (instruction.kind === 'arg') {
      globalArgs.push(instruction);
    } else {
      throw new DockerfileError('no build stage in current context', {
        ranges: [instruction.range],
        hint: `Only ARG may come before the first FROM; move this ${instruction.kind.toUpperCase()} below a FROM.`,
      });
    }
  }
  if (stages.length === 0) {
    throw new DockerfileError('file with no instructions', { hint: 'A Dockerfile needs at least a FROM.' });
  }
  const warnings: DockerfileWarning[] = result.warnings.map((w) => ({
    short: w.short,
    detail: w.detail,
    range: w.location,
    ...(w.url === undefined ? {} : { url: w.url }),
  }));
  return {
    globalArgs,
    stages,
    escapeToken: result.escapeToken,
    warnings,
    ...(result.directives.syntax === undefined ? {} : { syntax: result.directives.syntax }),
  };
}

// `strata dockerfile dump|parse`: the front end, exposed for debugging and tooling.

import { parseDockerfile } from '../../dockerfile/index.js';
import { dump as dumpNodes } from '../../dockerfile/parser/dump.js';
import { parse as parseSyntax } from '../../dockerfile/parser/parse.js';
import { DockerfileError } from '../../errors.js';
import type { CommandContext } from '../command.js';
import { readFileOrStdin } from '../input.js';

export async function dump(ctx: CommandContext): Promise<number> {
  const { name, text } = await readFileOrStdin(ctx.args.positionals[0] as string, ctx.stdin);
  let result: ReturnType<typeof parseSyntax>;
  try {
    result = parseSyntax(text, { file: name });
  } catch (err) {
    throw err instanceof DockerfileError ? err.withFile(name, text) : err;
  }
  for (const w of result.warnings)
    ctx.stderr.write(`warning: ${name}:${w.location.start.line}: ${w.short}\n`);
  ctx.stdout.write(`${dumpNodes(result.nodes)}\n`);
  return 0;
}

export async function parse(ctx: CommandContext): Promise<number> {
  const { name, text } = await readFileOrStdin(ctx.args.positionals[0] as string, ctx.stdin);
  const parsed = parseDockerfile(text, { file: name });
  for (const w of parsed.warnings) ctx.stderr.write(`warning: ${name}:${w.range.start.line}: ${w.short}\n`);
  if (ctx.args.options.json === true) {
    ctx.stdout.write(`${JSON.stringify(parsed, null, 2)}\n`);
    return 0;
  }
  for (const a of parsed.globalArgs) ctx.stdout.write(`global ${a.original}\n`);
  for (const stage of parsed.stages) {
    ctx.stdout.write(`stage ${stage.index}${stage.name ? ` (${stage.name})` : ''}: FROM ${stage.image}\n`);
    for (const i of stage.instructions)
      ctx.stdout.write(
        `  ${i.range.start.line}: ${i.kind.toUpperCase()} ${i.original.replace(/^\s*\S+\s*/, '')}\n`,
      );
  }
  return 0;
}

// One logical line (continuations already joined) → one instruction node. Line numbers,
// comments and heredoc bodies are filled in by `parse`, which knows the surrounding file.

import type { InstructionNode } from './ast.js';
import { goToLower } from './go-strings.js';
import { parseArguments } from './parse-arguments.js';
import { splitCommand } from './split-command.js';

/** Parse `line` as an instruction. Throws a DockerfileError (without location) on bad arguments. */
export function parseInstruction(line: string, escapeToken: string): InstructionNode {
  const { keyword, flags, rest } = splitCommand(line, escapeToken);
  const node: InstructionNode = {
    keyword: goToLower(keyword),
    flags,
    args: [],
    json: false,
    heredocs: [],
    original: line,
    startLine: 0,
    endLine: 0,
    comments: [],
  };
  if (node.keyword === 'onbuild') {
    // ONBUILD nests a complete instruction, with its own keyword and flags.
    if (rest !== '') node.child = parseInstruction(rest, escapeToken);
    return node;
  }
  const { args, json } = parseArguments(node.keyword, rest, escapeToken);
  node.args = args;
  node.json = json;
  return node;
}

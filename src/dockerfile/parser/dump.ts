// BuildKit's AST dump, byte for byte: one `(keyword ["flags"] "arg"...)` line per
// instruction. It is what the conformance corpus compares, and a handy debugging view.

import type { InstructionNode } from './ast.js';
import { goQuote } from './go-quote.js';
import { trimGoSpace } from './go-strings.js';

function dumpNode(node: InstructionNode): string {
  let out = node.keyword;
  if (node.flags.length > 0) out += ` [${node.flags.map(goQuote).join(' ')}]`;
  if (node.child !== undefined) out += ` (${dumpNode(node.child)})`;
  for (const arg of node.args) out += ` ${goQuote(arg)}`;
  // BuildKit trims each node's dump: an empty keyword leaves no leading space.
  return trimGoSpace(out);
}

/** The dump of a parsed file: instructions in order, separated by `\n`, no trailing newline. */
export function dump(nodes: readonly InstructionNode[]): string {
  return nodes.map((node) => `(${dumpNode(node)})`).join('\n');
}

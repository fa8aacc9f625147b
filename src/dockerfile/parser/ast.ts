// The syntax tree of a Dockerfile: what the text says, before any meaning is given to it.
// BuildKit keeps a linked list of nodes; we keep arrays and reproduce its dump format.

import type { SourceRange } from '../../errors.js';

export interface Heredoc {
  /** The delimiter word, quotes removed (`<<'EOF'` → `EOF`). */
  name: string;
  /** The body, every line with its trailing newline; no chomping applied (that is the consumer's job). */
  content: string;
  /** False when the delimiter was quoted: the body is not variable-expanded. */
  expand: boolean;
  /** True for `<<-`: leading tabs are to be stripped by the consumer. */
  chomp: boolean;
  /** The descriptor the body is fed to (`3<<EOF` → 3); 0 when none was written. */
  fileDescriptor: number;
}

export interface InstructionNode {
  /** The keyword, lower-cased (`from`, `run`, or an unknown word as written, lower-cased). */
  keyword: string;
  /** Flags in source order, as written (`--from=builder`). */
  flags: string[];
  /** Argument nodes, exactly the values BuildKit's dump prints. */
  args: string[];
  /** True when the arguments came from a JSON (exec-form) array. */
  json: boolean;
  /** For ONBUILD: the nested instruction. */
  child?: InstructionNode;
  /** Heredocs opened on this instruction's line, in order. */
  heredocs: Heredoc[];
  /** The logical line as written (continuations joined), without heredoc bodies. */
  original: string;
  /** 1-based first and last physical line (continuations and heredoc bodies included). */
  startLine: number;
  endLine: number;
  /** Comment lines directly above the instruction (without the `#`), for doc comments. */
  comments: string[];
}

export interface ParserWarning {
  short: string;
  detail: string[];
  url?: string;
  location: SourceRange;
}

export interface ParserDirectives {
  escape?: string;
  syntax?: string;
  check?: string;
}

export interface ParseResult {
  nodes: InstructionNode[];
  /** The escape character in force: `\` or `` ` ``. */
  escapeToken: string;
  directives: ParserDirectives;
  warnings: ParserWarning[];
}

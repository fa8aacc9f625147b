// Variable expansion of an instruction with the stage's environment at that step, as
// BuildKit's Expand methods: which fields expand, and how, is decided per instruction.
// Returns a new instruction; the parsed one is never changed.

import type { CopySource, Instruction, KeyValue } from '../dockerfile/instructions/types.js';
import type { EnvGetter } from '../dockerfile/shell/env.js';
import { ShellLexer } from '../dockerfile/shell/shell-lexer.js';

export interface Expander {
  word(text: string): string;
  words(text: string): string[];
  /** Heredoc bodies: variables expand, quotes are plain characters. */
  raw(text: string): string;
}

export function makeExpander(escapeToken: string, env: EnvGetter): Expander {
  const lexer = new ShellLexer(escapeToken);
  const rawLexer = new ShellLexer('\\', { skipProcessQuotes: true });
  return {
    word: (text) => lexer.processWord(text, env),
    words: (text) => lexer.processWords(text, env),
    raw: (text) => rawLexer.processWord(text, env),
  };
}

export function expandInstruction<I extends Instruction>(i: I, x: Expander): I {
  const kv = (pairs: KeyValue[]): KeyValue[] =>
    pairs.map((p) => ({ ...p, key: x.word(p.key), value: x.word(p.value) }));
  const sources = (list: CopySource[]): CopySource[] =>
    list.map((s) =>
      'path' in s
        ? { path: x.word(s.path) }
        : { heredoc: s.heredoc.expand ? { ...s.heredoc, content: x.raw(s.heredoc.content) } : s.heredoc },
    );
  const opt = (v: string | undefined) => (v === undefined ? undefined : x.word(v));
  switch (i.kind) {
    case 'env':
      return { ...i, env: kv(i.env) };
    case 'label':
      return { ...i, labels: kv(i.labels) };
    case 'copy':
    case 'add': {
      const chown = opt(i.chown);
      const chmod = opt(i.chmod);
      return {
        ...i,
        sources: sources(i.sources),
        dest: x.word(i.dest),
        ...(chown === undefined ? {} : { chown }),
        ...(chmod === undefined ? {} : { chmod }),
      };
    }
    case 'expose':
      return { ...i, ports: i.ports.flatMap((p) => x.words(p)) };
    case 'user':
      return { ...i, user: x.word(i.user) };
    case 'workdir':
      return { ...i, path: x.word(i.path) };
    case 'stopsignal':
      return { ...i, signal: x.word(i.signal) };
    case 'volume':
      return { ...i, volumes: i.volumes.map((v) => x.word(v)) };
    case 'run':
      return { ...i, mounts: i.mounts.map((m) => x.word(m)) };
    default:
      // FROM is expanded with the global ARGs by the planner; ARG values by the ARG step;
      // RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK/ONBUILD/MAINTAINER are left to the shell or kept as written.
      return i;
  }
}

// A small subset of Go's text/template, enough for docker-style --format strings:
//
//   {{.}} {{.Field}} {{.A.B}}          fields (a missing field of a row is an error, as in docker;
//                                      a missing key of a map prints "<no value>")
//   {{json .X}} {{join .X ","}} {{upper .X}} {{lower .X}} {{title .X}} {{split .X ","}}
//   {{truncate .X 12}} {{pad .X 1 1}} {{len .X}} {{index .X "key"}} {{println .X}}
//   {{.X | json}}                      pipelines
//   {{if .X}}…{{else if .Y}}…{{else}}…{{end}}  {{range .X}}…{{end}}  {{with .X}}…{{end}}
//   {{- trims -}}, "strings", `raw strings`, numbers, true/false
//
// Values print as Go's fmt %v does: slices as [a b], maps as map[k:v] (sorted keys), nil as <nil>.

import { BuilderError } from '../../errors.js';
import { goJsonStringify } from '../../oci/go-json.js';

/** Marks row objects whose missing fields are errors (docker's formatter contexts are structs). */
export const STRUCT_NAME = Symbol('go struct name');

type Expr =
  | { kind: 'field'; path: string[]; pos: number }
  | { kind: 'dot' }
  | { kind: 'literal'; value: unknown }
  | { kind: 'call'; name: string; args: Expr[]; pos: number }
  | { kind: 'pipe'; stages: Expr[] };

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; expr: Expr }
  | { kind: 'if'; branches: Array<{ cond: Expr; body: Node[] }>; otherwise: Node[] }
  | { kind: 'range'; expr: Expr; body: Node[]; otherwise: Node[] }
  | { kind: 'with'; expr: Expr; body: Node[]; otherwise: Node[] };

function parseError(message: string): BuilderError {
  return new BuilderError('EINVAL', `template parsing error: template: :${message}`);
}

function execError(message: string): BuilderError {
  return new BuilderError('EINVAL', `template: ${message}`);
}

interface Token {
  kind: 'text' | 'action';
  text: string;
  pos: number;
}

function lex(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      tokens.push({ kind: 'text', text: source.slice(i), pos: i });
      break;
    }
    let text = source.slice(i, open);
    let start = open + 2;
    if (
      source.startsWith('- ', start) ||
      source.startsWith('-\t', start) ||
      source.startsWith('-\n', start)
    ) {
      text = text.replace(/\s+$/, '');
      start++;
    }
    if (text !== '') tokens.push({ kind: 'text', text, pos: i });
    // find the closing braces outside of string literals
    let j = start;
    let quote: string | undefined;
    for (; j < source.length; j++) {
      const c = source[j];
      if (quote !== undefined) {
        if (c === '\\' && quote === '"') j++;
        else if (c === quote) quote = undefined;
      } else if (c === '"' || c === '`') quote = c;
      else if (source.startsWith('}}', j)) break;
    }
    if (j >= source.length) throw parseError(`1: unclosed action`);
    let inner = source.slice(start, j);
    let next = j + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const m = /^\s*/.exec(source.slice(next));
      next += m?.[0].length ?? 0;
    }
    tokens.push({ kind: 'action', text: inner.trim(), pos: open });
    i = next;
  }
  return tokens;
}

function splitWords(text: string, pos: number): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' && c === '"' ? 2 : 1;
      if (j >= text.length) throw parseError(`${pos}: unterminated quoted string`);
      words.push(text.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (c === '|' || c === '(' || c === ')') {
      words.push(c);
      i++;
      continue;
    }
    let j = i;
    while (j < text.length && !/[\s|()]/.test(text[j] as string)) j++;
    words.push(text.slice(i, j));
    i = j;
  }
  return words;
}

function parseOperand(word: string, pos: number): Expr {
  if (word === '.') return { kind: 'dot' };
  if (word.startsWith('.')) {
    const path = word.slice(1).split('.');
    if (path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) throw parseError(`${pos}: bad field ${word}`);
    return { kind: 'field', path, pos };
  }
  if (word.startsWith('"')) return { kind: 'literal', value: JSON.parse(word) as string };
  if (word.startsWith('`')) return { kind: 'literal', value: word.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(word)) return { kind: 'literal', value: Number(word) };
  if (word === 'true' || word === 'false') return { kind: 'literal', value: word === 'true' };
  if (word === 'nil') return { kind: 'literal', value: null };
  return { kind: 'call', name: word, args: [], pos };
}

function parsePipeline(text: string, pos: number): Expr {
  const words = splitWords(text, pos);
  const stages: Expr[] = [];
  let i = 0;
  const parseCommand = (): Expr => {
    const parts: Expr[] = [];
    while (i < words.length && words[i] !== '|' && words[i] !== ')') {
      const w = words[i++] as string;
      if (w === '(') {
        parts.push(parseGroup());
        continue;
      }
      parts.push(parseOperand(w, pos));
    }
    if (parts.length === 0) throw parseError(`${pos}: missing value for command`);
    const [head, ...rest] = parts as [Expr, ...Expr[]];
    if (head.kind === 'call') return { ...head, args: rest };
    if (rest.length > 0) throw parseError(`${pos}: can't give argument to non-function`);
    return head;
  };
  const parseGroup = (): Expr => {
    const inner: Expr[] = [parseCommand()];
    while (words[i] === '|') {
      i++;
      inner.push(parseCommand());
    }
    if (words[i] !== ')') throw parseError(`${pos}: unclosed left paren`);
    i++;
    return inner.length === 1 ? (inner[0] as Expr) : { kind: 'pipe', stages: inner };
  };
  stages.push(parseCommand());
  while (words[i] === '|') {
    i++;
    stages.push(parseCommand());
  }
  if (i < words.length) throw parseError(`${pos}: unexpected "${words[i]}"`);
  return stages.length === 1 ? (stages[0] as Expr) : { kind: 'pipe', stages };
}

function parseNodes(tokens: Token[]): Node[] {
  let i = 0;
  const parseList = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++] as Token;
      if (t.kind === 'text') {
        nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const text = t.text;
      const keyword = /^(if|else if|else|end|range|with)\b/.exec(text)?.[1];
      if (keyword === 'end' || keyword === 'else' || keyword === 'else if') {
        if (!terminators.includes(keyword)) throw parseError(`${t.pos}: unexpected {{${keyword}}}`);
        if (keyword === 'else if') i--; // let the if parser see it
        return { nodes, end: keyword };
      }
      if (text.startsWith('/*')) continue; // comment
      if (keyword === 'if') {
        const branches: Array<{ cond: Expr; body: Node[] }> = [];
        let cond = parsePipeline(text.slice(2), t.pos);
        let otherwise: Node[] = [];
        for (;;) {
          const body = parseList(['else', 'else if', 'end']);
          branches.push({ cond, body: body.nodes });
          if (body.end === 'end') break;
          if (body.end === 'else if') {
            const elseIf = tokens[i++] as Token;
            cond = parsePipeline(elseIf.text.slice('else if'.length), elseIf.pos);
            continue;
          }
          otherwise = parseList(['end']).nodes;
          break;
        }
        nodes.push({ kind: 'if', branches, otherwise });
        continue;
      }
      if (keyword === 'range' || keyword === 'with') {
        const expr = parsePipeline(text.slice(keyword.length), t.pos);
        const body = parseList(['else', 'end']);
        const otherwise = body.end === 'else' ? parseList(['end']).nodes : [];
        nodes.push({ kind: keyword, expr, body: body.nodes, otherwise });
        continue;
      }
      nodes.push({ kind: 'action', expr: parsePipeline(text, t.pos) });
    }
    if (terminators.length > 0) throw parseError(`1: unexpected EOF`);
    return { nodes, end: '' };
  };
  return parseList([]).nodes;
}

/** Go's fmt %v. */
export function goPrint(value: unknown): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return `[${value.map(goPrint).join(' ')}]`;
  if (value instanceof Map) {
    const keys = [...value.keys()].map(String).sort();
    return `map[${keys.map((k) => `${k}:${goPrint(value.get(k))}`).join(' ')}]`;
  }
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ((o as { [STRUCT_NAME]?: string })[STRUCT_NAME] !== undefined)
      return `{${Object.keys(o)
        .map((k) => goPrint(o[k]))
        .join(' ')}}`;
    const keys = Object.keys(o).sort();
    return `map[${keys.map((k) => `${k}:${goPrint(o[k])}`).join(' ')}]`;
  }
  return String(value);
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Map) return value.size > 0;
  if (typeof value === 'object') {
    if ((value as { [STRUCT_NAME]?: string })[STRUCT_NAME] !== undefined) return true;
    return Object.keys(value).length > 0;
  }
  return true;
}

function jsonOf(value: unknown): string {
  const sortStruct = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortStruct);
    if (v !== null && typeof v === 'object' && !(v instanceof Map)) {
      const o = v as Record<string, unknown>;
      if ((o as { [STRUCT_NAME]?: string })[STRUCT_NAME] !== undefined) {
        return new Map(
          Object.keys(o)
            .sort()
            .map((k) => [k, sortStruct(o[k])]),
        );
      }
      return new Map(Object.keys(o).map((k) => [k, sortStruct(o[k])]));
    }
    return v;
  };
  return goJsonStringify(sortStruct(value === undefined ? null : value));
}

type Func = (...args: unknown[]) => unknown;

const FUNCS: Record<string, Func> = {
  json: (v) => jsonOf(v),
  join: (v, sep) => (Array.isArray(v) ? v.map(goPrint).join(String(sep)) : goPrint(v)),
  split: (v, sep) => String(v).split(String(sep)),
  upper: (v) => String(v).toUpperCase(),
  lower: (v) => String(v).toLowerCase(),
  title: (v) => String(v).replace(/\b\p{L}/gu, (c) => c.toUpperCase()),
  truncate: (v, n) => [...String(v)].slice(0, Number(n)).join(''),
  pad: (v, left, right) => `${' '.repeat(Number(left))}${goPrint(v)}${' '.repeat(Number(right))}`,
  len: (v) =>
    Array.isArray(v) || typeof v === 'string'
      ? v.length
      : v instanceof Map
        ? v.size
        : v !== null && typeof v === 'object'
          ? Object.keys(v).length
          : 0,
  index: (v, key) => {
    if (Array.isArray(v)) return v[Number(key)];
    if (v instanceof Map) return v.get(key);
    if (v !== null && typeof v === 'object') return (v as Record<string, unknown>)[String(key)];
    throw execError(`error calling index: can't index item of type ${typeof v}`);
  },
  println: (...args) => `${args.map(goPrint).join(' ')}\n`,
  print: (...args) => args.map(goPrint).join(''),
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  not: (a) => !truthy(a),
  and: (...args) => args.find((a) => !truthy(a)) ?? args[args.length - 1],
  or: (...args) => args.find((a) => truthy(a)) ?? args[args.length - 1],
};

/** In a table header, functions pass their first argument through (json prints nothing), as docker. */
const HEADER_FUNCS: Record<string, Func> = {
  ...FUNCS,
  json: () => '',
  join: (v) => v,
  split: (v) => v,
  upper: (v) => v,
  lower: (v) => v,
  title: (v) => v,
  truncate: (v) => v,
  pad: (v) => v,
};

export interface Template {
  /** Renders the template with `data` as dot. `header` mode uses docker's header functions. */
  execute(data: unknown, options?: { header?: boolean }): string;
}

export function parseTemplate(source: string): Template {
  const nodes = parseNodes(lex(source));
  return {
    execute(data, options = {}) {
      const funcs = options.header === true ? HEADER_FUNCS : FUNCS;
      const field = (dot: unknown, path: string[], pos: number): unknown => {
        let v = dot;
        for (const name of path) {
          if (v === null || v === undefined) {
            throw execError(
              `:1:${pos}: executing "" at <.${path.join('.')}>: nil pointer evaluating .${name}`,
            );
          }
          if (v instanceof Map) {
            v = v.get(name);
            continue;
          }
          if (typeof v !== 'object') {
            throw execError(
              `:1:${pos}: executing "" at <.${path.join('.')}>: can't evaluate field ${name} in type ${typeof v}`,
            );
          }
          const o = v as Record<string, unknown>;
          const struct = (o as { [STRUCT_NAME]?: string })[STRUCT_NAME];
          if (struct !== undefined && !Object.hasOwn(o, name)) {
            throw execError(
              `:1:${pos + 2}: executing "" at <.${path.join('.')}>: can't evaluate field ${name} in type ${struct}`,
            );
          }
          v = Object.hasOwn(o, name) ? o[name] : undefined;
        }
        return v;
      };
      const evaluate = (expr: Expr, dot: unknown, piped?: { value: unknown }): unknown => {
        switch (expr.kind) {
          case 'dot':
            return dot;
          case 'literal':
            return expr.value;
          case 'field':
            return field(dot, expr.path, expr.pos);
          case 'call': {
            const fn = funcs[expr.name];
            if (fn === undefined) throw parseError(`${expr.pos}: function "${expr.name}" not defined`);
            const args = expr.args.map((a) => evaluate(a, dot));
            if (piped !== undefined) args.push(piped.value);
            return fn(...args);
          }
          case 'pipe': {
            let value = evaluate(expr.stages[0] as Expr, dot);
            for (const stage of expr.stages.slice(1)) value = evaluate(stage, dot, { value });
            return value;
          }
        }
      };
      const render = (list: Node[], dot: unknown): string => {
        let out = '';
        for (const node of list) {
          switch (node.kind) {
            case 'text':
              out += node.text;
              break;
            case 'action':
              out += goPrint(evaluate(node.expr, dot));
              break;
            case 'if': {
              const branch = node.branches.find((b) => truthy(evaluate(b.cond, dot)));
              out += render(branch === undefined ? node.otherwise : branch.body, dot);
              break;
            }
            case 'with': {
              const v = evaluate(node.expr, dot);
              out += truthy(v) ? render(node.body, v) : render(node.otherwise, dot);
              break;
            }
            case 'range': {
              const v = evaluate(node.expr, dot);
              const items = Array.isArray(v)
                ? v
                : v instanceof Map
                  ? [...v.values()]
                  : v !== null && typeof v === 'object'
                    ? Object.keys(v)
                        .sort()
                        .map((k) => (v as Record<string, unknown>)[k])
                    : [];
              out +=
                items.length === 0
                  ? render(node.otherwise, dot)
                  : items.map((item) => render(node.body, item)).join('');
              break;
            }
          }
        }
        return out;
      };
      return render(nodes, data);
    },
  };
}

// What the BuildKit tables leave open: the backtick escape, error messages, lexer options,
// replacement templates, Unicode and newlines in patterns, word splitting corners. Expected
// values were checked against BuildKit's own lexer.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envFromList, envFromRecord, ShellLexer, ShellPattern } from '../../../src/dockerfile/shell/index.js';
import { BuilderError, DockerfileError } from '../../../src/errors.js';

const env = (...entries: string[]) => envFromList(entries);
const word = (text: string, ...entries: string[]) => new ShellLexer().processWord(text, env(...entries));
const words = (text: string, ...entries: string[]) => new ShellLexer().processWords(text, env(...entries));

function throwsMessage(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DockerfileError, 'a DockerfileError');
    assert.equal(err.code, 'EINVAL');
    assert.equal(err.message, message);
    return true;
  });
}

describe('ShellLexer with the backtick escape (# escape=`)', () => {
  const lexer = new ShellLexer('`');

  it('backtick escapes and backslash is an ordinary character', () => {
    assert.deepEqual(lexer.processWords('he`$PWD C:\\path "a`"b"', env('PWD=/home')), [
      'he$PWD',
      'C:\\path',
      'a"b',
    ]);
  });

  it('patterns still use backslash for their own escapes', () => {
    assert.equal(lexer.processWord('${F#`*} ${F#\\*}', env('F=*`x')), '*`x `x');
  });

  it('refuses an escape token that is not one character', () => {
    assert.throws(() => new ShellLexer('ab'), BuilderError);
  });
});

describe('error messages', () => {
  it('wraps every error with the word, quoted as Go does', () => {
    throwsMessage(
      () => word('"abc'),
      'failed to process "\\"abc": unexpected end of statement while looking for matching double-quote',
    );
    throwsMessage(
      () => word("'abc"),
      `failed to process "'abc": unexpected end of statement while looking for matching single-quote`,
    );
  });

  it('${VAR:?} and ${VAR?} have default messages', () => {
    throwsMessage(
      () => word('${VAR:?}', 'VAR='),
      'failed to process "${VAR:?}": VAR: is not allowed to be empty',
    );
    throwsMessage(() => word('${VAR?}'), 'failed to process "${VAR?}": VAR: is not allowed to be unset');
    throwsMessage(() => word('${VAR:?}'), 'failed to process "${VAR:?}": VAR: is not allowed to be unset');
  });

  it('the message word is expanded and keeps the inner error as cause', () => {
    assert.throws(
      () => word('${VAR:?need $WHAT}', 'WHAT=a token'),
      (err: unknown) =>
        err instanceof DockerfileError &&
        err.message === 'failed to process "${VAR:?need $WHAT}": VAR: need a token' &&
        err.cause instanceof DockerfileError &&
        err.cause.message === 'VAR: need a token',
    );
  });

  it('syntax errors', () => {
    throwsMessage(() => word('${:-x}'), 'failed to process "${:-x}": syntax error: bad substitution');
    throwsMessage(
      () => word('${V:=x}', 'V=1'),
      'failed to process "${V:=x}": unsupported modifier (:=) in substitution',
    );
    throwsMessage(
      () => word('${V:#x}'),
      'failed to process "${V:#x}": unsupported modifier (:#) in substitution',
    );
    throwsMessage(
      () => word('${V/a', 'V=1'),
      `failed to process "\${V/a": syntax error: missing '/' in \${}`,
    );
    throwsMessage(() => word('${V:-a'), `failed to process "\${V:-a": syntax error: missing '}'`);
    throwsMessage(
      () => word('${V#\\x}', 'V=1'),
      `failed to process "\${V#\\\\x}": invalid pattern (\\x) in substitution: invalid escape '\\x'`,
    );
  });

  it('a name cut off by the end of the word says the brace is missing', () => {
    // BuildKit says "unsupported modifier (\uFFFD)" here (its end-of-input rune).
    throwsMessage(() => word('${aaa'), `failed to process "\${aaa": syntax error: missing '}'`);
  });
});

describe('${v#p} ${v%p} ${v/p/r}', () => {
  it('strips prefixes and suffixes, shortest and longest', () => {
    assert.equal(word('${V%.*}|${V%%.*}|${V#*.}|${V##*.}', 'V=a.tar.gz'), 'a.tar|a|tar.gz|gz');
    assert.equal(word('${V%/*} ${V%%/*} ${V#*/} ${V##*/}', 'V=a/b/c.txt'), 'a/b a b/c.txt c.txt');
  });

  it('? and * count code points, not UTF-16 units', () => {
    assert.equal(word('${V%?} ${V#?} ${V//?/.}', 'V=😀é😀'), '😀é é😀 ...');
  });

  it('wildcards do not cross a newline (Go regexps)', () => {
    assert.equal(word('${V#*}|${V##*}|${V%*}', 'V=ab\ncd'), 'ab\ncd|\ncd|ab\ncd');
  });

  it('// follows Go ReplaceAll: no second replacement for the empty match at the end', () => {
    assert.equal(word('${V//*/-}|${V//y*/-}|${V/*/-}', 'V=xxyy'), '-|xx-|-');
  });

  it('// expands $0 and $$ in the replacement; / inserts it as is', () => {
    assert.equal(
      word('${V//x/$R} ${V/x/$R} ${V//x*/$R}', 'V=xxyy', 'R=[$0$$]'),
      '[x$][x$]yy [$0$$]xyy [xxyy$]',
    );
  });

  it('ShellPattern can be used on its own', () => {
    const p = new ShellPattern('*.go');
    assert.equal(p.trimSuffix('main.go', false), 'main');
    assert.equal(p.trimSuffix('main.go', true), '');
    assert.equal(p.trimPrefix('a.go.go', false), '.go');
    assert.equal(p.replaceFirst('x.go y', '!'), '! y');
    assert.throws(() => new ShellPattern('a\\'), /invalid escape/);
  });
});

describe('word splitting', () => {
  it('splits unquoted expansions, keeps quoted ones whole', () => {
    assert.deepEqual(words('a "b c" $UNSET ${U:-"x y"} $V', 'V= p  q '), ['a', 'b c', 'x', 'y', 'p', 'q']);
  });

  it('keeps `<<` and the blanks after it with the next word (heredoc detection)', () => {
    assert.deepEqual(words('cat << EOF <<-"X"  end'), ['cat', '<< EOF', '<<-X', 'end']);
  });

  it('loses the start of a word before a ${…} with a modifier or a quote, as BuildKit does', () => {
    assert.deepEqual(words('pre"${x:-b}" a${x:-b} x${x}y'), ['b', 'b', 'xy']);
    // processWord is not affected.
    assert.equal(word('pre"${x:-b}" a${x:-b}'), 'preb ab');
  });

  it('an empty quoted string makes no word', () => {
    assert.deepEqual(words('echo ""'), ['echo']);
  });
});

describe('options', () => {
  it('skipUnsetEnv leaves references to unset variables as written', () => {
    const lexer = new ShellLexer('\\', { skipUnsetEnv: true });
    assert.equal(
      lexer.processWord('$U ${U} ${U:-d} ${U/a/b} ${U//a/b} ${U:=x} "$U" $S', env('S=set')),
      '$U ${U} ${U:-d} ${U/a/b} ${U/a/b} ${U:=x} $U set',
    );
  });

  it('rawQuotes and rawEscapes keep quotes and escape characters', () => {
    const lexer = new ShellLexer('\\', { rawQuotes: true, rawEscapes: true });
    assert.deepEqual(lexer.processWords(`"a\\\\b" 'c' d\\ e`, env()), ['"a\\\\b"', "'c'", 'd\\ e']);
  });

  it('skipProcessQuotes makes quotes ordinary characters', () => {
    const lexer = new ShellLexer('\\', { skipProcessQuotes: true });
    assert.deepEqual(lexer.processWords(`"a b" 'c d'`, env()), ['"a', 'b"', "'c", "d'"]);
  });
});

describe('matches and environments', () => {
  it('reports names looked up, even when the value is not used', () => {
    const got = new ShellLexer().processWordWithMatches('${A:+x}${B:-y}$C', envFromRecord({ A: '1', C: '' }));
    assert.equal(got.result, 'xy');
    assert.deepEqual([...got.matched].sort(), ['A', 'C']);
    assert.deepEqual([...got.unmatched], ['B']);
  });

  it('envFromList: last duplicate wins, keys listed once, names case-sensitive', () => {
    const e = envFromList(['A=1', 'B', 'A=2', 'a=3']);
    assert.equal(e.get('A'), '2');
    assert.equal(e.get('B'), '');
    assert.equal(e.get('a'), '3');
    assert.equal(e.get('C'), undefined);
    assert.deepEqual([...e.keys()], ['A', 'B', 'a']);
  });

  it('envFromList with caseInsensitive (Windows targets)', () => {
    const e = envFromList(['Path=x'], { caseInsensitive: true });
    assert.equal(e.get('PATH'), 'x');
    assert.deepEqual([...e.keys()], ['Path']);
  });

  it('envFromRecord accepts a Map', () => {
    assert.equal(new ShellLexer().processWord('$K', envFromRecord(new Map([['K', 'v']]))), 'v');
  });

  it('a byte-order mark at the start of a word is skipped, as Go text/scanner does', () => {
    assert.equal(word('\uFEFFab'), 'ab');
  });
});

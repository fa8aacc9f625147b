import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuilderError } from '../../../src/errors.js';
import { isRunStepError, quoteCommand, RunStepError } from '../../../src/runtime/index.js';

test('quoteCommand quotes what a shell would split or expand', () => {
  assert.equal(quoteCommand(['/bin/sh', '-c', 'echo hi > /x']), "/bin/sh -c 'echo hi > /x'");
  assert.equal(quoteCommand(['a', '', "it's"]), `a '' 'it'\\''s'`);
  assert.equal(quoteCommand(['make', 'CC=gcc', '--jobs=2', 'a/b.c']), 'make CC=gcc --jobs=2 a/b.c');
});

test('a failed command: execa-like short message, stderr in the full message, fields, EINVAL', () => {
  const err = new RunStepError({ command: "sh -c 'exit 2'", exitCode: 2, stderrTail: 'boom\nbang\n' });
  assert.ok(err instanceof BuilderError);
  assert.equal(err.name, 'RunStepError');
  assert.equal(err.code, 'EINVAL');
  assert.equal(err.shortMessage, "command failed with exit code 2: sh -c 'exit 2'");
  assert.equal(err.message, "command failed with exit code 2: sh -c 'exit 2'\n\nboom\nbang");
  assert.equal(err.exitCode, 2);
  assert.equal(err.signal, undefined);
  assert.equal(err.isCanceled, false);
  assert.ok(isRunStepError(err));
  assert.ok(!isRunStepError(new Error('x')));
  assert.ok(!Object.keys(err).includes('name'));
});

test('signals, cancellation and runtime failures read differently', () => {
  const killed = new RunStepError({ command: 'x', exitCode: 137, signal: 'SIGKILL', stderrTail: '' });
  assert.equal(killed.message, 'command was killed with SIGKILL: x');
  const canceled = new RunStepError({ command: 'x', stderrTail: '', isCanceled: true });
  assert.equal(canceled.code, 'ECANCELED');
  assert.equal(canceled.message, 'command was canceled: x');
  const runtime = new RunStepError({
    command: 'x',
    stderrTail: '',
    runtimeMessage: 'cgroup error',
    code: 'EPRECONDITION',
  });
  assert.equal(runtime.code, 'EPRECONDITION');
  assert.equal(runtime.message, 'command could not be started: x\n\nruntime: cgroup error');
  const notFound = new RunStepError({
    command: 'nope',
    exitCode: 127,
    stderrTail: '',
    runtimeMessage: 'exec: "nope": executable file not found in $PATH',
  });
  assert.match(notFound.message, /^command failed with exit code 127: nope\n\nruntime: exec/);
});

test('withStep adds the build position and keeps everything else', () => {
  const cause = new Error('root cause');
  const err = new RunStepError({ command: 'x', exitCode: 1, stderrTail: 'e', cause });
  const located = err.withStep('build', 'RUN x');
  assert.equal(located.stage, 'build');
  assert.equal(located.step, 'RUN x');
  assert.equal(located.exitCode, 1);
  assert.equal(located.message, err.message);
  assert.equal(located.cause, cause);
  assert.equal(err.stage, undefined);
});

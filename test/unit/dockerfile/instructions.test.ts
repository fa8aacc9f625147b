import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDockerfile } from '../../../src/dockerfile/index.js';
import { parseGoDuration } from '../../../src/dockerfile/instructions/duration.js';
import { DockerfileError } from '../../../src/errors.js';

const df = (text: string) => parseDockerfile(text);

test('global ARGs before FROM, stages by name, instructions typed', () => {
  const p = df(`ARG BASE=debian:bookworm
FROM \${BASE} AS Build
ARG A B=2
ENV X=1 Y="two words"
ENV LEGACY some value
COPY --from=build --chown=app:app --link a b /dst/
COPY --exclude=*.md --exclude=*.txt . /src
ADD --checksum=sha256:abc --unpack=false https://x/y.tar /y
RUN --mount=type=cache,target=/root/.cache --network=none make
CMD ["python3", "app.py"]
ENTRYPOINT exec server
HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/
FROM scratch
ONBUILD RUN echo hi
`);
  assert.equal(p.globalArgs.length, 1);
  assert.deepEqual(p.globalArgs[0]?.args, [{ key: 'BASE', value: 'debian:bookworm' }]);
  assert.equal(p.stages.length, 2);
  const [build, last] = p.stages;
  assert.equal(build?.name, 'build');
  assert.equal(build?.image, '${BASE}');
  const kinds = build?.instructions.map((i) => i.kind);
  assert.deepEqual(kinds, [
    'arg',
    'env',
    'env',
    'copy',
    'copy',
    'add',
    'run',
    'cmd',
    'entrypoint',
    'healthcheck',
  ]);
  const [arg, env, legacy, copy, copy2, add, run, cmd, entry, health] = build?.instructions ?? [];
  assert.deepEqual(arg?.kind === 'arg' && arg.args, [{ key: 'A' }, { key: 'B', value: '2' }]);
  assert.deepEqual(env?.kind === 'env' && env.env, [
    { key: 'X', value: '1' },
    { key: 'Y', value: '"two words"' },
  ]);
  assert.deepEqual(legacy?.kind === 'env' && legacy.env, [
    { key: 'LEGACY', value: 'some value', legacy: true },
  ]);
  assert.ok(copy?.kind === 'copy');
  assert.equal(copy.from, 'build');
  assert.equal(copy.chown, 'app:app');
  assert.equal(copy.link, true);
  assert.deepEqual(copy.sources, [{ path: 'a' }, { path: 'b' }]);
  assert.equal(copy.dest, '/dst/');
  assert.deepEqual(copy2?.kind === 'copy' && copy2.exclude, ['*.md', '*.txt']);
  assert.ok(add?.kind === 'add');
  assert.equal(add.checksum, 'sha256:abc');
  assert.equal(add.unpack, false);
  assert.ok(run?.kind === 'run');
  assert.deepEqual(run.mounts, ['type=cache,target=/root/.cache']);
  assert.equal(run.network, 'none');
  assert.deepEqual(run.args, ['make']);
  assert.equal(run.prependShell, true);
  assert.deepEqual(cmd?.kind === 'cmd' && [cmd.args, cmd.prependShell], [['python3', 'app.py'], false]);
  assert.deepEqual(entry?.kind === 'entrypoint' && [entry.args, entry.prependShell], [['exec server'], true]);
  assert.ok(health?.kind === 'healthcheck');
  assert.deepEqual(health.test, ['CMD-SHELL', 'curl -f http://localhost/']);
  assert.equal(health.interval, 30e9);
  assert.equal(health.retries, 3);
  const onbuild = last?.instructions[0];
  assert.ok(onbuild?.kind === 'onbuild');
  assert.equal(onbuild.expression, 'RUN echo hi');
  assert.equal(onbuild.trigger.kind, 'run');
});

test('COPY heredoc sources become inline files', () => {
  const p = df('FROM scratch\nCOPY <<EOF /etc/motd\nhello\nEOF\n');
  const copy = p.stages[0]?.instructions[0];
  assert.ok(copy?.kind === 'copy');
  assert.equal(copy.dest, '/etc/motd');
  const src = copy.sources[0];
  assert.ok(src && 'heredoc' in src);
  assert.equal(src.heredoc.content, 'hello\n');
});

function rejects(text: string, pattern: RegExp, line?: number): void {
  assert.throws(
    () => df(text),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err));
      assert.match(err.message, pattern);
      if (line !== undefined) assert.equal(err.ranges[0]?.start.line, line);
      return true;
    },
  );
}

test('errors name the problem and the line', () => {
  rejects('RUN echo hi\n', /no build stage in current context/, 1);
  rejects('FROM a AS x\nFROM b AS X\n', /duplicate stage name "x"/, 2);
  rejects('FROM a AS 1x\n', /invalid name for build stage/, 1);
  rejects('FROM a\nCOPY --form=x a b\n', /unknown flag: --form/, 2);
  rejects('FROM a\nCOPY --chown a b\n', /Missing a value on flag: --chown/, 2);
  rejects('FROM a\nCOPY --link=maybe a b\n', /expecting boolean value for flag link, not: maybe/, 2);
  rejects('FROM a\nSHELL /bin/bash -c\n', /SHELL requires the arguments to be in JSON form/, 2);
  rejects('FROM a\nHEALTHCHECK FOO x\n', /Unknown type "FOO" in HEALTHCHECK/, 2);
  rejects('FROM a\nHEALTHCHECK NONE x\n', /HEALTHCHECK NONE takes no arguments/, 2);
  rejects('FROM a\nHEALTHCHECK --interval=abc CMD x\n', /invalid duration "abc"/, 2);
  rejects('FROM a\nRNU x\n', /unknown instruction: RNU \(did you mean RUN\?\)/, 2);
  rejects('FROM a\nxyzzy x\n', /^unknown instruction: xyzzy$/, 2);
  rejects('FROM a\nCOPY a <<EOF\nx\nEOF\n', /cannot accept a heredoc as a destination/, 2);
});

test('Go durations', () => {
  assert.equal(parseGoDuration('1m30s'), 90e9);
  assert.equal(parseGoDuration('1.5h'), 5400e9);
  assert.equal(parseGoDuration('500ms'), 500e6);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('10'), undefined);
  assert.equal(parseGoDuration('1d'), undefined);
});

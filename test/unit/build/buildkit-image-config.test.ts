// A base image's config as BuildKit's frontend carries it over: read into its struct and written
// back (checked against docker 20.10's BuildKit by test/integration/differential-build.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyConfigInstruction, buildkitImageConfig } from '../../../src/build/steps/config.js';
import type { ImageConfig } from '../../../src/oci/types.js';

test('fields BuildKit does not know are dropped, empty ones omitted, a Healthcheck kept', () => {
  const imported = {
    architecture: 'amd64',
    os: 'linux',
    comment: 'Imported from -',
    docker_version: '20.10.24',
    created: '2026-01-01T00:00:00Z',
    author: '',
    config: {
      Hostname: '',
      AttachStdin: false,
      User: '',
      Env: ['X=1'],
      Cmd: ['/bin/sh'],
      Entrypoint: null,
      Volumes: null,
      WorkingDir: '',
      OnBuild: null,
      Labels: {},
      ArgsEscaped: false,
      Healthcheck: { Test: ['NONE'] },
    },
    container_config: { Hostname: 'abc', Cmd: null },
    rootfs: { type: 'layers', diff_ids: ['sha256:00'] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: '', comment: 'Imported from -' }],
  } as unknown as ImageConfig;
  assert.deepEqual(buildkitImageConfig(imported), {
    created: '2026-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['X=1'], Cmd: ['/bin/sh'], Healthcheck: { Test: ['NONE'] } },
    rootfs: { type: 'layers', diff_ids: ['sha256:00'] },
    history: [{ created: '2026-01-01T00:00:00Z', comment: 'Imported from -' }],
  });
});

test('ENTRYPOINT omits an inherited Cmd (Go nil) rather than writing null', () => {
  const image: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['base'], ArgsEscaped: true },
    rootfs: { type: 'layers', diff_ids: [] },
  };
  applyConfigInstruction(image, { kind: 'entrypoint', args: ['/bin/true'], prependShell: false } as never, {
    created: undefined,
    cmdSet: false,
  });
  assert.deepEqual(image.config, { ArgsEscaped: true, Entrypoint: ['/bin/true'] });
});

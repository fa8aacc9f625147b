// `--change` (import): Dockerfile instructions applied to an image's execution defaults, as
// docker import does. Parsed with our Dockerfile parser, expanded and applied by the same code
// the build uses for its config-only steps; only the instructions docker allows here pass.

import { expandInstruction, makeExpander } from '../build/expand.js';
import { applyConfigInstruction, type ConfigInstruction, resolveWorkdir } from '../build/steps/config.js';
import { parseDockerfile } from '../dockerfile/index.js';
import { envFromList } from '../dockerfile/shell/env.js';
import { BuilderError } from '../errors.js';
import type { ContainerConfig, ImageConfig } from '../oci/types.js';

const ALLOWED = new Set([
  'cmd',
  'entrypoint',
  'env',
  'expose',
  'label',
  'onbuild',
  'user',
  'volume',
  'workdir',
]);

export function applyChanges(changes: readonly string[], base: ContainerConfig = {}): ContainerConfig {
  const image: ImageConfig = {
    architecture: '',
    os: '',
    rootfs: { type: 'layers', diff_ids: [] },
    config: structuredClone(base),
  };
  const hadArgsEscaped = base.ArgsEscaped !== undefined;
  let cmdSet = false;
  for (const change of changes) {
    const parsed = parseDockerfile(`FROM scratch\n${change}\n`, { file: '--change' });
    for (const instruction of parsed.stages[0]?.instructions ?? []) {
      if (!ALLOWED.has(instruction.kind)) {
        throw new BuilderError('EINVAL', `${instruction.kind.toUpperCase()} is not a valid change command`, {
          hint: 'import --change accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME and WORKDIR',
        });
      }
      image.config ??= {};
      const cfg = image.config;
      const expanded = expandInstruction(
        instruction,
        makeExpander(parsed.escapeToken, envFromList(cfg.Env ?? [])),
      );
      if (expanded.kind === 'workdir') cfg.WorkingDir = resolveWorkdir(cfg.WorkingDir, expanded.path);
      else
        cmdSet = applyConfigInstruction(image, expanded as ConfigInstruction, { created: undefined, cmdSet });
    }
  }
  const config = image.config ?? {};
  if (!hadArgsEscaped) delete config.ArgsEscaped;
  return config;
}

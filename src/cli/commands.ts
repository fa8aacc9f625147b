// The command table. Each entry is data plus a dynamic import, so nothing heavy loads
// until a command runs.

import type { CommandDef, CommandGroup } from './command.js';
import { imageCommands, imageGroups } from './image-commands.js';

export const groups: CommandGroup[] = [
  { name: 'dockerfile', summary: 'Parse and inspect Dockerfiles' },
  ...imageGroups,
];

export const commands: CommandDef[] = [
  {
    path: ['build'],
    usage: 'strata build [OPTIONS] PATH | -',
    summary: 'Build an image from a Dockerfile',
    options: [
      { long: 'build-arg', type: 'list', description: 'Set build-time variables' },
      {
        long: 'file',
        short: 'f',
        type: 'string',
        description: 'Name of the Dockerfile (default: "PATH/Dockerfile")',
      },
      { long: 'iidfile', type: 'string', description: 'Write the image ID to the file' },
      {
        long: 'isolation',
        type: 'string',
        description: 'How RUN steps are isolated: default, runc or chroot',
      },
      { long: 'label', type: 'list', description: 'Set metadata for an image' },
      { long: 'no-cache', type: 'bool', description: 'Do not use cache when building the image' },
      {
        long: 'output',
        short: 'o',
        type: 'list',
        valueName: 'stringArray',
        description: 'Output destination (format: "type=local,dest=path"; also type=oci|docker,dest=file)',
      },
      {
        long: 'platform',
        type: 'string',
        description: 'Set target platform for build (the host platform only)',
      },
      {
        long: 'progress',
        type: 'string',
        description: 'Set type of progress output ("auto", "quiet", "plain", "tty")',
        defaultText: '"auto"',
      },
      {
        long: 'quiet',
        short: 'q',
        type: 'bool',
        description: 'Suppress the build output and print image ID on success',
      },
      {
        long: 'secret',
        type: 'list',
        valueName: 'stringArray',
        description: 'Secret to expose to the build (format: "id=mysecret,src=/local/secret")',
      },
      {
        long: 'tag',
        short: 't',
        type: 'list',
        valueName: 'stringArray',
        description: 'Name and optionally a tag (format: "name:tag")',
      },
      { long: 'target', type: 'string', description: 'Set the target build stage to build' },
    ],
    minArgs: 1,
    maxArgs: 1,
    load: () => import('./commands/build.js'),
  },
  {
    path: ['dockerfile', 'dump'],
    usage: 'strata dockerfile dump FILE|-',
    summary: "Print a Dockerfile's syntax tree in BuildKit's dump format",
    options: [],
    minArgs: 1,
    maxArgs: 1,
    load: async () => ({ run: (await import('./commands/dockerfile.js')).dump }),
  },
  {
    path: ['dockerfile', 'parse'],
    usage: 'strata dockerfile parse [OPTIONS] FILE|-',
    summary: 'Parse a Dockerfile into stages and typed instructions',
    options: [{ long: 'json', type: 'bool', description: 'Print the stages as JSON' }],
    minArgs: 1,
    maxArgs: 1,
    load: async () => ({ run: (await import('./commands/dockerfile.js')).parse }),
  },
  ...imageCommands,
];

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
    path: ['run'],
    usage: 'strata run [OPTIONS] IMAGE [COMMAND] [ARG...]',
    summary: 'Create and run a new container from an image',
    options: [
      {
        long: 'detach',
        short: 'd',
        type: 'bool',
        description: 'Run container in background and print container ID',
      },
      { long: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
      { long: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
      { long: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
      { long: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
      {
        long: 'isolation',
        type: 'string',
        description: 'Container isolation technology: default, runc or chroot',
      },
      { long: 'name', type: 'string', description: 'Assign a name to the container' },
      {
        long: 'network',
        type: 'string',
        description: 'Connect a container to a network: host (default) or none',
      },
      {
        long: 'rm',
        type: 'bool',
        description: 'Automatically remove the container and its associated anonymous volumes when it exits',
      },
      { long: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
      {
        long: 'user',
        short: 'u',
        type: 'string',
        description: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
      },
      { long: 'volume', short: 'v', type: 'list', description: 'Bind mount a volume (HOST:CONTAINER[:ro])' },
      { long: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
    ],
    minArgs: 1,
    stopAtFirstPositional: true,
    load: async () => ({ run: (await import('./commands/container.js')).run }),
  },
  {
    path: ['ps'],
    usage: 'strata ps [OPTIONS]',
    summary: 'List containers',
    options: [
      {
        long: 'all',
        short: 'a',
        type: 'bool',
        description: 'Show all containers (default shows just running)',
      },
      { long: 'quiet', short: 'q', type: 'bool', description: 'Only display container IDs' },
    ],
    maxArgs: 0,
    load: async () => ({ run: (await import('./commands/container.js')).ps }),
  },
  {
    path: ['logs'],
    usage: 'strata logs [OPTIONS] CONTAINER',
    summary: 'Fetch the logs of a container',
    options: [{ long: 'follow', short: 'f', type: 'bool', description: 'Follow log output' }],
    minArgs: 1,
    maxArgs: 1,
    load: async () => ({ run: (await import('./commands/container.js')).logs }),
  },
  {
    path: ['stop'],
    usage: 'strata stop [OPTIONS] CONTAINER [CONTAINER...]',
    summary: 'Stop one or more running containers',
    options: [
      {
        long: 'time',
        short: 't',
        type: 'string',
        description: 'Seconds to wait before killing the container',
        defaultText: '10',
      },
    ],
    minArgs: 1,
    load: async () => ({ run: (await import('./commands/container.js')).stop }),
  },
  {
    path: ['rm'],
    usage: 'strata rm [OPTIONS] CONTAINER [CONTAINER...]',
    summary: 'Remove one or more containers',
    options: [
      { long: 'force', short: 'f', type: 'bool', description: 'Force the removal of a running container' },
    ],
    minArgs: 1,
    load: async () => ({ run: (await import('./commands/container.js')).rm }),
  },
  {
    path: ['__shim'],
    usage: 'strata __shim ID REQUEST',
    summary: 'Supervise a detached container (internal)',
    options: [],
    minArgs: 2,
    maxArgs: 2,
    hidden: true,
    load: async () => ({ run: (await import('./commands/container.js')).shim }),
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

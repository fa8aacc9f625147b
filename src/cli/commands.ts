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

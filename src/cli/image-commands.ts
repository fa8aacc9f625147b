// The image-store commands of the command table (issue 3): docker's top-level shortcuts and the
// `image` and `system` management groups. Data plus lazy imports only, like commands.ts.

import type { OptionSpec } from './args.js';
import type { CommandDef, CommandGroup } from './command.js';

export const imageGroups: CommandGroup[] = [
  { name: 'image', summary: 'Manage images' },
  { name: 'system', summary: 'Manage the local store' },
];

const IMAGES_OPTIONS: OptionSpec[] = [
  {
    long: 'all',
    short: 'a',
    type: 'bool',
    description: 'Show all images (default hides intermediate images)',
  },
  { long: 'digests', type: 'bool', description: 'Show digests' },
  { long: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
  {
    long: 'format',
    type: 'string',
    description: "Format output: 'table' (default), 'table TEMPLATE', 'json' or a Go TEMPLATE",
  },
  { long: 'no-trunc', type: 'bool', description: "Don't truncate output" },
  { long: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
];

const RMI_OPTIONS: OptionSpec[] = [
  { long: 'force', short: 'f', type: 'bool', description: 'Force removal of the image' },
  {
    long: 'no-prune',
    type: 'bool',
    description: 'Do not delete untagged parents (accepted for docker compatibility)',
  },
];

const INSPECT_OPTIONS: OptionSpec[] = [
  {
    long: 'format',
    short: 'f',
    type: 'string',
    description: "Format output: 'json' (default) or a Go TEMPLATE",
  },
  {
    long: 'size',
    short: 's',
    type: 'bool',
    description: 'Display total file sizes (accepted; Size is always shown)',
  },
  { long: 'type', type: 'string', description: 'Only inspect objects of the given type (image)' },
];

const HISTORY_OPTIONS: OptionSpec[] = [
  {
    long: 'format',
    type: 'string',
    description: "Format output: 'table' (default), 'table TEMPLATE', 'json' or a Go TEMPLATE",
  },
  {
    long: 'human',
    short: 'H',
    type: 'bool',
    description: 'Print sizes and dates in human readable format',
    defaultText: 'true',
  },
  { long: 'no-trunc', type: 'bool', description: "Don't truncate output" },
  { long: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
];

const SAVE_OPTIONS: OptionSpec[] = [
  { long: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' },
  {
    long: 'format',
    type: 'string',
    description: 'Archive format: "docker" (docker load and OCI layout in one) or "oci" (OCI image layout)',
    defaultText: '"docker"',
  },
];

const LOAD_OPTIONS: OptionSpec[] = [
  { long: 'input', short: 'i', type: 'string', description: 'Read from tar archive file, instead of STDIN' },
  { long: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
];

const IMPORT_OPTIONS: OptionSpec[] = [
  {
    long: 'change',
    short: 'c',
    type: 'list',
    description: 'Apply Dockerfile instruction to the created image',
  },
  { long: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
  { long: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  { long: 'quiet', short: 'q', type: 'bool', description: 'Do not print the image ID' },
];

const PRUNE_OPTIONS: OptionSpec[] = [
  { long: 'all', short: 'a', type: 'bool', description: 'Remove all unused images, not just dangling ones' },
  { long: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
];

const DF_OPTIONS: OptionSpec[] = [
  {
    long: 'format',
    type: 'string',
    description: "Format output using a custom template: 'table', 'json' or a Go template",
  },
];

const images: Omit<CommandDef, 'path'> = {
  usage: 'strata images [OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  options: IMAGES_OPTIONS,
  maxArgs: 1,
  load: async () => ({ run: (await import('./commands/images.js')).images }),
};
const rmi: Omit<CommandDef, 'path'> = {
  usage: 'strata rmi [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove one or more images',
  options: RMI_OPTIONS,
  minArgs: 1,
  load: async () => ({ run: (await import('./commands/tag-rmi.js')).rmi }),
};
const tag: Omit<CommandDef, 'path'> = {
  usage: 'strata tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  options: [],
  minArgs: 2,
  maxArgs: 2,
  load: async () => ({ run: (await import('./commands/tag-rmi.js')).tag }),
};
const inspect: Omit<CommandDef, 'path'> = {
  usage: 'strata inspect [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Display detailed information on one or more images',
  options: INSPECT_OPTIONS,
  minArgs: 1,
  load: async () => ({ run: (await import('./commands/inspect.js')).inspect }),
};
const history: Omit<CommandDef, 'path'> = {
  usage: 'strata history [OPTIONS] IMAGE',
  summary: 'Show the history of an image',
  options: HISTORY_OPTIONS,
  minArgs: 1,
  maxArgs: 1,
  load: async () => ({ run: (await import('./commands/history.js')).history }),
};
const save: Omit<CommandDef, 'path'> = {
  usage: 'strata save [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  options: SAVE_OPTIONS,
  minArgs: 1,
  load: async () => ({ run: (await import('./commands/transfer.js')).save }),
};
const load: Omit<CommandDef, 'path'> = {
  usage: 'strata load [OPTIONS]',
  summary: 'Load an image from a tar archive or STDIN',
  options: LOAD_OPTIONS,
  maxArgs: 0,
  load: async () => ({ run: (await import('./commands/transfer.js')).load }),
};
const importDef: Omit<CommandDef, 'path'> = {
  usage: 'strata import [OPTIONS] file|- [REPOSITORY[:TAG]]',
  summary: 'Import the contents from a tarball to create a filesystem image',
  options: IMPORT_OPTIONS,
  minArgs: 1,
  maxArgs: 2,
  load: async () => ({ run: (await import('./commands/transfer.js')).importCommand }),
};
const imagePrune: Omit<CommandDef, 'path'> = {
  usage: 'strata image prune [OPTIONS]',
  summary: 'Remove unused images',
  options: PRUNE_OPTIONS,
  maxArgs: 0,
  load: async () => ({ run: (await import('./commands/prune.js')).imagePrune }),
};
const systemPrune: Omit<CommandDef, 'path'> = {
  usage: 'strata system prune [OPTIONS]',
  summary: 'Remove dangling images and unused blobs and snapshots',
  options: PRUNE_OPTIONS,
  maxArgs: 0,
  load: async () => ({ run: (await import('./commands/prune.js')).systemPrune }),
};

export const imageCommands: CommandDef[] = [
  { path: ['history'], ...history },
  { path: ['images'], ...images },
  { path: ['import'], ...importDef },
  { path: ['inspect'], ...inspect },
  { path: ['load'], ...load },
  { path: ['prune'], ...systemPrune, usage: 'strata prune [OPTIONS]' },
  { path: ['rmi'], ...rmi },
  { path: ['save'], ...save },
  { path: ['tag'], ...tag },
  { path: ['image', 'history'], ...history, usage: 'strata image history [OPTIONS] IMAGE' },
  {
    path: ['image', 'import'],
    ...importDef,
    usage: 'strata image import [OPTIONS] file|- [REPOSITORY[:TAG]]',
  },
  { path: ['image', 'inspect'], ...inspect, usage: 'strata image inspect [OPTIONS] IMAGE [IMAGE...]' },
  { path: ['image', 'load'], ...load, usage: 'strata image load [OPTIONS]' },
  { path: ['image', 'ls'], ...images, usage: 'strata image ls [OPTIONS] [REPOSITORY[:TAG]]' },
  { path: ['image', 'prune'], ...imagePrune },
  { path: ['image', 'rm'], ...rmi, usage: 'strata image rm [OPTIONS] IMAGE [IMAGE...]' },
  { path: ['image', 'save'], ...save, usage: 'strata image save [OPTIONS] IMAGE [IMAGE...]' },
  { path: ['image', 'tag'], ...tag, usage: 'strata image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]' },
  {
    path: ['system', 'check'],
    usage: 'strata system check',
    summary: "Verify every blob's digest and that every name and image record resolves to a complete image",
    options: [],
    maxArgs: 0,
    load: async () => ({ run: (await import('./commands/system.js')).check }),
  },
  {
    path: ['system', 'df'],
    usage: 'strata system df [OPTIONS]',
    summary: 'Show disk usage of images, layers, snapshots and the build cache',
    options: DF_OPTIONS,
    maxArgs: 0,
    load: async () => ({ run: (await import('./commands/system.js')).df }),
  },
  { path: ['system', 'prune'], ...systemPrune },
];

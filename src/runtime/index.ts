export { type ChrootResult, type RunChrootOptions, runChroot } from './chroot.js';
export { clampRlimits, hasCapability, hostHardLimits } from './host-limits.js';
export { type MountStubs, recordMountStubs, removeMountStubs } from './mount-stubs.js';
export {
  findExecutable,
  type ProbeRuntimeOptions,
  parseVersion,
  probeRuntime,
  type RuntimeInfo,
  type RuntimeProbe,
} from './probe.js';
export {
  CONTAINER_ID_PREFIX,
  cleanupStaleContainers,
  DEFAULT_STATE_ROOT,
  listContainers,
  type RunContainerOptions,
  type RunResult,
  runContainer,
  watchCancellation,
} from './run-container.js';
export {
  isRunStepError,
  quoteCommand,
  RunStepError,
  type RunStepErrorFields,
} from './run-step-error.js';
export { ensureMountPoint, secureJoin } from './secure-join.js';
export {
  type BindMount,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_NOFILE,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  defaultMounts,
  generateSpec,
  type OciCapabilities,
  type OciDeviceRule,
  type OciLinux,
  type OciMount,
  type OciNamespace,
  type OciProcess,
  type OciRlimit,
  type OciUser,
  type RuntimeSpec,
  type SpecOptions,
} from './spec.js';
export { connectStdio, type OutputTarget, type RunStdio, spawnStdio, Tail } from './stdio.js';

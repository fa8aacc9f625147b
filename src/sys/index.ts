export { MNT, MS, S_IF, XATTR } from './constants.js';
export {
  applyMount,
  compactOverlayData,
  type MountSpec,
  type ParsedMountOptions,
  parseMountOptions,
  type UnmountTreeOptions,
  unmountTree,
} from './mount-spec.js';
export { type MountInfo, mountsUnder, parseMountInfo, readMountInfo } from './mountinfo.js';
export {
  type DirectIo,
  directIo,
  fileReader,
  isErrno,
  lgetxattr,
  llistxattr,
  locateAddon,
  lremovexattr,
  lsetxattr,
  mknod,
  mount,
  type NativeSha256,
  nativeSha256,
  prefetchFiles,
  sysAddonPath,
  sysAvailable,
  sysConstants,
  sysUnavailableReason,
  umount2,
} from './native.js';

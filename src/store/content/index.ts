export type {
  BlobInfo,
  BlobInfoProvider,
  BlobManager,
  BlobProvider,
  BlobSource,
  ContentStore,
  Ingester,
  ReadBytesOptions,
  ReadOptions,
  WriteOptions,
  WriteResult,
} from './content-store.js';
export { DEFAULT_INGEST_MAX_AGE_MS, DEFAULT_READ_BYTES_MAX } from './content-store.js';
export { FsContentStore, fsyncDirectorySync } from './fs-content-store.js';
export { MemoryContentStore } from './memory-content-store.js';

export {
  type AtomicWriteOptions,
  readTextIfExists,
  writeFileAtomic,
} from './atomic-file.js';
export { type CacheEntry, type CacheIndexOptions, type CompactResult, FsCacheIndex } from './cache-index.js';
export {
  acquireFileLock,
  DEFAULT_LOCK_STALE_MS,
  DEFAULT_LOCK_TIMEOUT_MS,
  type FileLock,
  type LockOptions,
  withFileLock,
} from './file-lock.js';
export { FsMetaStore, type FsMetaStoreOptions, META_FORMAT_DIR } from './meta-store.js';
export { type NameRecord, NameStore, type NameStoreOptions, type NameValue } from './name-store.js';
export { type JournalOf, ReadJournal } from './read-journal.js';
export {
  escapeRecordKey,
  FsRecordStore,
  RECORD_FORMAT_VERSION,
  type RecordStoreOptions,
  type StoredRecord,
} from './record-store.js';

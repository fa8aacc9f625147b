export { BlobSources } from './blob-sources.js';
export { type Challenge, challengeScopes, parseChallenges } from './challenge.js';
export {
  type FetchedManifest,
  MANIFEST_ACCEPT,
  RegistryClient,
  type UploadOptions,
  type UploadResult,
} from './client.js';
export {
  isTemporary,
  isTemporaryStatus,
  parseDiagnostics,
  parseRetryAfter,
  type RegistryDiagnostic,
  RegistryError,
  RegistryNetworkError,
} from './errors.js';
export { mapLimit, shortDigest, type TransferEvent, type TransferStatus } from './events.js';
export { type ExplainContext, explainRegistryFailure } from './explain.js';
export { type LoginResult, verifyLogin } from './login.js';
export {
  chooseFromIndex,
  listRemoteTags,
  type PulledBlob,
  type PullOptions,
  type PullResult,
  parsePlatform,
  pullImage,
} from './pull.js';
export { localTags, type PushedBlob, type PushOptions, type PushResult, pushImage } from './push.js';
export { redactHeaders, redactUrl, scrub } from './redact.js';
export {
  parseRegistryList,
  Registries,
  type RegistryOptions,
  type ResolvedRegistryOptions,
  resolveRegistryOptions,
} from './registries.js';
export {
  DEFAULT_RETRY,
  type RetryNotice,
  type RetryPolicy,
  resolveRetryPolicy,
  retryDelay,
  withRetry,
} from './retry.js';
export {
  apiHost,
  isLocalRegistry,
  type PingResult,
  type RegistryRequest,
  RegistryTransport,
  repositoryScope,
  type TransportOptions,
  type TransportStats,
} from './transport.js';

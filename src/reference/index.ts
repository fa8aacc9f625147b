export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  isReference,
  LEGACY_DEFAULT_DOMAIN,
  NAME_TOTAL_LENGTH_MAX,
  OFFICIAL_REPOSITORY_PREFIX,
  type ParseReferenceOptions,
  parseReference,
  type Reference,
} from './reference.js';

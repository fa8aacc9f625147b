// Validates documents against the OCI image-spec JSON schemas in the shared conformance corpus,
// following the Ajv recipe of shared/conformance/oci-schema/README.md: draft-04 Ajv with
// ajv-formats, strict off, every string `id` stripped, each file registered under each URI it is
// referenced by. `validateStrict` adds the three checks the upstream Go validator makes beyond
// the schemas (config Env entries, exact digests for registered algorithms, padded base64 data).

import AjvModule from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { readConformanceJson } from './conformance.js';

export type SchemaKind = 'manifest' | 'index' | 'config' | 'descriptor' | 'layout';

export interface SchemaResult {
  valid: boolean;
  errors: string[];
}

export interface OciSchemaValidator {
  /** The JSON schema alone. */
  validate(kind: SchemaKind, document: unknown): SchemaResult;
  /** The checks the upstream validator adds beyond the schema. */
  extraChecks(kind: SchemaKind, document: unknown): string[];
  /** Schema plus extra checks: the upstream validator's verdict. */
  validateStrict(kind: SchemaKind, document: unknown): SchemaResult;
}

const ALIASES: Record<string, string[]> = {
  'image-manifest-schema.json': ['https://opencontainers.org/schema/image/manifest'],
  'image-index-schema.json': ['https://opencontainers.org/schema/image/index'],
  'config-schema.json': ['https://opencontainers.org/schema/image/config'],
  'image-layout-schema.json': ['https://opencontainers.org/schema/image/layout'],
  'content-descriptor.json': [
    'https://opencontainers.org/schema/descriptor',
    'https://opencontainers.org/schema/image/content-descriptor.json',
  ],
  'defs-descriptor.json': [
    'https://opencontainers.org/schema/defs-descriptor.json',
    'https://opencontainers.org/schema/image/defs-descriptor.json',
  ],
  'defs.json': [
    'https://opencontainers.org/schema/defs.json',
    'https://opencontainers.org/schema/image/defs.json',
  ],
};

const KIND_URI: Record<SchemaKind, string> = {
  manifest: 'https://opencontainers.org/schema/image/manifest',
  index: 'https://opencontainers.org/schema/image/index',
  config: 'https://opencontainers.org/schema/image/config',
  descriptor: 'https://opencontainers.org/schema/descriptor',
  layout: 'https://opencontainers.org/schema/image/layout',
};

function stripIds(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(stripIds);
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(
      Object.entries(x)
        .filter(([k, v]) => !(k === 'id' && typeof v === 'string'))
        .map(([k, v]) => [k, stripIds(v)]),
    );
  }
  return x;
}

const REGISTERED_HEX: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const BASE64_PADDED = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ENV_ENTRY = /^[^=]+=.*$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function descriptorProblems(d: unknown, where: string): string[] {
  if (!isRecord(d)) return [];
  const problems: string[] = [];
  if (typeof d.digest === 'string') {
    const colon = d.digest.indexOf(':');
    const algorithm = d.digest.slice(0, colon);
    const want = REGISTERED_HEX[algorithm];
    if (
      colon > 0 &&
      want !== undefined &&
      !new RegExp(`^[a-f0-9]{${want}}$`).test(d.digest.slice(colon + 1))
    ) {
      problems.push(`${where}.digest: a ${algorithm} digest needs exactly ${want} lowercase hex digits`);
    }
  }
  if (typeof d.data === 'string' && !BASE64_PADDED.test(d.data)) {
    problems.push(`${where}.data: not standard base64 with padding`);
  }
  return problems;
}

function descriptorsOf(kind: SchemaKind, doc: Record<string, unknown>): [unknown, string][] {
  const list = (v: unknown, name: string): [unknown, string][] =>
    Array.isArray(v) ? v.map((d, i): [unknown, string] => [d, `${name}[${i}]`]) : [];
  switch (kind) {
    case 'descriptor':
      return [[doc, 'descriptor']];
    case 'manifest':
      return [[doc.config, 'config'], ...list(doc.layers, 'layers'), [doc.subject, 'subject']];
    case 'index':
      return [...list(doc.manifests, 'manifests'), [doc.subject, 'subject']];
    default:
      return [];
  }
}

function extraChecks(kind: SchemaKind, document: unknown): string[] {
  if (!isRecord(document)) return [];
  const problems: string[] = [];
  if (kind === 'config' && isRecord(document.config) && Array.isArray(document.config.Env)) {
    document.config.Env.forEach((entry, i) => {
      if (typeof entry === 'string' && !ENV_ENTRY.test(entry))
        problems.push(`config.Env[${i}]: not KEY=VALUE`);
    });
  }
  for (const [d, where] of descriptorsOf(kind, document)) problems.push(...descriptorProblems(d, where));
  return problems;
}

let cached: Promise<OciSchemaValidator> | undefined;

/** Loads the schemas once per process. */
export function loadOciSchemas(): Promise<OciSchemaValidator> {
  cached ??= (async () => {
    const Ajv = AjvModule.default;
    const addFormats = addFormatsModule.default;
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const [file, uris] of Object.entries(ALIASES)) {
      const schema = stripIds(await readConformanceJson('oci-schema', file)) as object;
      for (const uri of uris) ajv.addSchema(schema, uri);
    }
    const validate = (kind: SchemaKind, document: unknown): SchemaResult => {
      const fn = ajv.getSchema(KIND_URI[kind]);
      if (fn === undefined) throw new Error(`schema for ${kind} not registered`);
      const valid = fn(document) === true;
      const errors = valid
        ? []
        : (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`.trim());
      return { valid, errors };
    };
    return {
      validate,
      extraChecks,
      validateStrict(kind, document) {
        const result = validate(kind, document);
        const extra = extraChecks(kind, document);
        return { valid: result.valid && extra.length === 0, errors: [...result.errors, ...extra] };
      },
    };
  })();
  return cached;
}

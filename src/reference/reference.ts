// Image references with Docker's normalisation (distribution/reference ParseNormalizedNamed):
//
//   ubuntu                    → docker.io/library/ubuntu:latest
//   user/app:1.0              → docker.io/user/app:1.0
//   host:5000/a/b@sha256:…    → host:5000/a/b@sha256:…      (no default tag with a digest)
//   localhost/x               → localhost/x:latest
//   index.docker.io/x         → docker.io/library/x:latest
//
// The first path component is a registry domain when it contains "." or ":", is "localhost",
// or has an uppercase letter; otherwise the registry is docker.io, and a single-component
// Docker Hub name gets "library/". Repository path components are lowercase
// `[a-z0-9]+` joined by ".", "_", "__" or runs of "-"; tags are `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
// the full name (domain/path) is at most 255 characters.

import { type Digest, parseDigest } from '../digest/digest.js';
import { BuilderError, isBuilderError } from '../errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPOSITORY_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
export const NAME_TOTAL_LENGTH_MAX = 255;

const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

declare const referenceBrand: unique symbol;

/** A parsed, normalised image reference. Produced only by `parseReference()`. */
export interface Reference {
  readonly [referenceBrand]: true;
  /** The registry, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** The repository path inside the registry, e.g. `library/ubuntu`. */
  readonly path: string;
  /** `domain/path`, e.g. `docker.io/library/ubuntu`. */
  readonly name: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
  /** What `docker` prints for the repository: `ubuntu`, `user/app`, `host:5000/a/b`. */
  familiarName(): string;
  /** The familiar name with tag and digest: `ubuntu:latest`, `user/app@sha256:…`. */
  familiarString(): string;
  /** The full form: `docker.io/library/ubuntu:latest`, `host:5000/a/b:t@sha256:…`. */
  toString(): string;
  withTag(tag: string): Reference;
  withDigest(digest: Digest): Reference;
  /** The same repository with neither tag nor digest. */
  withoutTagOrDigest(): Reference;
}

export interface ParseReferenceOptions {
  /** The tag added when there is neither tag nor digest; `false` adds none. Default `latest`. */
  defaultTag?: string | false;
}

class ParsedReference implements Reference {
  declare readonly [referenceBrand]: true;
  readonly domain: string;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;

  constructor(domain: string, path: string, tag: string | undefined, digest: Digest | undefined) {
    this.domain = domain;
    this.path = path;
    this.tag = tag;
    this.digest = digest;
    Object.freeze(this);
  }

  get name(): string {
    return `${this.domain}/${this.path}`;
  }

  familiarName(): string {
    if (this.domain !== DEFAULT_DOMAIN) return this.name;
    if (this.path.startsWith(OFFICIAL_REPOSITORY_PREFIX)) {
      const rest = this.path.slice(OFFICIAL_REPOSITORY_PREFIX.length);
      if (!rest.includes('/')) return rest;
    }
    return this.path;
  }

  familiarString(): string {
    return this.#withSuffix(this.familiarName());
  }

  toString(): string {
    return this.#withSuffix(this.name);
  }

  withTag(tag: string): Reference {
    const problem = tagProblem(tag);
    if (problem !== undefined) throw invalid(`${this.name}:${tag}`, problem);
    return new ParsedReference(this.domain, this.path, tag, this.digest);
  }

  withDigest(digest: Digest): Reference {
    return new ParsedReference(this.domain, this.path, this.tag, parseDigest(digest));
  }

  withoutTagOrDigest(): Reference {
    return new ParsedReference(this.domain, this.path, undefined, undefined);
  }

  #withSuffix(base: string): string {
    let s = base;
    if (this.tag !== undefined) s += `:${this.tag}`;
    if (this.digest !== undefined) s += `@${this.digest}`;
    return s;
  }
}

function invalid(input: string, problem: string): BuilderError {
  return new BuilderError('EINVAL', `invalid reference format ${JSON.stringify(input)}: ${problem}`);
}

function tagProblem(tag: string): string | undefined {
  if (TAG_RE.test(tag)) return undefined;
  if (tag === '') return 'the tag after ":" is empty';
  if (tag.length > 128) return `tag is ${tag.length} characters, the maximum is 128`;
  return `invalid tag ${JSON.stringify(tag)} (a tag is letters, digits, "_", "." and "-", not starting with "." or "-")`;
}

function pathComponentProblem(component: string, path: string): string | undefined {
  if (PATH_COMPONENT_RE.test(component)) return undefined;
  if (component === '') return `repository name ${JSON.stringify(path)} has an empty path component`;
  if (PATH_COMPONENT_RE.test(component.toLowerCase())) {
    return `repository name (${path}) must be lowercase`;
  }
  return (
    `invalid repository name component ${JSON.stringify(component)} ` +
    '(lowercase letters and digits, separated by ".", "_", "__" or "-")'
  );
}

/** Docker's splitDockerDomain: registry or Docker Hub, with library/ for official images. */
function splitDomain(name: string): { domain: string; remainder: string; explicit: boolean } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  let domain: string;
  let remainder: string;
  let explicit = false;
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(slash + 1);
    explicit = true;
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/'))
    remainder = OFFICIAL_REPOSITORY_PREFIX + remainder;
  return { domain, remainder, explicit };
}

/**
 * Parses and normalises an image reference the way `docker pull`/`docker build -t` do.
 * Throws EINVAL ("invalid reference format …: <what is wrong>") otherwise.
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): Reference {
  if (typeof input !== 'string' || input === '') {
    throw new BuilderError(
      'EINVAL',
      'invalid reference format: repository name must have at least one component',
    );
  }
  if (IDENTIFIER_RE.test(input)) {
    throw invalid(input, 'a 64-character hexadecimal string is an image ID, not a repository name');
  }
  if (/\s/.test(input)) throw invalid(input, 'references cannot contain whitespace');

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digestText = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      digest = parseDigest(digestText);
    } catch (err) {
      throw invalid(
        input,
        isBuilderError(err) ? err.message : `invalid digest ${JSON.stringify(digestText)}`,
      );
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    const problem = tagProblem(tag);
    if (problem !== undefined) throw invalid(input, problem);
  }

  if (rest === '') throw invalid(input, 'repository name must have at least one component');
  const { domain, remainder, explicit } = splitDomain(rest);
  if (explicit && !DOMAIN_RE.test(domain)) {
    throw invalid(
      input,
      `invalid registry domain ${JSON.stringify(domain)} (expected host, host:port or [IPv6]:port)`,
    );
  }
  if (remainder.toLowerCase() !== remainder) {
    throw invalid(input, `repository name (${remainder}) must be lowercase`);
  }
  for (const component of remainder.split('/')) {
    const problem = pathComponentProblem(component, remainder);
    if (problem !== undefined) throw invalid(input, problem);
  }
  const fullName = `${domain}/${remainder}`;
  if (fullName.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(
      input,
      `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters (${fullName.length} with its registry)`,
    );
  }

  const defaultTag = options.defaultTag ?? DEFAULT_TAG;
  if (tag === undefined && digest === undefined && defaultTag !== false) tag = defaultTag;
  return new ParsedReference(domain, remainder, tag, digest);
}

/** True when `value` is a reference produced by parseReference(). */
export function isReference(value: unknown): value is Reference {
  return value instanceof ParsedReference;
}

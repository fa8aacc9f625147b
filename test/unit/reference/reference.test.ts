import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDigest, sha256Of } from '../../../src/digest/digest.js';
import { BuilderError } from '../../../src/errors.js';
import { isReference, parseReference } from '../../../src/reference/reference.js';

const DIGEST = sha256Of('manifest');

interface ValidCase {
  input: string;
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
  full: string;
  familiarName: string;
  familiarString?: string;
}

const valid: ValidCase[] = [
  {
    input: 'ubuntu',
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: 'latest',
    full: 'docker.io/library/ubuntu:latest',
    familiarName: 'ubuntu',
    familiarString: 'ubuntu:latest',
  },
  {
    input: 'ubuntu:22.04',
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: '22.04',
    full: 'docker.io/library/ubuntu:22.04',
    familiarName: 'ubuntu',
  },
  {
    input: 'library/ubuntu',
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: 'latest',
    full: 'docker.io/library/ubuntu:latest',
    familiarName: 'ubuntu',
  },
  {
    input: 'docker.io/ubuntu',
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: 'latest',
    full: 'docker.io/library/ubuntu:latest',
    familiarName: 'ubuntu',
  },
  {
    input: 'docker.io/library/ubuntu',
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: 'latest',
    full: 'docker.io/library/ubuntu:latest',
    familiarName: 'ubuntu',
  },
  {
    input: 'index.docker.io/ubuntu',
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: 'latest',
    full: 'docker.io/library/ubuntu:latest',
    familiarName: 'ubuntu',
  },
  {
    input: 'index.docker.io/user/app',
    domain: 'docker.io',
    path: 'user/app',
    tag: 'latest',
    full: 'docker.io/user/app:latest',
    familiarName: 'user/app',
  },
  {
    input: 'user/app:1.0',
    domain: 'docker.io',
    path: 'user/app',
    tag: '1.0',
    full: 'docker.io/user/app:1.0',
    familiarName: 'user/app',
    familiarString: 'user/app:1.0',
  },
  {
    input: 'user/app/sub',
    domain: 'docker.io',
    path: 'user/app/sub',
    tag: 'latest',
    full: 'docker.io/user/app/sub:latest',
    familiarName: 'user/app/sub',
  },
  {
    input: 'docker.io/library/a/b',
    domain: 'docker.io',
    path: 'library/a/b',
    tag: 'latest',
    full: 'docker.io/library/a/b:latest',
    familiarName: 'library/a/b',
  },
  {
    input: `host:5000/a/b@${DIGEST}`,
    domain: 'host:5000',
    path: 'a/b',
    digest: DIGEST,
    full: `host:5000/a/b@${DIGEST}`,
    familiarName: 'host:5000/a/b',
  },
  {
    input: `host:5000/a/b:t1@${DIGEST}`,
    domain: 'host:5000',
    path: 'a/b',
    tag: 't1',
    digest: DIGEST,
    full: `host:5000/a/b:t1@${DIGEST}`,
    familiarName: 'host:5000/a/b',
  },
  {
    input: `ubuntu@${DIGEST}`,
    domain: 'docker.io',
    path: 'library/ubuntu',
    digest: DIGEST,
    full: `docker.io/library/ubuntu@${DIGEST}`,
    familiarName: 'ubuntu',
    familiarString: `ubuntu@${DIGEST}`,
  },
  {
    input: 'localhost/x',
    domain: 'localhost',
    path: 'x',
    tag: 'latest',
    full: 'localhost/x:latest',
    familiarName: 'localhost/x',
  },
  {
    input: 'localhost:5000/x:y',
    domain: 'localhost:5000',
    path: 'x',
    tag: 'y',
    full: 'localhost:5000/x:y',
    familiarName: 'localhost:5000/x',
  },
  // No slash: "localhost" and "host:5000" are Docker Hub names ("host" with tag "5000").
  {
    input: 'localhost',
    domain: 'docker.io',
    path: 'library/localhost',
    tag: 'latest',
    full: 'docker.io/library/localhost:latest',
    familiarName: 'localhost',
  },
  {
    input: 'host:5000',
    domain: 'docker.io',
    path: 'library/host',
    tag: '5000',
    full: 'docker.io/library/host:5000',
    familiarName: 'host',
  },
  {
    input: 'example.com/app',
    domain: 'example.com',
    path: 'app',
    tag: 'latest',
    full: 'example.com/app:latest',
    familiarName: 'example.com/app',
  },
  {
    input: 'registry.example.com:443/team/app:v1.2.3-rc.1_x',
    domain: 'registry.example.com:443',
    path: 'team/app',
    tag: 'v1.2.3-rc.1_x',
    full: 'registry.example.com:443/team/app:v1.2.3-rc.1_x',
    familiarName: 'registry.example.com:443/team/app',
  },
  // An uppercase first component is a domain (it cannot be a repository path).
  {
    input: 'Foo/bar',
    domain: 'Foo',
    path: 'bar',
    tag: 'latest',
    full: 'Foo/bar:latest',
    familiarName: 'Foo/bar',
  },
  {
    input: '[::1]:5000/a',
    domain: '[::1]:5000',
    path: 'a',
    tag: 'latest',
    full: '[::1]:5000/a:latest',
    familiarName: '[::1]:5000/a',
  },
  {
    input: '[2001:db8::1]/a/b:c',
    domain: '[2001:db8::1]',
    path: 'a/b',
    tag: 'c',
    full: '[2001:db8::1]/a/b:c',
    familiarName: '[2001:db8::1]/a/b',
  },
  {
    input: 'a.b-c/x__y.z--w_v',
    domain: 'a.b-c',
    path: 'x__y.z--w_v',
    tag: 'latest',
    full: 'a.b-c/x__y.z--w_v:latest',
    familiarName: 'a.b-c/x__y.z--w_v',
  },
  {
    input: 'a',
    domain: 'docker.io',
    path: 'library/a',
    tag: 'latest',
    full: 'docker.io/library/a:latest',
    familiarName: 'a',
  },
  {
    input: 'ubuntu:UPPER_tag',
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: 'UPPER_tag',
    full: 'docker.io/library/ubuntu:UPPER_tag',
    familiarName: 'ubuntu',
  },
  {
    input: `ubuntu:${'t'.repeat(128)}`,
    domain: 'docker.io',
    path: 'library/ubuntu',
    tag: 't'.repeat(128),
    full: `docker.io/library/ubuntu:${'t'.repeat(128)}`,
    familiarName: 'ubuntu',
  },
  {
    input: '0123456789abcdef/app',
    domain: 'docker.io',
    path: '0123456789abcdef/app',
    tag: 'latest',
    full: 'docker.io/0123456789abcdef/app:latest',
    familiarName: '0123456789abcdef/app',
  },
];

describe('parseReference: valid references', () => {
  for (const c of valid) {
    it(c.input.length > 60 ? `${c.input.slice(0, 60)}…` : c.input, () => {
      const ref = parseReference(c.input);
      assert.equal(ref.domain, c.domain);
      assert.equal(ref.path, c.path);
      assert.equal(ref.name, `${c.domain}/${c.path}`);
      assert.equal(ref.tag, c.tag);
      assert.equal(ref.digest, c.digest);
      assert.equal(ref.toString(), c.full);
      assert.equal(`${ref}`, c.full);
      assert.equal(ref.familiarName(), c.familiarName);
      if (c.familiarString !== undefined) assert.equal(ref.familiarString(), c.familiarString);
      assert.ok(isReference(ref));
      // The full form parses to itself.
      assert.equal(parseReference(ref.toString()).toString(), c.full);
    });
  }
});

const invalid: [string, RegExp][] = [
  ['', /repository name must have at least one component/],
  ['Ubuntu', /repository name \(library\/Ubuntu\) must be lowercase/],
  ['user/App', /repository name \(user\/App\) must be lowercase/],
  ['docker.io/Ubuntu', /repository name \(library\/Ubuntu\) must be lowercase/],
  ['example.com/Team/app', /repository name \(Team\/app\) must be lowercase/],
  ['ubuntu:-bad', /invalid tag "-bad"/],
  ['ubuntu:.bad', /invalid tag "\.bad"/],
  ['ubuntu:a+b', /invalid tag "a\+b"/],
  ['ubuntu:', /the tag after ":" is empty/],
  [`ubuntu:${'t'.repeat(129)}`, /tag is 129 characters, the maximum is 128/],
  ['ubuntu@sha256:abc', /invalid digest "sha256:abc": a sha256 digest has 64 hex digits/],
  [`ubuntu@md5:${'a'.repeat(32)}`, /unsupported algorithm "md5"/],
  [`ubuntu@${DIGEST}@${DIGEST}`, /invalid digest/],
  ['a//b', /has an empty path component/],
  ['a/b/', /has an empty path component/],
  ['/a', /has an empty path component|invalid registry domain/],
  ['-a', /invalid repository name component "-a"/],
  ['a-', /invalid repository name component "a-"/],
  ['a..b', /invalid repository name component "a\.\.b"/],
  ['a___b', /invalid repository name component "a___b"/],
  ['ubuntu:tag:tag2', /invalid repository name component "ubuntu:tag"/],
  ['host:port/a', /invalid registry domain "host:port"/],
  ['-host.com/a', /invalid registry domain "-host\.com"/],
  ['ubuntu:a/b', /invalid registry domain "ubuntu:a"/],
  [':tag', /repository name must have at least one component/],
  [`@${DIGEST}`, /repository name must have at least one component/],
  ['ubuntu latest', /cannot contain whitespace/],
  ['a'.repeat(64).replace(/a/g, 'f'), /64-character hexadecimal string is an image ID/],
  [`example.com/${'a/'.repeat(121)}abcd`, /must not be more than 255 characters \(258 with its registry\)/],
  [`${'a/'.repeat(120)}abcdefghi`, /must not be more than 255 characters/],
];

describe('parseReference: invalid references', () => {
  for (const [input, message] of invalid) {
    it(JSON.stringify(input.length > 50 ? `${input.slice(0, 50)}…` : input), () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => {
          assert.ok(err instanceof BuilderError);
          assert.equal(err.code, 'EINVAL');
          assert.match(err.message, /^invalid reference format/);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it('accepts exactly 255 characters of name', () => {
    const path = `${'a/'.repeat(121)}abc`; // docker.io/ + 245 = 255
    assert.equal(`docker.io/${path}`.length, 255);
    assert.equal(parseReference(path).path, path);
    assert.throws(() => parseReference(`${path}d`), /255/);
  });
});

describe('Reference helpers', () => {
  it('defaultTag: false adds no tag; a custom default is used', () => {
    assert.equal(parseReference('ubuntu', { defaultTag: false }).tag, undefined);
    assert.equal(parseReference('ubuntu', { defaultTag: false }).toString(), 'docker.io/library/ubuntu');
    assert.equal(parseReference('ubuntu', { defaultTag: 'stable' }).tag, 'stable');
  });

  it('withTag / withDigest / withoutTagOrDigest return new references', () => {
    const ref = parseReference('user/app:1');
    const tagged = ref.withTag('2');
    assert.equal(tagged.toString(), 'docker.io/user/app:2');
    assert.equal(ref.tag, '1');
    const pinned = tagged.withDigest(parseDigest(DIGEST));
    assert.equal(pinned.familiarString(), `user/app:2@${DIGEST}`);
    assert.equal(pinned.withoutTagOrDigest().toString(), 'docker.io/user/app');
    assert.throws(() => ref.withTag('-x'), { code: 'EINVAL' });
    assert.throws(() => ref.withDigest('sha256:1' as never), { code: 'EINVAL' });
  });

  it('references are frozen', () => {
    const ref = parseReference('ubuntu');
    assert.throws(() => {
      (ref as unknown as { tag: string }).tag = 'x';
    }, TypeError);
  });

  it('isReference is false for look-alikes', () => {
    assert.equal(isReference({ domain: 'docker.io', path: 'library/x' }), false);
  });
});

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import {
  digestAlgorithm,
  digestHex,
  digestOf,
  isDigest,
  parseDigest,
  sha256Of,
} from '../../../src/digest/digest.js';
import { digestOfStream, HashTap } from '../../../src/digest/hash-tap.js';
import { verifyStream } from '../../../src/digest/verify-stream.js';
import { BuilderError, DigestMismatchError } from '../../../src/errors.js';

const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC_SHA256 = 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const ABC_SHA512 =
  'sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f';

async function collect(stream: NodeJS.ReadableStream | Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

describe('parseDigest', () => {
  const valid = [EMPTY_SHA256, `sha384:${'a'.repeat(96)}`, ABC_SHA512];
  for (const d of valid) {
    it(`accepts ${d.slice(0, 20)}…`, () => {
      assert.equal(parseDigest(d), d);
      assert.ok(isDigest(d));
    });
  }

  const invalid: [string, RegExp][] = [
    ['', /expected <algorithm>:<hex>/],
    ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', /expected <algorithm>:<hex>/],
    [':abc', /algorithm is empty/],
    ['sha256:', /64 hex digits, this one has 0/],
    ['sha256:abc', /64 hex digits, this one has 3/],
    [`sha256:${'A'.repeat(64)}`, /lowercase hexadecimal/],
    [`sha256:${'g'.repeat(64)}`, /lowercase hexadecimal/],
    [`sha512:${'a'.repeat(64)}`, /128 hex digits/],
    [`md5:${'a'.repeat(32)}`, /unsupported algorithm "md5"/],
    [`SHA256:${'a'.repeat(64)}`, /malformed algorithm/],
    [`sha256+b64:${'a'.repeat(64)}`, /unsupported algorithm/],
    [`sha256:${'a'.repeat(64)}\n`, /64 hex digits/],
  ];
  for (const [input, message] of invalid) {
    it(`rejects ${JSON.stringify(input.slice(0, 30))}`, () => {
      assert.throws(
        () => parseDigest(input),
        (err: unknown) => err instanceof BuilderError && err.code === 'EINVAL' && message.test(err.message),
      );
      assert.equal(isDigest(input), false);
    });
  }

  it('names the input in the message', () => {
    assert.throws(() => parseDigest('sha256:zz'), /invalid digest "sha256:zz"/);
  });

  it('splits algorithm and hex', () => {
    const d = parseDigest(ABC_SHA512);
    assert.equal(digestAlgorithm(d), 'sha512');
    assert.equal(digestHex(d).length, 128);
  });
});

describe('sha256Of / digestOf', () => {
  it('hashes bytes and strings', () => {
    assert.equal(sha256Of(new Uint8Array()), EMPTY_SHA256);
    assert.equal(sha256Of('abc'), ABC_SHA256);
    assert.equal(sha256Of(Buffer.from('abc')), ABC_SHA256);
    assert.equal(digestOf('abc', 'sha512'), ABC_SHA512);
  });
});

describe('HashTap', () => {
  it('passes data through, counts bytes and digests at the end', async () => {
    const tap = new HashTap();
    assert.throws(() => tap.digest(), /before the stream ended/);
    const out = collect(tap);
    await pipeline(Readable.from([Buffer.from('a'), Buffer.from('bc')]), tap);
    assert.equal((await out).toString(), 'abc');
    assert.equal(tap.bytes, 3);
    assert.equal(tap.digest(), ABC_SHA256);
    assert.ok(tap.done);
  });

  it('fails at once beyond maxSize', async () => {
    const tap = new HashTap({ maxSize: 2 });
    tap.resume();
    await assert.rejects(
      pipeline(Readable.from([Buffer.from('ab'), Buffer.from('c')]), tap),
      (err: unknown) =>
        err instanceof BuilderError && err.code === 'EDIGEST' && /declared size of 2/.test(err.message),
    );
    assert.equal(tap.bytes, 2);
  });

  it('digestOfStream reads to the end', async () => {
    assert.deepEqual(await digestOfStream(Readable.from([Buffer.from('abc')])), {
      digest: ABC_SHA256,
      size: 3,
    });
    assert.deepEqual(await digestOfStream(Readable.from([]), { algorithm: 'sha512' }), {
      digest: digestOf('', 'sha512'),
      size: 0,
    });
  });
});

describe('verifyStream', () => {
  const abc = parseDigest(ABC_SHA256);

  it('passes matching content through unchanged', async () => {
    const v = verifyStream(abc, 3);
    const out = collect(v);
    await pipeline(Readable.from([Buffer.from('ab'), Buffer.from('c')]), v);
    assert.equal((await out).toString(), 'abc');
    assert.equal(v.digest(), abc);
  });

  it('works without a size', async () => {
    const v = verifyStream(abc);
    v.resume();
    await pipeline(Readable.from([Buffer.from('abc')]), v);
  });

  it('fails at EOF with DigestMismatchError, after passing the data', async () => {
    const v = verifyStream(abc, 3, { what: 'layer 1' });
    const seen: Buffer[] = [];
    v.on('data', (c: Buffer) => seen.push(c));
    await assert.rejects(pipeline(Readable.from([Buffer.from('abd')]), v), (err: unknown) => {
      assert.ok(err instanceof DigestMismatchError);
      assert.equal(err.code, 'EDIGEST');
      assert.equal(err.expected, abc);
      assert.equal(err.actual, sha256Of('abd'));
      assert.match(err.message, /^layer 1 has digest sha256:/);
      return true;
    });
    assert.equal(Buffer.concat(seen).toString(), 'abd');
  });

  it('refuses bytes beyond the declared size without passing them on', async () => {
    const v = verifyStream(abc, 3);
    const seen: Buffer[] = [];
    v.on('data', (c: Buffer) => seen.push(c));
    await assert.rejects(
      pipeline(Readable.from([Buffer.from('abc'), Buffer.from('dddd')]), v),
      (err: unknown) =>
        err instanceof BuilderError &&
        err.code === 'EDIGEST' &&
        /larger than its declared size/.test(err.message),
    );
    assert.equal(Buffer.concat(seen).toString(), 'abc');
  });

  it('fails at EOF on short content with EDIGEST naming both sizes', async () => {
    const v = verifyStream(abc, 4);
    v.resume();
    await assert.rejects(
      pipeline(Readable.from([Buffer.from('abc')]), v),
      (err: unknown) =>
        err instanceof BuilderError && err.code === 'EDIGEST' && /3 bytes, expected 4/.test(err.message),
    );
  });

  it('hashes with the expected digest’s algorithm', async () => {
    const v = verifyStream(parseDigest(ABC_SHA512), 3);
    v.resume();
    await pipeline(Readable.from([Buffer.from('abc')]), v);
    assert.equal(v.algorithm, 'sha512');
  });

  it('rejects bad arguments with EINVAL', () => {
    assert.throws(() => verifyStream('sha256:nope' as never), { code: 'EINVAL' });
    assert.throws(() => verifyStream(abc, -1), { code: 'EINVAL' });
    assert.throws(() => verifyStream(abc, 1.5), { code: 'EINVAL' });
  });
});

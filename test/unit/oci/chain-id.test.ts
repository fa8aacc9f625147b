import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { sha256Of } from '../../../src/digest/digest.js';
import { chainId, chainIds } from '../../../src/oci/chain-id.js';

describe('chainId', () => {
  const a = sha256Of('a');
  const b = sha256Of('b');
  const c = sha256Of('c');

  it('is the diffID for one layer', () => {
    assert.equal(chainId([a]), a);
  });

  it('hashes "<parent chainID> <diffID>" for the next layers', () => {
    const ab = `sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`;
    const abc = `sha256:${createHash('sha256').update(`${ab} ${c}`).digest('hex')}`;
    assert.equal(chainId([a, b]), ab);
    assert.equal(chainId([a, b, c]), abc);
    assert.deepEqual(chainIds([a, b, c]), [a, ab, abc]);
  });

  it('depends on order', () => {
    assert.notEqual(chainId([a, b]), chainId([b, a]));
  });

  it('is EINVAL for no layers; chainIds of none is empty', () => {
    assert.throws(() => chainId([]), { code: 'EINVAL' });
    assert.deepEqual(chainIds([]), []);
  });

  it('matches a known value (busybox-style stack from the BuildKit goldens)', () => {
    // diff_ids of common/default-gzip/v30/config.json; chain computed independently above.
    const ids = [
      'sha256:fe4922f0a3ca2aa707ca0f8cc53937e947fec1157a09302baf11904258d67d17',
      'sha256:007165e99d6304af5653e8a8cc1c8886e5719cf31bf09cbd9f50fa09008ef654',
    ] as never[];
    const expected = `sha256:${createHash('sha256').update(`${ids[0]} ${ids[1]}`).digest('hex')}`;
    assert.equal(chainId(ids), expected);
  });
});

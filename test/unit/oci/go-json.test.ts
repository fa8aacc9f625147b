import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, formatGoTime, goJsonQuote, goJsonStringify } from '../../../src/oci/go-json.js';

describe('goJsonQuote (Go encoding/json string escaping)', () => {
  const table: [string, string][] = [
    ['plain', '"plain"'],
    ['', '""'],
    ['<b>&amp;</b>', '"\\u003cb\\u003e\\u0026amp;\\u003c/b\\u003e"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\n\r\t', '"\\n\\r\\t"'],
    ['\b\f', '"\\b\\f"'],
    ['\u0000\u0001\u001f', '"\\u0000\\u0001\\u001f"'],
    ['\u007f', '"\u007f"'],
    ['line\u2028sep\u2029', '"line\\u2028sep\\u2029"'],
    ['é한국어', '"é한국어"'],
    ['emoji 😀', '"emoji 😀"'],
    ['lone \ud800 high', '"lone \\ufffd high"'],
    ['lone \udc00 low', '"lone \\ufffd low"'],
    ['end \ud83d', '"end \\ufffd"'],
    ['/slash', '"/slash"'],
    ["'single'", '"\'single\'"'],
  ];
  for (const [input, want] of table) {
    it(JSON.stringify(input), () => assert.equal(goJsonQuote(input), want));
  }

  it('is JSON that decodes back to the input (valid UTF-16)', () => {
    const s = 'a<b>&c\u2028\n"\\\u0001 é 😀';
    assert.equal(JSON.parse(goJsonQuote(s)), s);
  });
});

describe('goJsonStringify', () => {
  it('writes compact JSON like json.Marshal', () => {
    assert.equal(
      goJsonStringify({ a: 1, b: [true, null, 'x'], c: {}, d: [] }),
      '{"a":1,"b":[true,null,"x"],"c":{},"d":[]}',
    );
  });

  it('drops undefined members and writes undefined array items as null', () => {
    assert.equal(goJsonStringify({ a: undefined, b: [undefined] }), '{"b":[null]}');
  });

  it('keeps Map insertion order, even for integer-like keys', () => {
    const m = new Map<string, unknown>([
      ['b', 1],
      ['10', 2],
      ['9', 3],
    ]);
    assert.equal(goJsonStringify(m), '{"b":1,"10":2,"9":3}');
  });

  it('sortKeys sorts every level by UTF-8 bytes, like Go maps', () => {
    const value = { b: 1, a: { z: 1, y: 2 }, '9': 0, '10': 0, é: 0, Z: 0 };
    assert.equal(canonicalJson(value), '{"10":0,"9":0,"Z":0,"a":{"y":2,"z":1},"b":1,"é":0}');
  });

  it('indents like json.MarshalIndent(v, "", "  ")', () => {
    const value = { schemaVersion: 2, layers: [{ a: 1 }], empty: [], none: {} };
    assert.equal(
      goJsonStringify(value, { indent: '  ' }),
      '{\n  "schemaVersion": 2,\n  "layers": [\n    {\n      "a": 1\n    }\n  ],\n  "empty": [],\n  "none": {}\n}',
    );
  });

  it('formats numbers like Go float64', () => {
    assert.equal(
      goJsonStringify([0, -0, 1.5, 1e21, 1e20, 1e-7, 123456789, 2 ** 53]),
      '[0,-0,1.5,1e+21,100000000000000000000,1e-7,123456789,9007199254740992]',
    );
    assert.equal(goJsonStringify(12345678901234567890n), '12345678901234567890');
  });

  it('refuses what Go refuses', () => {
    assert.throws(() => goJsonStringify(Number.NaN), { code: 'EINVAL' });
    assert.throws(() => goJsonStringify({ x: Number.POSITIVE_INFINITY }), { code: 'EINVAL' });
    assert.throws(() => goJsonStringify(() => 1), { code: 'EINVAL' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => goJsonStringify(cyclic), /cyclic/);
  });

  it('writes bytes as base64 and dates as RFC 3339', () => {
    assert.equal(goJsonStringify(new Uint8Array([1, 2, 3])), '"AQID"');
    assert.equal(goJsonStringify(new Date('2015-10-21T07:28:00.000Z')), '"2015-10-21T07:28:00Z"');
  });

  it('escapes keys too', () => {
    assert.equal(goJsonStringify({ '<k>': '&' }), '{"\\u003ck\\u003e":"\\u0026"}');
  });

  it('a shared (non-cyclic) object may appear twice', () => {
    const shared = { a: 1 };
    assert.equal(goJsonStringify([shared, shared]), '[{"a":1},{"a":1}]');
  });
});

describe('formatGoTime', () => {
  it('trims the fraction like time.Time.MarshalJSON', () => {
    assert.equal(formatGoTime(new Date('2015-10-21T07:28:00.000Z')), '2015-10-21T07:28:00Z');
    assert.equal(formatGoTime(new Date('2015-10-21T07:28:00.120Z')), '2015-10-21T07:28:00.12Z');
    assert.equal(formatGoTime(new Date('2015-10-21T07:28:10.000Z')), '2015-10-21T07:28:10Z');
    assert.equal(formatGoTime(new Date('2015-10-21T07:28:00.001Z')), '2015-10-21T07:28:00.001Z');
    assert.throws(() => formatGoTime(new Date('nope')), { code: 'EINVAL' });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderFormat } from '../../../src/cli/render/format.js';
import { parseTemplate, STRUCT_NAME } from '../../../src/cli/render/go-template.js';
import { tabwrite } from '../../../src/cli/render/tabwriter.js';
import {
  createdSince,
  goFormatG,
  goTimeString,
  humanDuration,
  humanSize,
  humanSizeWithPrecision,
} from '../../../src/cli/render/units.js';

describe('units (docker/go-units)', () => {
  it("formats sizes with Go's %g", () => {
    const table: Array<[number, number, string]> = [
      [0, 3, '0B'],
      [512, 3, '512B'],
      [999, 3, '999B'],
      [1000, 3, '1kB'],
      [1024, 3, '1.02kB'],
      [10_240, 3, '10.2kB'],
      [72_800_000, 3, '72.8MB'],
      [7_797_760, 3, '7.8MB'],
      [999_500, 3, '1e+03kB'],
      [123_456_789, 4, '123.5MB'],
      [12_345_678, 4, '12.35MB'],
      [5_000_000_000_000, 3, '5TB'],
    ];
    for (const [size, precision, want] of table)
      assert.equal(humanSizeWithPrecision(size, precision), want, `${size}`);
    assert.equal(humanSize(1_041), '1.041kB');
    assert.equal(goFormatG(0.000012345, 3), '1.23e-05');
    assert.equal(goFormatG(100, 3), '100');
  });

  it('formats durations as HumanDuration', () => {
    const s = 1000;
    const table: Array<[number, string]> = [
      [500, 'Less than a second'],
      [1 * s, '1 second'],
      [45 * s, '45 seconds'],
      [60 * s, 'About a minute'],
      [119 * s, 'About a minute'],
      [47 * 60 * s, '47 minutes'],
      [60 * 60 * s, 'About an hour'],
      [89 * 60 * s, 'About an hour'],
      [91 * 60 * s, '2 hours'],
      [47 * 3600 * s, '47 hours'],
      [48 * 3600 * s, '2 days'],
      [13 * 86400 * s, '13 days'],
      [14 * 86400 * s, '2 weeks'],
      [59 * 86400 * s, '8 weeks'],
      [60 * 86400 * s, '2 months'],
      [729 * 86400 * s, '24 months'],
      [730 * 86400 * s, '2 years'],
    ];
    for (const [ms, want] of table) assert.equal(humanDuration(ms), want, `${ms}`);
    const now = Date.parse('2024-05-22T18:20:12Z');
    assert.equal(createdSince('2024-05-22T18:18:12Z', now), '2 minutes ago');
    assert.equal(createdSince(undefined, now), '54 years ago', 'docker reports a missing time as the epoch');
    assert.equal(goTimeString('2024-05-22T18:18:12.5Z'), '2024-05-22 18:18:12 +0000 UTC');
  });
});

describe('tabwriter (minwidth 10, padding 3)', () => {
  it('aligns like docker', () => {
    const text =
      'REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nalpine\tlatest\t1d34ffeaf190\t2 weeks ago\t7.79MB\n';
    assert.equal(
      tabwrite(text),
      'REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nalpine       latest    1d34ffeaf190   2 weeks ago   7.79MB\n',
    );
    assert.equal(tabwrite('a\tb…\n'), 'a         b…\n');
    assert.equal(tabwrite('x…xx\ty\n'), 'x…xx      y\n', 'widths count code points');
  });
});

describe('Go templates', () => {
  const row = Object.defineProperty(
    { Repository: 'app', Tag: '1.0', ID: 'abc', List: ['a', 'b'], Labels: { z: '1', a: '2' }, Empty: '' },
    STRUCT_NAME,
    { value: '*formatter.imageContext', enumerable: false },
  );
  const render = (t: string, data: unknown = row) => parseTemplate(t).execute(data);

  it('fields, functions, pipes, conditionals and ranges', () => {
    assert.equal(render('{{.Repository}}:{{.Tag}}'), 'app:1.0');
    assert.equal(render('{{ .Repository }}'), 'app');
    assert.equal(render('{{.List}} {{.Labels}}'), '[a b] map[a:2 z:1]');
    assert.equal(render('{{json .List}}'), '["a","b"]');
    assert.equal(
      render('{{json .}}'),
      '{"Empty":"","ID":"abc","Labels":{"z":"1","a":"2"},"List":["a","b"],"Repository":"app","Tag":"1.0"}',
    );
    assert.equal(
      render('{{join .List ","}}|{{.Tag | upper}}|{{lower "ABC"}}|{{len .List}}|{{index .Labels "z"}}'),
      'a,b|1.0|abc|2|1',
    );
    assert.equal(render('{{if .Empty}}yes{{else}}no{{end}}-{{if .Tag}}t{{end}}'), 'no-t');
    assert.equal(render('{{range .List}}<{{.}}>{{end}}'), '<a><b>');
    assert.equal(render('a  {{- .Tag -}}  b'), 'a1.0b');
    assert.equal(render('{{.Missing}}', { x: 1 }), '<no value>');
    assert.equal(render('{{json .Config}}', { Config: { B: 1, A: '<x>' } }), '{"B":1,"A":"\\u003cx\\u003e"}');
  });

  it('errors like docker', () => {
    assert.throws(() => render('{{.Nope}}'), /can't evaluate field Nope in type \*formatter.imageContext/);
    assert.throws(() => parseTemplate('{{nope .X}}').execute({}), /function "nope" not defined/);
    assert.throws(() => parseTemplate('{{.X'), /template parsing error/);
    assert.throws(() => parseTemplate('{{if .X}}'), /unexpected EOF/);
  });

  it('renders tables with a header from the same template, and json lines', () => {
    const rows = [row, { ...row, Repository: 'longer/repository', Tag: 'latest' }].map((r) =>
      Object.defineProperty(r, STRUCT_NAME, { value: '*formatter.imageContext', enumerable: false }),
    );
    const headers = { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID' };
    assert.equal(
      renderFormat('table {{.Repository}}\\t{{.Tag}}', rows, headers),
      'REPOSITORY          TAG\napp                 1.0\nlonger/repository   latest\n',
    );
    assert.equal(
      renderFormat('table {{.Repository}}:{{.Tag}}', rows, headers),
      'REPOSITORY:TAG\napp:1.0\nlonger/repository:latest\n',
    );
    assert.equal(renderFormat('{{.ID}}', rows, headers), 'abc\nabc\n');
    assert.equal(renderFormat('table {{.ID}}', [], headers), 'IMAGE ID\n');
    assert.equal(
      renderFormat('json', [rows[0] as object], headers)
        .split('\n')[0]
        ?.startsWith('{"Empty":""'),
      true,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { getScalar, setOrCreateValue, setValue } from '../../../src/gitops/values-edit.ts';
import { validationError } from '../../helpers/errors.ts';

/** Reads `text` the way YAML 1.2 (core) and YAML 1.1 parsers would. */
function readBoth(text: string): [unknown, unknown] {
  return [parse(text, { schema: 'core' }), parse(text, { schema: 'yaml-1.1' })];
}

const VALUES = [
  '# Values for the shop stack.',
  '# Second header line.',
  '',
  'global:',
  '  live: blue          # which colour serves traffic',
  "  registry: 'registry.example.com'",
  '  replicas: 2',
  '',
  'web:',
  '  image:',
  '    repository: shop/web',
  '    tag: "1.2.3"  # bumped by CI',
  '  resources: {limits: {cpu: 1.0}, list: [a, b]}',
  '',
  'api:',
  '  image:',
  '    tag: v2.0.1',
  '',
].join('\n');

describe('setValue preserves everything but the scalar', () => {
  it('keeps a same-line comment and its alignment spaces', () => {
    const out = setValue(VALUES, ['global', 'live'], 'green');
    expect(out).toBe(VALUES.replace('live: blue          #', 'live: green          #'));
  });

  it('keeps the header comment and blank lines (a doc whose first line is a comment)', () => {
    const out = setValue(VALUES, ['api', 'image', 'tag'], 'v2.0.2');
    expect(out).toBe(VALUES.replace('tag: v2.0.1', 'tag: v2.0.2'));
    expect(out.startsWith('# Values for the shop stack.\n# Second header line.\n\n')).toBe(true);
  });

  it('keeps double quotes, single quotes and plain style', () => {
    expect(setValue(VALUES, ['web', 'image', 'tag'], '1.2.4')).toBe(
      VALUES.replace('tag: "1.2.3"  #', 'tag: "1.2.4"  #'),
    );
    expect(setValue(VALUES, ['global', 'registry'], 'ghcr.io')).toBe(
      VALUES.replace("registry: 'registry.example.com'", "registry: 'ghcr.io'"),
    );
    expect(setValue(VALUES, ['web', 'image', 'repository'], 'shop/web2')).toBe(
      VALUES.replace('repository: shop/web', 'repository: shop/web2'),
    );
  });

  it('edits scalars inside flow maps and flow sequences', () => {
    const cpu = setValue(VALUES, ['web', 'resources', 'limits', 'cpu'], '1.10');
    expect(cpu).toBe(VALUES.replace('{cpu: 1.0}', '{cpu: "1.10"}'));
    const item = setValue(VALUES, ['web', 'resources', 'list', '1'], 'c, d');
    expect(item).toBe(VALUES.replace('[a, b]', '[a, "c, d"]'));
    const plain = setValue(VALUES, ['web', 'resources', 'list', '0'], 'x');
    expect(plain).toBe(VALUES.replace('[a, b]', '[x, b]'));
    expect(setValue('tag: {v: 1.0}\n', ['tag', 'v'], 2.5)).toBe('tag: {v: 2.5}\n');
  });

  it('keeps CRLF line endings', () => {
    const crlf = VALUES.replaceAll('\n', '\r\n');
    const out = setValue(crlf, ['global', 'live'], 'green');
    expect(out).toBe(crlf.replace('live: blue', 'live: green'));
    expect(out.split('\r\n')).toHaveLength(crlf.split('\r\n').length);
    expect(out.replaceAll('\r\n', '')).not.toContain('\n');
  });

  it('keeps --- and ... document markers', () => {
    const source = '# c\n---\na: 1\nb: x\n...\n# trailing\n';
    expect(setValue(source, ['b'], 'z')).toBe('# c\n---\na: 1\nb: z\n...\n# trailing\n');
  });

  it('keeps anchors and aliases elsewhere', () => {
    const source = 'base: &base {cpu: 1}\nweb:\n  res: *base\n  tag: v1 # t\n';
    expect(setValue(source, ['web', 'tag'], 'v2')).toBe(source.replace('tag: v1', 'tag: v2'));
  });

  it('edits an anchored scalar nobody aliases, keeping the anchor', () => {
    expect(setValue('a: &x 1\nb: 2\n', ['a'], 5)).toBe('a: &x 5\nb: 2\n');
  });

  it('fills an empty value, keeping a comment after it', () => {
    expect(setValue('a:\nb: 1\n', ['a'], 'x')).toBe('a: x\nb: 1\n');
    expect(setValue('a: # note\nb: 1\n', ['a'], 'x')).toBe('a: x # note\nb: 1\n');
    expect(setValue('a:', ['a'], 3)).toBe('a: 3');
    expect(setValue('m: {a: , b: 1}\n', ['m', 'a'], 'x')).toBe('m: {a: x, b: 1}\n');
  });

  it('replaces a multi-line plain scalar', () => {
    const source = 'd: a long\n  plain value\ne: 1\n';
    expect(setValue(source, ['d'], 'short')).toBe('d: short\ne: 1\n');
  });

  it('edits sequence items by index', () => {
    const source = 'list:\n  - one\n  - two # 2\n';
    expect(setValue(source, ['list', '1'], 'three')).toBe('list:\n  - one\n  - three # 2\n');
  });

  it('keeps a byte-order mark', () => {
    expect(setValue('\uFEFFa: 1\n', ['a'], 2)).toBe('\uFEFFa: 2\n');
  });
});

describe('setValue writes values that read back exactly', () => {
  const AMBIGUOUS = [
    '1.10',
    '1e3',
    '1E3',
    '1.',
    '.5',
    '-.5',
    '+1',
    '1_000',
    '0x1F',
    '010',
    '0o17',
    '0b101',
    '12:30',
    '190:20:30',
    'true',
    'True',
    'FALSE',
    'yes',
    'Yes',
    'no',
    'NO',
    'on',
    'off',
    'On',
    'y',
    'Y',
    'n',
    'N',
    'null',
    'Null',
    'NULL',
    '~',
    '',
    '.inf',
    '-.Inf',
    '.nan',
    '.NaN',
    '2001-12-14',
    '2001-12-14T21:59:43.10-05:00',
    '<<',
    '42',
    '-7',
    '3.14',
  ];

  it.each(AMBIGUOUS)(
    'quotes the type-ambiguous string %j (double quotes for a plain target)',
    (value) => {
      const out = setValue('tag: v1 # c\n', ['tag'], value);
      expect(out).toBe(`tag: ${JSON.stringify(value)} # c\n`);
      expect(readBoth(out)).toEqual([{ tag: value }, { tag: value }]);
    },
  );

  it.each(AMBIGUOUS)('keeps single quotes for %j when the old value was single-quoted', (value) => {
    const out = setValue("tag: 'v1'\n", ['tag'], value);
    expect(out).toBe(`tag: '${value}'\n`);
    expect(readBoth(out)).toEqual([{ tag: value }, { tag: value }]);
  });

  it('does not turn "1.10" into 1.1', () => {
    expect(getScalar(setValue('v: 1.9\n', ['v'], '1.10'), ['v'])).toBe('1.10');
  });

  it.each([
    ['a: b', '"a: b"'],
    ['x #y', '"x #y"'],
    ['ends:', '"ends:"'],
    ['- item', '"- item"'],
    ['#hash', '"#hash"'],
    ['*ref', '"*ref"'],
    ['&anchor', '"&anchor"'],
    ['!tag', '"!tag"'],
    ['{a}', '"{a}"'],
    ['[a]', '"[a]"'],
    ['%x', '"%x"'],
    ['@x', '"@x"'],
    ['`x', '"`x"'],
    [' lead', '" lead"'],
    ['trail ', '"trail "'],
    ['---', '"---"'],
    ['"hi"', '"\\"hi\\""'],
    ['say "hi"', 'say "hi"'],
    ['back\\slash', 'back\\slash'],
    ['two\nlines', '"two\\nlines"'],
    ['tab\there', '"tab\\there"'],
    ['bell\u0007', '"bell\\x07"'],
    ['line\u2028sep', '"line\\Lsep"'],
    ['nel\u0085', '"nel\\N"'],
  ])('writes %j as %s', (value, text) => {
    const out = setValue('k: v # c\n', ['k'], value);
    expect(out).toBe(`k: ${text} # c\n`);
    expect(readBoth(out)).toEqual([{ k: value }, { k: value }]);
  });

  it('escapes inside single quotes by doubling and falls back to double quotes when needed', () => {
    expect(setValue("k: 'v'\n", ['k'], "it's: #1")).toBe("k: 'it''s: #1'\n");
    expect(setValue("k: 'v'\n", ['k'], 'a\nb')).toBe('k: "a\\nb"\n');
  });

  it('keeps plain style for strings that stay strings', () => {
    for (const value of [
      'v1.10',
      '1.2.3',
      'sha-3f2a',
      'nginx:1.25',
      'a:b',
      'http://x/y?z=1',
      'x#y',
    ]) {
      expect(setValue('k: v\n', ['k'], value)).toBe(`k: ${value}\n`);
    }
  });

  it('writes unicode as is', () => {
    const value = 'héllo wörld ✓ 日本 🚀';
    const out = setValue('k: "v"\nplain: v\n', ['k'], value);
    expect(out).toBe(`k: "${value}"\nplain: v\n`);
    expect(setValue(out, ['plain'], value)).toBe(`k: "${value}"\nplain: ${value}\n`);
  });

  it('quotes flow indicators inside flow collections', () => {
    expect(setValue('m: {k: v}\n', ['m', 'k'], 'a,b')).toBe('m: {k: "a,b"}\n');
    expect(setValue('m: {k: v}\n', ['m', 'k'], 'a:b')).toBe('m: {k: "a:b"}\n');
    expect(setValue('m: [v]\n', ['m', '0'], 'x]')).toBe('m: ["x]"]\n');
  });

  it('writes numbers, booleans and null plain, whatever the old style', () => {
    expect(setValue('k: "v"\n', ['k'], 3)).toBe('k: 3\n');
    expect(setValue("k: 'v'\n", ['k'], 1.5)).toBe('k: 1.5\n');
    expect(setValue('k: v\n', ['k'], -0)).toBe('k: -0\n');
    expect(setValue('k: v\n', ['k'], true)).toBe('k: true\n');
    expect(setValue('k: "v"\n', ['k'], false)).toBe('k: false\n');
    expect(setValue('k: v\n', ['k'], null)).toBe('k: null\n');
    expect(setValue('k: 1\n', ['k'], 1e21)).toBe('k: 1e+21\n');
    expect(getScalar(setValue('k: 1\n', ['k'], 1e21), ['k'])).toBe(1e21);
  });

  it('allows a string into an explicit !!str scalar', () => {
    expect(setValue('k: !!str 1.0\n', ['k'], '2.0')).toBe('k: !!str "2.0"\n');
  });
});

describe('setValue refuses clearly', () => {
  const file = 'apps/shop/values-blue.yaml';

  it('names the missing segment and the keys that exist', () => {
    const e = validationError(() => setValue(VALUES, ['web', 'image', 'digest'], 'x', { file }));
    expect(e.message).toBe(
      'key "web.image.digest" not found: "web.image" has no key "digest" (keys there: repository, tag)',
    );
    expect(e.where).toEqual({ file, key: 'web.image.digest', line: 10 });
  });

  it('names a missing top-level key', () => {
    const e = validationError(() => setValue(VALUES, ['nope', 'x'], 'x', { file }));
    expect(e.message).toContain('the top level has no key "nope" (keys there: global, web, api)');
    expect(e.where?.line).toBeDefined();
  });

  it('lists at most 10 keys', () => {
    const source = Array.from({ length: 15 }, (_, i) => `k${i}: ${i}`).join('\n');
    const e = validationError(() => setValue(source, ['zz'], 1));
    expect(e.message).toContain('k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, … (5 more)');
  });

  it('refuses a map or sequence target', () => {
    const map = validationError(() => setValue(VALUES, ['web', 'image'], 'x', { file }));
    expect(map.message).toContain('is a map, not a scalar');
    expect(map.where).toEqual({ file, key: 'web.image', line: 10 });
    const seq = validationError(() =>
      setValue(VALUES, ['web', 'resources', 'list'], 'x', { file }),
    );
    expect(seq.message).toContain('is a sequence, not a scalar');
  });

  it('refuses a path through a scalar', () => {
    const e = validationError(() => setValue(VALUES, ['api', 'image', 'tag', 'x'], 'y', { file }));
    expect(e.message).toContain('"api.image.tag" is a scalar ("v2.0.1"), so it has no key "x"');
    expect(e.where).toEqual({ file, key: 'api.image.tag.x', line: 17 });
  });

  it('refuses out-of-range and non-numeric sequence indexes', () => {
    const source = 'list: [a, b]\n';
    expect(validationError(() => setValue(source, ['list', '2'], 'x')).message).toContain(
      'sequence of 2 item(s); there is no item 2',
    );
    expect(validationError(() => setValue(source, ['list', 'x'], 'x')).message).toContain(
      '"x" is not an item index',
    );
  });

  it('refuses an alias as target or on the path, naming the anchored path to edit', () => {
    const source = 'base: &b {tag: v1}\nweb: *b\nlive: &c blue\nother: *c\n';
    const target = validationError(() => setValue(source, ['other'], 'green', { file }));
    expect(target.message).toContain('is an alias (*c) of "live"');
    expect(target.message).toContain('edit "live"');
    expect(target.where).toEqual({ file, key: 'other', line: 4 });
    const through = validationError(() => setValue(source, ['web', 'tag'], 'v2', { file }));
    expect(through.message).toContain('"web" is an alias (*b) of "base"');
    expect(through.message).toContain('edit "base.tag" instead');
  });

  it('refuses a duplicated key on the path, naming both lines; unparsable YAML too', () => {
    const dup = validationError(() => setValue('a: 1\na: 2\n', ['a'], 3, { file }));
    expect(dup.message).toBe(
      'cannot edit "a": the key "a" is defined 2 times in the same map, on lines 1 and 2 (Helm reads the last one, line 2)',
    );
    expect(dup.where).toEqual({ file, key: 'a', line: 2 });
    const deep = validationError(() =>
      setValue('x:\n  y: {k: 1}\n  z: 0\n  y: {k: 2}\n', ['x', 'y', 'k'], 3, { file }),
    );
    expect(deep.where).toEqual({ file, key: 'x.y', line: 4 });
    expect(deep.message).toContain('on lines 2 and 4');
    const bad = validationError(() => setValue('a: [1\nb: 2\n', ['b'], 3, { file }));
    expect(bad.message).toMatch(/^invalid YAML/);
    expect(bad.where?.file).toBe(file);
  });

  it('refuses an empty path and invalid values', () => {
    expect(validationError(() => setValue(VALUES, [], 'x')).message).toContain('empty key path');
    expect(validationError(() => setValue(VALUES, ['global', 'replicas'], NaN)).message).toContain(
      'finite',
    );
    expect(
      validationError(() => setValue(VALUES, ['global', 'live'], {} as unknown as string)).message,
    ).toContain('string, number, boolean or null');
    expect(
      validationError(() => setValue(VALUES, ['global', 'live'], 'a\ud800')).message,
    ).toContain('not valid Unicode');
  });

  it('refuses explicitly tagged scalars that the value would contradict', () => {
    expect(validationError(() => setValue('k: !!int 3\n', ['k'], 4)).message).toContain(
      'explicit tag',
    );
    expect(validationError(() => setValue('k: !!str x\n', ['k'], 4)).message).toContain(
      'explicit tag',
    );
  });
});

describe('getScalar', () => {
  it('reads scalars, resolving aliases and merges', () => {
    const source = 'base: &b {tag: v1, n: 3}\nweb:\n  <<: *b\n  x: null\nlist: [a, 1.10]\n';
    expect(getScalar(source, ['web', 'tag'])).toBe('v1');
    expect(getScalar(source, ['web', 'n'])).toBe(3);
    expect(getScalar(source, ['web', 'x'])).toBeNull();
    expect(getScalar(source, ['list', '1'])).toBe(1.1);
    expect(getScalar(VALUES, ['web', 'image', 'tag'])).toBe('1.2.3');
  });

  it('returns undefined for missing keys or null parents', () => {
    expect(getScalar(VALUES, ['web', 'image', 'digest'])).toBeUndefined();
    expect(getScalar('a:\n', ['a', 'b'])).toBeUndefined();
    expect(getScalar('', ['a'])).toBeUndefined();
    expect(getScalar('l: [1]\n', ['l', '3'])).toBeUndefined();
  });

  it('refuses non-scalar targets and paths through scalars', () => {
    const file = 'v.yaml';
    const map = validationError(() => getScalar(VALUES, ['web'], { file }));
    expect(map.message).toContain('is a map');
    expect(map.where).toEqual({ file, key: 'web', line: 9 });
    expect(validationError(() => getScalar(VALUES, ['global', 'live', 'x'])).message).toContain(
      'is a scalar',
    );
  });
});

describe('setOrCreateValue', () => {
  it('behaves like setValue when the key exists', () => {
    expect(setOrCreateValue(VALUES, ['global', 'live'], 'green')).toBe(
      setValue(VALUES, ['global', 'live'], 'green'),
    );
  });

  it('adds a new component in a 2-space file', () => {
    const source = 'web:\n  image:\n    tag: v1\n';
    expect(setOrCreateValue(source, ['my-new-component', 'image', 'tag'], '1.10')).toBe(
      'web:\n  image:\n    tag: v1\nmy-new-component:\n  image:\n    tag: "1.10"\n',
    );
  });

  it('adds a new component in a 4-space file', () => {
    const source = '# header\nweb:\n    image:\n        tag: v1 # t\n\n# footer comment\n';
    expect(setOrCreateValue(source, ['my-new-component', 'image', 'tag'], 'v2')).toBe(
      '# header\nweb:\n    image:\n        tag: v1 # t\nmy-new-component:\n    image:\n        tag: v2\n\n# footer comment\n',
    );
  });

  it('adds under an existing map in the middle of a file; later keys keep their place', () => {
    const out = setOrCreateValue(VALUES, ['web', 'image', 'digest'], 'sha256:abc');
    expect(out).toBe(
      VALUES.replace('# bumped by CI\n', '# bumped by CI\n    digest: sha256:abc\n'),
    );
    const deeper = setOrCreateValue(VALUES, ['global', 'extra', 'flag'], true);
    expect(deeper).toBe(
      VALUES.replace('  replicas: 2\n', '  replicas: 2\n  extra:\n    flag: true\n'),
    );
  });

  it('handles a file ending without a newline', () => {
    expect(setOrCreateValue('a:\n  b: 1', ['a', 'c'], 2)).toBe('a:\n  b: 1\n  c: 2');
    expect(setOrCreateValue('a: 1 # c', ['k', 'm'], 'x')).toBe('a: 1 # c\nk:\n  m: x');
    expect(setOrCreateValue('a: 1 # c', ['n'], 'x')).toBe('a: 1 # c\n"n": x');
  });

  it('keeps CRLF line endings', () => {
    const source = 'web:\r\n  image:\r\n    tag: v1\r\nother: 1\r\n';
    expect(setOrCreateValue(source, ['web', 'image', 'pullPolicy'], 'Always')).toBe(
      'web:\r\n  image:\r\n    tag: v1\r\n    pullPolicy: Always\r\nother: 1\r\n',
    );
    expect(setOrCreateValue(source, ['api', 'image', 'tag'], 'v2')).toBe(
      source + 'api:\r\n  image:\r\n    tag: v2\r\n',
    );
  });

  it('inserts before a document end marker', () => {
    expect(setOrCreateValue('---\na: 1\n...\n# after\n', ['b'], 2)).toBe(
      '---\na: 1\nb: 2\n...\n# after\n',
    );
  });

  it('fills an empty or comment-only document', () => {
    expect(setOrCreateValue('', ['a', 'b'], 1)).toBe('a:\n  b: 1\n');
    expect(setOrCreateValue('# only a comment\n', ['a'], 'x')).toBe('# only a comment\na: x\n');
  });

  it('adds inside flow maps, including {}', () => {
    expect(setOrCreateValue('podAnnotations: {}\n', ['podAnnotations', 'a.b/c'], 'x')).toBe(
      'podAnnotations: {a.b/c: x}\n',
    );
    expect(setOrCreateValue('m: { a: 1 }\n', ['m', 'b', 'c'], '1.10')).toBe(
      'm: { a: 1, b: {c: "1.10"} }\n',
    );
    expect(setOrCreateValue('m: {a: 1,}\n', ['m', 'b'], 2)).toBe('m: {a: 1, b: 2}\n');
  });

  it('adds under an empty `key:` value', () => {
    expect(setOrCreateValue('image:\nother: 1\n', ['image', 'tag'], 'v1')).toBe(
      'image:\n  tag: v1\nother: 1\n',
    );
    expect(setOrCreateValue('a:\n    image: # none yet\n', ['a', 'image', 'tag'], 'v1')).toBe(
      'a:\n    image: # none yet\n        tag: v1\n',
    );
  });

  it('quotes new keys that would not read back as the same string', () => {
    expect(setOrCreateValue('a: 1\n', ['1.10'], 'x')).toBe('a: 1\n"1.10": x\n');
    expect(setOrCreateValue('a: 1\n', ['k: v'], 'x')).toBe('a: 1\n"k: v": x\n');
  });

  it('refuses what it cannot do sensibly', () => {
    const file = 'v.yaml';
    const seq = validationError(() => setOrCreateValue('l: [a]\n', ['l', '1'], 'b', { file }));
    expect(seq.message).toContain('does not add sequence items');
    expect(seq.where).toEqual({ file, key: 'l.1', line: 1 });
    expect(validationError(() => setOrCreateValue('a: null\n', ['a', 'b'], 1)).message).toContain(
      'is null',
    );
    expect(validationError(() => setOrCreateValue('a: x\n', ['a', 'b'], 1)).message).toContain(
      'is a scalar',
    );
    expect(
      validationError(() => setOrCreateValue('m: {a: 1,\n  b: 2}\n', ['m', 'c'], 1)).message,
    ).toContain('multi-line flow map');
    const merged = 'base: &b\n  image: {tag: 1, repo: r}\nweb:\n  <<: *b\n';
    const shadow = validationError(() =>
      setOrCreateValue(merged, ['web', 'image', 'tag'], 'v2', { file }),
    );
    expect(shadow.message).toContain('"web.image" comes from a << merge');
    expect(shadow.where).toEqual({ file, key: 'web.image.tag', line: 3 });
  });
});

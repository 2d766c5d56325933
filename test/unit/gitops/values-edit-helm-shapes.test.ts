/**
 * The shapes real Helm values files have that a one-scalar edit must handle: anchors with their
 * aliases and `<<` merges, block scalars, and keys written twice. Targeted cases with exact
 * output; the corpus and property tests run the same code on real and generated files.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  MAX_DUPLICATE_NOTICES,
  getScalar,
  setOrCreateValue,
  setValue,
  type ValuesNotice,
} from '../../../src/gitops/values-edit.ts';
import { changedValuePaths } from '../../../src/gitops/values-diff.ts';
import { parseYamlDocument, parseYamlSource } from '../../../src/gitops/yaml-parse.ts';
import { validationError } from '../../helpers/errors.ts';

const file = 'apps/shop/values.yaml';

/** Runs an edit with a notice collector. */
function withNotices(edit: (onNotice: (n: ValuesNotice) => void) => string): {
  out: string;
  notices: ValuesNotice[];
} {
  const notices: ValuesNotice[] = [];
  const out = edit((n) => notices.push(n));
  return { out, notices };
}

function read(text: string): unknown {
  return parse(text, { schema: 'core', merge: true, uniqueKeys: false });
}

describe('editing through anchors', () => {
  it('edits an anchored scalar in place, keeps the anchor and names the alias that follows', () => {
    const source = 'live: &colour blue # traffic\nmirror: *colour\nother: x\n';
    const { out, notices } = withNotices((onNotice) =>
      setValue(source, ['live'], 'green', { file, onNotice }),
    );
    expect(out).toBe('live: &colour green # traffic\nmirror: *colour\nother: x\n');
    expect(read(out)).toEqual({ live: 'green', mirror: 'green', other: 'x' });
    expect(notices).toEqual([
      {
        kind: 'alias-changes',
        file,
        path: ['live'],
        anchors: ['colour'],
        changes: [{ path: ['mirror'], before: 'blue', after: 'green', viaAlias: true }],
        message: `${file}: editing live (anchor &colour) also changes mirror`,
      },
    ]);
  });

  it('edits inside an anchored map: aliases and merges follow, explicit overrides do not', () => {
    const source = [
      'base: &base',
      '  image:',
      '    tag: v1',
      '  replicas: 1',
      'web: *base',
      'api:',
      '  <<: *base',
      '  replicas: 3',
      'worker:',
      '  <<: *base',
      '  image: {tag: pinned}',
      '',
    ].join('\n');
    const { out, notices } = withNotices((onNotice) =>
      setValue(source, ['base', 'image', 'tag'], 'v2', { file, onNotice }),
    );
    expect(out).toBe(source.replace('tag: v1', 'tag: v2'));
    const after = read(out) as Record<string, { image: { tag: string } }>;
    expect(after.web!.image.tag).toBe('v2');
    expect(after.api!.image.tag).toBe('v2');
    expect(after.worker!.image.tag).toBe('pinned');
    expect(notices).toHaveLength(1);
    expect(notices[0]!.message).toBe(
      `${file}: editing base.image.tag (anchor &base) also changes web.image.tag, api.image.tag`,
    );
  });

  it('names every anchor on the path and caps the list in the message, not in `changes`', () => {
    const aliases = Array.from({ length: 12 }, (_, i) => `u${i}: *inner`).join('\n');
    const source = `outer: &outer\n  inner: &inner\n    k: 1\n${aliases}\ncopy: *outer\n`;
    const { notices } = withNotices((onNotice) =>
      setValue(source, ['outer', 'inner', 'k'], 2, { onNotice }),
    );
    const [notice] = notices;
    expect(notice?.kind).toBe('alias-changes');
    if (notice?.kind !== 'alias-changes') return;
    expect(notice.anchors).toEqual(['outer', 'inner']);
    expect(notice.changes.map((c) => c.path.join('.'))).toEqual([
      ...Array.from({ length: 12 }, (_, i) => `u${i}.k`),
      'copy.inner.k',
    ]);
    expect(notice.message).toBe(
      'editing outer.inner.k (anchor &outer, &inner) also changes u0.k, u1.k, u2.k, u3.k, u4.k, u5.k, u6.k, u7.k, u8.k, u9.k and 3 more',
    );
  });

  it('edits an item of an anchored sequence', () => {
    const source =
      'defaults:\n  tolerations: &tol\n    - key: a\n      effect: NoSchedule\nweb:\n  tolerations: *tol\n';
    const { out, notices } = withNotices((onNotice) =>
      setValue(source, ['defaults', 'tolerations', '0', 'effect'], 'NoExecute', { onNotice }),
    );
    expect(out).toBe(source.replace('NoSchedule', 'NoExecute'));
    expect(notices.map((n) => n.message)).toEqual([
      'editing defaults.tolerations.0.effect (anchor &tol) also changes web.tolerations.0.effect',
    ]);
  });

  it('adds a key to an anchored map: every alias gains it', () => {
    const source = 'base: &b\n  a: 1\nweb: *b\n';
    const { out, notices } = withNotices((onNotice) =>
      setOrCreateValue(source, ['base', 'b'], 2, { onNotice }),
    );
    expect(out).toBe('base: &b\n  a: 1\n  b: 2\nweb: *b\n');
    expect(read(out)).toEqual({ base: { a: 1, b: 2 }, web: { a: 1, b: 2 } });
    expect(notices[0]!.message).toBe('editing base.b (anchor &b) also changes web.b');
  });

  it('says nothing when no alias reads the change (unused anchor, shadowing override)', () => {
    const unused = withNotices((onNotice) => setValue('a: &x 1\nb: 2\n', ['a'], 5, { onNotice }));
    expect(unused).toEqual({ out: 'a: &x 5\nb: 2\n', notices: [] });
    const shadowed = withNotices((onNotice) =>
      setValue('base: &b {t: 1}\nweb:\n  <<: *b\n  t: 9\n', ['base', 't'], 2, { onNotice }),
    );
    expect(shadowed.notices).toEqual([]);
  });

  it('keeps the string API: no onNotice, same text', () => {
    const source = 'live: &c blue\nother: *c\n';
    expect(setValue(source, ['live'], 'green')).toBe('live: &c green\nother: *c\n');
  });

  it('still refuses an anchored empty value and an alias bomb', () => {
    expect(validationError(() => setValue('a: &x\nb: *x\n', ['a'], 1)).message).toContain(
      'empty value with an anchor',
    );
    const bomb = [
      'a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: x',
      '',
    ].join('\n');
    expect(validationError(() => setValue(bomb, ['d'], 'y')).message).toContain('alias');
  });
});

describe('block scalars', () => {
  const cases: [name: string, source: string, path: string[], value: string, expected: string][] = [
    ['literal, clip', 'a: |\n  x\n  y\nb: 1\n', ['a'], 'p\nq\n', 'a: |\n  p\n  q\nb: 1\n'],
    ['literal, strip', 'a: |\n  x\nb: 1\n', ['a'], 'p\nq', 'a: |-\n  p\n  q\nb: 1\n'],
    ['literal, keep', 'a: |-\n  x\nb: 1\n', ['a'], 'p\n\n\n', 'a: |+\n  p\n\n\nb: 1\n'],
    [
      'keep, counting the blank lines that follow',
      'a: |\n  x\n\nb: 1\n',
      ['a'],
      'p\n\n',
      'a: |+\n  p\n\nb: 1\n',
    ],
    [
      'leading spaces need an indentation indicator',
      'm:\n  a: |\n    x\n  b: 1\n',
      ['m', 'a'],
      '  indented\nnext\n',
      'm:\n  a: |2\n      indented\n    next\n  b: 1\n',
    ],
    [
      'an existing indicator stays, re-counted for the content indentation',
      'm:\n  a: |4-\n        x\n',
      ['m', 'a'],
      'y\n',
      'm:\n  a: |4\n      y\n',
    ],
    [
      'four-space files keep their content indentation',
      'm:\n    a: >-\n        one\n        two\n    b: 1\n',
      ['m', 'a'],
      'three four',
      'm:\n    a: >-\n        three four\n    b: 1\n',
    ],
    [
      'folded: a line break becomes an empty line, more-indented lines keep theirs',
      'a: >\n  x\nb: 1\n',
      ['a'],
      'one two\nthree\n  code\nfour\n',
      'a: >\n  one two\n\n  three\n    code\n  four\nb: 1\n',
    ],
    [
      'the header comment and an anchor stay',
      'a: &doc | # the config\n  x\nb: *doc\n',
      ['a'],
      'y\n',
      'a: &doc | # the config\n  y\nb: *doc\n',
    ],
    ['CRLF', 'a: |\r\n  x\r\nb: 1\r\n', ['a'], 'p\nq\n', 'a: |\r\n  p\r\n  q\r\nb: 1\r\n'],
    [
      'in a sequence',
      'l:\n  - |\n    x\n  - y\n',
      ['l', '0'],
      'z\nw\n',
      'l:\n  - |\n    z\n    w\n  - y\n',
    ],
    ['tagged !!str', 'a: !!str |\n  x\n', ['a'], 'y\n', 'a: !!str |\n  y\n'],
    ['at the end of the file without a newline', 'a: |-\n  x', ['a'], 'y', 'a: |-\n  y\n'],
  ];

  it.each(cases)('%s', (_name, source, path, value, expected) => {
    const out = setValue(source, path, value);
    expect(out).toBe(expected);
    let got: unknown = read(out);
    for (const k of path) got = (got as Record<string, unknown>)[k];
    expect(got).toBe(value);
  });

  const fallbacks: [name: string, value: string | number | null, expected: string][] = [
    ['a number', 42, 'a: 42 # c\nb: 1\n'],
    ['null', null, 'a: null # c\nb: 1\n'],
    ['an empty string', '', 'a: "" # c\nb: 1\n'],
    ['a carriage return', 'x\ry', 'a: "x\\ry" # c\nb: 1\n'],
    ['a line of spaces only', 'x\n   \ny\n', 'a: "x\\n   \\ny\\n" # c\nb: 1\n'],
  ];

  it.each(fallbacks)('falls back to a one-line scalar for %s', (_name, value, expected) => {
    const out = setValue('a: | # c\n  x\n  y\nb: 1\n', ['a'], value);
    expect(out).toBe(expected);
    expect((read(out) as { a: unknown }).a).toBe(value);
  });

  it('keeps the block style for a one-line string (strip chomping)', () => {
    expect(setValue('a: | # c\n  x\n  y\nb: 1\n', ['a'], 'short')).toBe(
      'a: |- # c\n  short\nb: 1\n',
    );
  });

  it('falls back to quoted when keep chomping would swallow the blank lines after it', () => {
    const out = setValue('a: |\n  x\n\n\nb: 1\n', ['a'], 'p\n\n');
    expect(out).toBe('a: "p\\n\\n"\n\n\nb: 1\n');
  });
});

describe('duplicate keys', () => {
  const source = [
    'redis:',
    '  replica:',
    '    replicaCount: 0',
    '  master: {port: 1}',
    '  replica:',
    '    nodeSelector: {}',
    'image:',
    '  tag: v1',
    '',
  ].join('\n');

  it('edits away from a duplicate and warns, with both lines', () => {
    const { out, notices } = withNotices((onNotice) =>
      setValue(source, ['image', 'tag'], 'v2', { file, onNotice }),
    );
    expect(out).toBe(source.replace('tag: v1', 'tag: v2'));
    expect(notices).toEqual([
      {
        kind: 'duplicate-key',
        file,
        path: ['redis', 'replica'],
        lines: [2, 5],
        message: `${file}:5: warning: duplicate key redis.replica (also on line 2); Helm reads the last one, line 5`,
      },
    ]);
  });

  it('reads a duplicated key as Helm does: the last occurrence wins', () => {
    expect(getScalar(source, ['redis', 'replica', 'replicaCount'])).toBeUndefined();
    expect(getScalar('a: 1\nb: 2\na: 3\n', ['a'])).toBe(3);
    expect(changedValuePaths(source, source.replace('{}', '{zone: a}'))).toEqual([
      {
        path: ['redis', 'replica', 'nodeSelector', 'zone'],
        before: undefined,
        after: 'a',
        viaAlias: false,
      },
    ]);
  });

  it('refuses an edit through the duplicated key, naming the file, key and both lines', () => {
    const e = validationError(() =>
      setValue(source, ['redis', 'replica', 'nodeSelector'], 'x', { file }),
    );
    expect(e.message).toBe(
      'cannot edit "redis.replica.nodeSelector": the key "redis.replica" is defined 2 times in the same map, on lines 2 and 5 (Helm reads the last one, line 5)',
    );
    expect(e.where).toEqual({ file, key: 'redis.replica', line: 5 });
    expect(e.describe()).toContain(`${file}:5: redis.replica: cannot edit`);
  });

  it('lists at most MAX_DUPLICATE_NOTICES duplicates, then counts the rest', () => {
    const many = Array.from({ length: 13 }, (_, i) => `k${i}: 1\nk${i}: 2`).join('\n') + '\nz: 0\n';
    const { notices } = withNotices((onNotice) => setValue(many, ['z'], 1, { onNotice }));
    expect(notices).toHaveLength(MAX_DUPLICATE_NOTICES + 1);
    expect(notices[0]!.message).toBe(
      'line 2: warning: duplicate key k0 (also on line 1); Helm reads the last one, line 2',
    );
    expect(notices.at(-1)!.message).toBe('warning: 3 more duplicate key(s) not listed');
  });

  it('stays an error for every other YAML stackswap reads (stackswap.yaml, plans)', () => {
    const e = validationError(() => parseYamlDocument('a: 1\na: 2\n', { file: 'stackswap.yaml' }));
    expect(e.message).toBe('duplicate key "a": map keys must be unique');
    expect(parseYamlSource('a: 1\na: 2\n', { duplicateKeys: 'last-wins' }).duplicates).toEqual([
      { path: ['a'], lines: [1, 2] },
    ]);
  });

  it('does not count repeated merge keys as duplicates', () => {
    const merges = 'a: &a {x: 1}\nb: &b {y: 1}\nc:\n  <<: *a\n  <<: *b\n';
    expect(parseYamlSource(merges, { duplicateKeys: 'last-wins' }).duplicates).toEqual([]);
  });
});

describe('changedValuePaths', () => {
  it('lists leaf changes in document order, marking those reached through an alias', () => {
    const before = 'base: &b {tag: v1, n: 1}\nweb: *b\nlist: [1, 2]\ngone: x\nkind: {a: 1}\n';
    const after = 'base: &b {tag: v2, n: 1}\nweb: *b\nlist: [1]\nkind: 3\nnew: {k: v}\n';
    expect(changedValuePaths(before, after)).toEqual([
      { path: ['base', 'tag'], before: 'v1', after: 'v2', viaAlias: false },
      { path: ['web', 'tag'], before: 'v1', after: 'v2', viaAlias: true },
      { path: ['list', '1'], before: 2, after: undefined, viaAlias: false },
      { path: ['kind'], before: { a: 1 }, after: 3, viaAlias: false },
      { path: ['new'], before: undefined, after: { k: 'v' }, viaAlias: false },
      { path: ['gone'], before: 'x', after: undefined, viaAlias: false },
    ]);
  });

  it('marks values that a << merge provides as via an alias', () => {
    const before = 'base: &b {t: 1}\nweb:\n  <<: *b\n';
    expect(changedValuePaths(before, before.replace('t: 1', 't: 2'))).toEqual([
      { path: ['base', 't'], before: 1, after: 2, viaAlias: false },
      { path: ['web', 't'], before: 1, after: 2, viaAlias: true },
    ]);
    expect(changedValuePaths(before, before)).toEqual([]);
  });

  it('refuses unparsable text with a ValidationError naming the file', () => {
    const e = validationError(() => changedValuePaths('a: 1\n', 'a: [1\n', { file }));
    expect(e.where?.file).toBe(file);
  });
});

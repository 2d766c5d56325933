import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../../../src/shared/errors.ts';
import {
  DEFAULT_MAX_BYTES,
  MAX_NESTING_DEPTH,
  lineOfPath,
  parseYamlDocument,
  parseYamlValue,
  validationErrorFromZod,
  yamlToJS,
} from '../../../src/gitops/yaml-parse.ts';
import { validationError } from '../../helpers/errors.ts';

describe('parseYamlDocument', () => {
  it('uses the YAML 1.2 core schema', () => {
    const doc = parseYamlDocument('a: 1.10\nb: "1.10"\nc: yes\nd: 0o17\ne: ~\n');
    expect(doc.toJS()).toEqual({ a: 1.1, b: '1.10', c: 'yes', d: 15, e: null });
  });

  it('resolves << merge keys like Helm does', () => {
    const doc = parseYamlDocument('base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n');
    expect(yamlToJS(doc)).toEqual({ base: { x: 1 }, c: { x: 1, y: 2 } });
  });

  it('rejects sources over maxBytes before parsing, naming the limit', () => {
    const e = validationError(() =>
      parseYamlDocument('a: 1\n'.repeat(10), { file: 'v.yaml', maxBytes: 20 }),
    );
    expect(e.message).toContain('the limit is 20 bytes');
    expect(e.where).toEqual({ file: 'v.yaml' });
  });

  it('has a 1 MiB default limit', () => {
    expect(DEFAULT_MAX_BYTES).toBe(1024 * 1024);
    const big = `a: "${'x'.repeat(DEFAULT_MAX_BYTES)}"\n`;
    expect(validationError(() => parseYamlDocument(big)).message).toContain('1 MiB');
    expect(() => parseYamlDocument(`a: "${'x'.repeat(1000)}"\n`)).not.toThrow();
  });

  it('counts bytes, not characters', () => {
    // 10 characters, 30 bytes in UTF-8
    expect(() => parseYamlDocument('a: ' + '€'.repeat(9), { maxBytes: 29 })).toThrow(
      ValidationError,
    );
  });

  it.each([
    ['a: !!js/function "function () {}"\n', '!!js/function', 'a', 1],
    ['a:\n  b: !!python/object:os.system x\n', '!!python/object:os.system', 'a.b', 2],
    ['x: 1\ny: !foo bar\n', '!foo', 'y', 2],
    ['x: !!binary aGVsbG8=\n', '!!binary', 'x', 1],
    ['x: !!timestamp 2001-01-01\n', '!!timestamp', 'x', 1],
  ])('rejects the unsupported tag in %j', (source, tag, key, line) => {
    const e = validationError(() => parseYamlDocument(source, { file: 'v.yaml' }));
    expect(e.message).toContain(`unsupported YAML tag ${tag}`);
    expect(e.where).toEqual({ file: 'v.yaml', key, line });
  });

  it('accepts the core schema tags', () => {
    expect(parseYamlDocument('a: !!str 1.0\nb: !!int "3"\n').toJS()).toEqual({ a: '1.0', b: 3 });
  });

  it.each([
    ['flow', '['.repeat(5000) + '1' + ']'.repeat(5000)],
    ['flow maps', '{a: '.repeat(5000) + '1' + '}'.repeat(5000)],
    ['block', Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n'],
    ['block sequences', '- '.repeat(3000) + 'x\n'],
    ['a megabyte of flow', '['.repeat(1_000_000)],
    ['a megabyte of compact sequences', '- '.repeat(500_000) + 'x'],
  ])('turns deep %s nesting into a ValidationError, not a crash', (_name, source) => {
    const e = validationError(() => parseYamlDocument(source, { file: 'deep.yaml' }));
    expect(e.message).toContain('YAML nesting too deep or invalid');
    expect(e.where?.file).toBe('deep.yaml');
  });

  it(`accepts nesting up to ${MAX_NESTING_DEPTH} levels`, () => {
    const n = MAX_NESTING_DEPTH;
    expect(() => parseYamlDocument('['.repeat(n) + '1' + ']'.repeat(n))).not.toThrow();
    expect(() => parseYamlDocument('['.repeat(n + 1) + '1' + ']'.repeat(n + 1))).toThrow(
      ValidationError,
    );
  });

  it('rejects a second document with its line', () => {
    const e = validationError(() => parseYamlDocument('a: 1\n---\nb: 2\n', { file: 'v.yaml' }));
    expect(e.message).toContain('second YAML document');
    expect(e.where).toEqual({ file: 'v.yaml', line: 2 });
  });

  it('accepts one document with --- and ... markers', () => {
    expect(parseYamlDocument('# c\n---\na: 1\n...\n').toJS()).toEqual({ a: 1 });
  });

  it('reports duplicate keys with their path and line', () => {
    const e = validationError(() =>
      parseYamlDocument('a: 1\nb:\n  c: 1\n  c: 2\n', { file: 'v.yaml' }),
    );
    expect(e.message).toBe('duplicate key "b.c": map keys must be unique');
    expect(e.where).toEqual({ file: 'v.yaml', key: 'b.c', line: 4 });
  });

  it('reports syntax errors with a line and a reason', () => {
    const e = validationError(() => parseYamlDocument('a:\n  b: 1\n c: 2\n', { file: 'v.yaml' }));
    expect(e.message).toMatch(/^invalid YAML: /);
    expect(e.where?.line).toBe(3);
    expect(e.where?.file).toBe('v.yaml');
  });

  it('leaves `file` out of `where` when not given', () => {
    const e = validationError(() => parseYamlDocument('a: [1\n'));
    expect(e.where).not.toHaveProperty('file');
    expect(e.where?.line).toBeGreaterThanOrEqual(1);
  });

  it('rejects an alias without an anchor', () => {
    const e = validationError(() => parseYamlDocument('a: 1\nb: *nope\n', { file: 'v.yaml' }));
    expect(e.message).toContain('*nope');
    expect(e.where).toEqual({ file: 'v.yaml', key: 'b', line: 2 });
  });
});

describe('yamlToJS / parseYamlValue', () => {
  const bomb = [
    'a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
  ].join('\n');

  it('stops alias bombs with a ValidationError', () => {
    const e = validationError(() => parseYamlValue(bomb, z.unknown(), { file: 'bomb.yaml' }));
    expect(e.message).toContain('alias');
    expect(e.where?.file).toBe('bomb.yaml');
  });

  it('allows ordinary alias use', () => {
    expect(parseYamlValue('a: &x 1\nb: *x\nc: *x\n', z.record(z.string(), z.number()))).toEqual({
      a: 1,
      b: 1,
      c: 1,
    });
  });

  const Schema = z.object({
    stacks: z.record(z.string(), z.strictObject({ replicas: z.number(), name: z.string() })),
    list: z.array(z.string()).optional(),
  });

  it('returns the validated value', () => {
    expect(parseYamlValue('stacks:\n  a: {replicas: 2, name: n}\n', Schema)).toEqual({
      stacks: { a: { replicas: 2, name: 'n' } },
    });
  });

  it('reports a zod issue with its key path and the line of that key', () => {
    const source = 'stacks:\n  a:\n    name: n\n    replicas: "two"\n';
    const e = validationError(() => parseYamlValue(source, Schema, { file: 's.yaml' }));
    expect(e.where).toEqual({ file: 's.yaml', key: 'stacks.a.replicas', line: 4 });
    expect(e.message).toMatch(/expected number/);
  });

  it('points a missing key at its nearest existing parent', () => {
    const source = '# c\nstacks:\n\n  a:\n    replicas: 1\n';
    const e = validationError(() => parseYamlValue(source, Schema, { file: 's.yaml' }));
    expect(e.where).toEqual({ file: 's.yaml', key: 'stacks.a.name', line: 4 });
  });

  it('points an unknown key at that key', () => {
    const source = 'stacks:\n  a:\n    replicas: 1\n    name: n\n    extra: 1\n';
    const e = validationError(() => parseYamlValue(source, Schema, { file: 's.yaml' }));
    expect(e.where).toEqual({ file: 's.yaml', key: 'stacks.a.extra', line: 5 });
  });

  it('finds sequence items by index', () => {
    const source = 'stacks: {}\nlist:\n  - a\n  - 2\n';
    const e = validationError(() => parseYamlValue(source, Schema));
    expect(e.where).toEqual({ key: 'list.1', line: 4 });
  });

  it('lists further problems in details', () => {
    const source = 'stacks:\n  a: {replicas: x}\n';
    const e = validationError(() => parseYamlValue(source, Schema));
    expect(e.details?.moreProblems).toEqual([expect.stringMatching(/^stacks\.a\.name: /)]);
  });
});

describe('lineOfPath / validationErrorFromZod', () => {
  const source = '# header\ntop:\n  child:\n    - x\n    - {y: 1}\nother: 2\n';
  const doc = parseYamlDocument(source);

  it.each([
    [['top'], 2],
    [['top', 'child'], 3],
    [['top', 'child', '1'], 5],
    [['top', 'child', '1', 'y'], 5],
    [['other'], 6],
    [['top', 'missing', 'deeper'], 2],
    [['nope'], 2],
    [[], 2],
  ])('line of %j is %i', (path, line) => {
    expect(lineOfPath(doc, source, path)).toBe(line);
  });

  it('is undefined for an empty document', () => {
    expect(lineOfPath(parseYamlDocument('# nothing\n'), '# nothing\n', ['a'])).toBeUndefined();
  });

  it('builds a ValidationError from any zod error', () => {
    const result = z.object({ other: z.string() }).safeParse(doc.toJS());
    expect(result.success).toBe(false);
    const e = validationErrorFromZod(result.error!, { file: 'f.yaml', doc, source });
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.where).toEqual({ file: 'f.yaml', key: 'other', line: 6 });
    expect(e.describe()).toMatch(/^f\.yaml:6: other: /);
  });
});

describe('the yaml package', () => {
  /** [major, minor, patch] of a semver version (prerelease tags ignored). */
  const parts = (version: string) => version.split(/[.+-]/).slice(0, 3).map(Number);
  const atLeast = (version: string, min: string) => {
    const [a, b] = [parts(version), parts(min)];
    for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
    return true;
  };

  it('compares versions the way the check below needs', () => {
    expect(['2.8.2', '2.7.9', '1.10.3'].map((v) => atLeast(v, '2.8.3'))).toEqual([
      false,
      false,
      false,
    ]);
    expect(['2.8.3', '2.8.10', '2.9.0', '3.0.0'].map((v) => atLeast(v, '2.8.3'))).toEqual([
      true,
      true,
      true,
      true,
    ]);
  });

  it('is yaml >= 2.8.3 (the CVE-2026-33532 deep-nesting fix)', () => {
    const main = createRequire(import.meta.url).resolve('yaml');
    const packageJson = path.join(
      main.slice(0, main.lastIndexOf('/node_modules/yaml/')),
      'node_modules/yaml/package.json',
    );
    const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
    expect(atLeast(version, '2.8.3'), `installed yaml ${version}`).toBe(true);
  });
});

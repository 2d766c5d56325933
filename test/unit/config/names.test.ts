import { describe, expect, it } from 'vitest';
import {
  BranchName,
  ImageTag,
  formatKeyPath,
  parseKeyPath,
  repoPathProblem,
} from '../../../src/config/names.ts';

describe('repo paths', () => {
  it.each([
    ['apps/my-app/values-blue.yaml', undefined],
    ['../etc/passwd', 'path escapes the config repo ("..")'],
    ['apps/../../x', 'path escapes the config repo ("..")'],
    ['/etc/passwd', 'path must be relative to the config repo'],
    ['-rf', 'path segments must not start with "-"'],
    ['apps/-x/values.yaml', 'path segments must not start with "-"'],
    [':(glob)*', 'path must not start with ":" (git pathspec magic)'],
    ['.git/config', 'path must not point into .git'],
    ['apps//x', 'path must be normalised (no "//", "./")'],
    ['apps/x\nevil', 'path contains a control character'],
    ['', 'path is empty'],
  ])('%j -> %s', (path, problem) => {
    expect(repoPathProblem(path)).toBe(problem);
  });
});

describe('image tags', () => {
  it.each(['1.0.0', '1.10', 'v2.3.4-rc.1', '0362525', '0e1234', 'latest', '_x'])(
    'accepts %s',
    (tag) => {
      expect(ImageTag.safeParse(tag).success).toBe(true);
    },
  );
  it.each(['', '-1', '.1', 'a b', 'a:b', 'x'.repeat(129), 'ä'])('rejects %j', (tag) => {
    expect(ImageTag.safeParse(tag).success).toBe(false);
  });
  it('tells a number apart from a string', () => {
    const r = ImageTag.safeParse(1.1);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('version must be a string; quote it');
  });
});

describe('key paths', () => {
  it('splits on dots and honours escapes', () => {
    expect(parseKeyPath('global.live')).toEqual(['global', 'live']);
    expect(parseKeyPath('podAnnotations.example\\.com/team')).toEqual([
      'podAnnotations',
      'example.com/team',
    ]);
    expect(parseKeyPath('a\\\\.b')).toEqual(['a\\', 'b']);
  });
  it('round-trips through formatKeyPath', () => {
    for (const path of [['a', 'b.c'], ['x\\y', 'z'], ['plain']]) {
      expect(parseKeyPath(formatKeyPath(path))).toEqual(path);
    }
  });
  it('rejects empty segments', () => {
    expect(() => parseKeyPath('a..b')).toThrow(/empty segment/);
    expect(() => parseKeyPath('.a')).toThrow(/empty segment/);
  });
});

describe('branch names', () => {
  it.each(['main', 'release/1.2', 'feature_x-1'])('accepts %s', (b) =>
    expect(BranchName.safeParse(b).success).toBe(true),
  );
  it.each(['-h', 'a..b', 'x.lock', 'a//b', 'a@{1}', 'a b', '/main', 'main/'])('rejects %s', (b) =>
    expect(BranchName.safeParse(b).success).toBe(false),
  );
});

/**
 * Everything that reaches git is validated first: branches, URLs and repo paths. Rejections
 * happen before any git process runs (the cache directory is not even created).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../../../src/shared/errors.ts';
import { Redactor } from '../../../src/shared/redact.ts';
import { ConfigRepo } from '../../../src/gitops/git/repo.ts';
import { parseRemoteUrl } from '../../../src/gitops/git/remote-url.ts';
import {
  cleanupFixtures,
  commitCount,
  createBareRepo,
  git,
  tempDir,
} from '../../helpers/git-fixtures.ts';
import { openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

async function expectRejectedBeforeGit(options: {
  url?: string;
  branch?: string;
  allowFileProtocol?: boolean;
}) {
  const cacheDir = path.join(tempDir('stackswap-cache-'), 'never-created');
  const error = await ConfigRepo.open({
    // Validation fails before this (never created) repository would be looked at.
    url: options.url ?? path.join(cacheDir, 'origin.git'),
    branch: options.branch ?? 'main',
    cacheDir,
    redactor: new Redactor(),
    allowFileProtocol: options.allowFileProtocol ?? true,
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ValidationError);
  expect(existsSync(cacheDir)).toBe(false);
  return error as ValidationError;
}

describe('branch names', () => {
  it.each([
    '-h',
    '--upload-pack=touch /tmp/pwn',
    'a..b',
    'x.lock',
    '@{-1}',
    'main\nevil',
    'ma in',
    '/main',
    'main/',
    'a//b',
    '',
    // What `git check-ref-format --branch` refuses beyond the allow-list (checked in-process).
    'HEAD',
    '.hidden',
    'release/.x',
    'a.lock/b',
  ])('rejects %j before git runs', async (branch) => {
    const error = await expectRejectedBeforeGit({ branch });
    expect(error.where).toEqual({ key: 'repo.branch' });
  });

  it('accepts ordinary branch names such as release/2024-06', async () => {
    const origin = createBareRepo(SEED_FILES, { branch: 'release/2024-06' });
    const repo = await openRepo(origin);
    expect(repo.branch).toBe('release/2024-06');
  });
});

describe('remote URLs', () => {
  const marker = path.join(tempDir(), 'pwned');
  it.each([
    [`ext::sh -c touch% ${marker}`, /transport-helper/],
    [`EXT::sh -c touch ${marker}`, /transport-helper/],
    ['fd::3', /transport-helper/],
    ['foo::bar', /transport-helper/],
    ['https://user:pass@gitlab.example.com/group/config.git', /credentials/],
    ['https://oauth2@gitlab.example.com/group/config.git', /credentials/],
    ['https://gitlab.example.com/group/config.git?private_token=abc', /query string/],
    ['https://gitlab.example.com/group/config.git\nfoo', /control character/],
    ['http://gitlab.example.com/group/config.git', /protocol "http" is not allowed/],
    ['git://gitlab.example.com/group/config.git', /protocol "git" is not allowed/],
    ['ftp://example.com/x.git', /not allowed/],
    ['-uhttps://example.com/x.git', /must not start with "-"/],
    ['ssh://-oProxyCommand=touch%20x/x.git', /must not start with "-"/],
    ['-oProxyCommand=x:repo', /must not start with "-"/],
    ['git@-host:repo.git', /must not start with "-"/],
    ['relative/path.git', /absolute path/],
  ])('rejects %j', async (url, message) => {
    const error = await expectRejectedBeforeGit({ url });
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('pass@');
    expect(error.where).toEqual({ key: 'repo.url' });
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses local repositories unless allowed (sandbox mode)', async () => {
    for (const url of ['/srv/config.git', 'file:///srv/config.git']) {
      const error = await expectRejectedBeforeGit({ url, allowFileProtocol: false });
      expect(error.message).toMatch(/local repositories are allowed only in sandbox mode/);
    }
  });

  it('accepts https, ssh and scp-like remotes, and file:// in sandbox mode', () => {
    expect(parseRemoteUrl('https://gitlab.example.com/group/config.git', {})).toEqual({
      url: 'https://gitlab.example.com/group/config.git',
      protocol: 'https',
    });
    expect(parseRemoteUrl('ssh://git@gitlab.example.com:2222/group/config.git', {}).protocol).toBe(
      'ssh',
    );
    expect(parseRemoteUrl('git@gitlab.example.com:group/config.git', {}).protocol).toBe('ssh');
    expect(parseRemoteUrl('file:///srv/config.git', { allowFileProtocol: true }).protocol).toBe(
      'file',
    );
    expect(
      parseRemoteUrl('http://127.0.0.1:8080/x.git', { allowInsecureHttp: true }).protocol,
    ).toBe('http');
  });

  it('clones from a file:// URL in sandbox mode', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin, { url: `file://${origin.bare}` });
    expect(await repo.readFile('stackswap.yaml')).toBe('version: 1\n');
  });
});

describe('repo paths', () => {
  const bad = [
    '../x',
    'apps/../../etc/passwd',
    '/etc/passwd',
    '-x',
    'apps/-rf',
    ':(glob)*',
    ':(top)x',
    'a//b',
    './a',
    '.git/config',
    'a\\b',
    'a\nb',
    '',
  ];

  it.each(bad)('readFile/fileExists/log reject %j', async (file) => {
    const repo = await sharedRepo();
    await expect(repo.readFile(file)).rejects.toThrow(ValidationError);
    await expect(repo.fileExists(file)).rejects.toThrow(ValidationError);
    await expect(repo.log({ paths: [file] })).rejects.toThrow(ValidationError);
  });

  it('a transaction writing to an invalid path pushes nothing', async () => {
    const origin = createBareRepo(SEED_FILES);
    const repo = await openRepo(origin);
    for (const file of bad) {
      await expect(
        repo.transact(async () => ({
          kind: 'commit',
          files: { 'apps/ok.yaml': 'ok\n', [file]: 'x\n' },
          message: { subject: 'bad path', trailers: trailers('values-set', 'op-path') },
          result: undefined,
        })),
      ).rejects.toThrow(ValidationError);
    }
    expect(commitCount(origin)).toBe(1);
    expect(git(repo.workdir, 'rev-parse', '--is-bare-repository')).toBe('true');
  });

  it('refuses symlinks in the repo, wherever they point', async () => {
    const origin = createBareRepo(
      { 'apps/shop/values-green.yaml': 'global: {}\n', 'other/values.yaml': 'x: 1\n' },
      {
        symlinks: {
          'apps/shop/values-blue.yaml': '/etc/passwd',
          'apps/shop/sibling.yaml': '../../other/values.yaml',
          'apps/escape': '../../..',
        },
      },
    );
    const repo = await openRepo(origin);
    await expect(repo.readFile('apps/shop/values-blue.yaml')).rejects.toThrow(
      'refusing to follow symlink apps/shop/values-blue.yaml',
    );
    await expect(repo.readFile('apps/shop/sibling.yaml')).rejects.toThrow(
      /refusing to follow symlink/,
    );
    await expect(repo.readFile('apps/escape/etc/passwd')).rejects.toThrow(
      'refusing to follow symlink apps/escape',
    );
    await expect(repo.fileExists('apps/shop/values-blue.yaml')).rejects.toThrow(ValidationError);
    // Writing through a symlinked file or directory is refused too.
    for (const file of ['apps/shop/values-blue.yaml', 'apps/escape/tmp/x.yaml']) {
      await expect(
        repo.transact(async () => ({
          kind: 'commit',
          files: { [file]: 'pwned\n' },
          message: { subject: 'write through link', trailers: trailers('values-set', 'op-link') },
          result: undefined,
        })),
      ).rejects.toThrow(/refusing to/);
    }
    expect(commitCount(origin)).toBe(1);
    expect(await repo.readFile('apps/shop/values-green.yaml')).toBe('global: {}\n');
  });

  it('refuses files above the size limit', async () => {
    const repo = await sharedRepo();
    await expect(repo.readFile('stackswap.yaml', { maxBytes: 4 })).rejects.toThrow(/limit is 4/);
  });
});

let shared: Promise<ConfigRepo> | undefined;
function sharedRepo(): Promise<ConfigRepo> {
  shared ??= openRepo(createBareRepo(SEED_FILES));
  return shared;
}

/** Which forge and project the config repo is on (merge-request promotion, issue 12). */
import { describe, expect, it } from 'vitest';
import { forgeForConfigRepo, forgeOfRepoUrl } from '../../../src/forges/for-repo.ts';
import type { ForgeSettings } from '../../../src/forges/config.ts';
import { Redactor } from '../../../src/shared/redact.ts';

const settings = (
  gitlab = 'https://gitlab.com',
  github = 'https://api.github.com',
): ForgeSettings => ({
  gitlab: { url: gitlab, token: undefined },
  github: { apiUrl: github, token: undefined },
});

describe('forgeOfRepoUrl', () => {
  it.each([
    ['https://gitlab.com/group/sub/config.git', { forge: 'gitlab', project: 'group/sub/config' }],
    ['git@gitlab.com:group/config.git', { forge: 'gitlab', project: 'group/config' }],
    ['ssh://git@gitlab.com/group/config', { forge: 'gitlab', project: 'group/config' }],
    ['https://github.com/acme/config.git', { forge: 'github', project: 'acme/config' }],
    ['git@github.com:acme/config.git', { forge: 'github', project: 'acme/config' }],
  ])('%s', (url, expected) => {
    expect(forgeOfRepoUrl(url, settings())).toEqual(expected);
  });

  it('a self-managed GitLab under a path, and GitHub Enterprise by its API host', () => {
    expect(
      forgeOfRepoUrl(
        'https://git.example.com/gitlab/platform/config.git',
        settings('https://git.example.com/gitlab'),
      ),
    ).toEqual({ forge: 'gitlab', project: 'platform/config' });
    expect(
      forgeOfRepoUrl(
        'https://ghe.example.com/acme/config.git',
        settings(undefined, 'https://ghe.example.com/api/v3'),
      ),
    ).toEqual({ forge: 'github', project: 'acme/config' });
  });

  it('nothing for other hosts and local paths', () => {
    expect(forgeOfRepoUrl('https://bitbucket.org/a/b.git', settings())).toBeUndefined();
    expect(forgeOfRepoUrl('/srv/git/config.git', settings())).toBeUndefined();
    expect(forgeOfRepoUrl('file:///srv/git/config.git', settings())).toBeUndefined();
  });
});

describe('forgeForConfigRepo', () => {
  const redactor = () => new Redactor();

  it('is undefined when nothing names a forge, or an inferred one has no token', () => {
    expect(forgeForConfigRepo('/srv/config.git', {}, {}, redactor())).toBeUndefined();
    expect(
      forgeForConfigRepo('https://gitlab.com/g/config.git', {}, {}, redactor()),
    ).toBeUndefined();
  });

  it('builds the inferred forge when its token is set', () => {
    const target = forgeForConfigRepo(
      'https://gitlab.com/g/config.git',
      {},
      { STACKSWAP_GITLAB_TOKEN: 'glpat-x' },
      redactor(),
    );
    expect(target?.forge.name).toBe('gitlab');
    expect(target?.project).toBe('g/config');
  });

  it('STACKSWAP_FORGE without a token or a project is an error naming the variable', () => {
    expect(() =>
      forgeForConfigRepo('/srv/config.git', { forge: 'github', project: 'a/b' }, {}, redactor()),
    ).toThrow(/STACKSWAP_GITHUB_TOKEN is not set/);
    expect(() =>
      forgeForConfigRepo(
        '/srv/config.git',
        { forge: 'gitlab' },
        { STACKSWAP_GITLAB_TOKEN: 't' },
        redactor(),
      ),
    ).toThrow(/STACKSWAP_FORGE_PROJECT|does not name a gitlab project/);
  });

  it('registers the token with the redactor', () => {
    const r = redactor();
    forgeForConfigRepo(
      '/srv/c.git',
      { forge: 'github', project: 'a/b' },
      { STACKSWAP_GITHUB_TOKEN: 'ghp_secretvalue123' },
      r,
    );
    expect(r.redact('token ghp_secretvalue123')).not.toContain('ghp_secretvalue123');
  });
});

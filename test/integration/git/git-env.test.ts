/**
 * The git child environment is built from an allow-list: ambient CI/Argo secrets and editor,
 * pager or ssh overrides of the parent never reach git (reliability case 15), and simple-git's
 * guards stay on except the documented askpass opt-in.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  ASKPASS_HELPER,
  buildGitEnv,
  createGit,
  privateGitConfig,
} from '../../../src/gitops/git/git-factory.ts';
import {
  cleanupFixtures,
  createBareRepo,
  installHook,
  tempDir,
} from '../../helpers/git-fixtures.ts';
import { openRepo, SEED_FILES, trailers } from './support.ts';

afterAll(cleanupFixtures);

const hostile = {
  CI_JOB_TOKEN: 'ci-job-token-value',
  ARGOCD_AUTH_TOKEN: 'argocd-token-value',
  STACKSWAP_GIT_TOKEN: 'stackswap-env-token',
  PAGER: 'touch /tmp/pager-ran',
  EDITOR: 'touch /tmp/editor-ran',
  GIT_SSH_COMMAND: 'touch /tmp/ssh-ran',
  GIT_ASKPASS: '/tmp/evil-askpass',
  GIT_EXEC_PATH: '/tmp/evil',
  GIT_TEMPLATE_DIR: '/tmp/evil-templates',
};
const saved: Record<string, string | undefined> = {};
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('git child environment', () => {
  it('is simple-git >= 3.36.0 (the CVE-2026-6951 fix)', () => {
    const main = createRequire(import.meta.url).resolve('simple-git');
    const packageJson = path.join(
      main.slice(0, main.lastIndexOf('/node_modules/simple-git/')),
      'node_modules/simple-git/package.json',
    );
    const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
    const [major, minor] = version.split('.').map(Number) as [number, number];
    expect(major > 3 || (major === 3 && minor >= 36)).toBe(true);
  });

  it('carries only allow-listed variables, the token only when configured', () => {
    const base = {
      home: '/cache/home',
      ceiling: '/cache/git',
      protocols: ['https', 'ssh'],
      author: { name: 'stackswap', email: 'stackswap@localhost' },
      parentEnv: { PATH: '/usr/bin', HTTPS_PROXY: 'http://proxy:3128', ...hostile },
    };
    const env = buildGitEnv(base);
    expect(Object.keys(env).sort()).toEqual(
      [
        'PATH',
        'HOME',
        'LANG',
        'LC_ALL',
        'GIT_TERMINAL_PROMPT',
        'GIT_CONFIG_NOSYSTEM',
        'GIT_ALLOW_PROTOCOL',
        'GIT_CEILING_DIRECTORIES',
        'GIT_LITERAL_PATHSPECS',
        'GIT_NO_REPLACE_OBJECTS',
        'GIT_HTTP_LOW_SPEED_LIMIT',
        'GIT_HTTP_LOW_SPEED_TIME',
        'GIT_AUTHOR_NAME',
        'GIT_AUTHOR_EMAIL',
        'GIT_COMMITTER_NAME',
        'GIT_COMMITTER_EMAIL',
        'HTTPS_PROXY',
      ].sort(),
    );
    expect(env).toMatchObject({
      HOME: '/cache/home',
      LC_ALL: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ALLOW_PROTOCOL: 'https:ssh',
    });

    const withToken = buildGitEnv({
      ...base,
      credentials: { username: 'oauth2', password: 's3cr3t-token' },
    });
    expect(withToken.GIT_ASKPASS).toBe(ASKPASS_HELPER);
    expect(ASKPASS_HELPER).toBe(path.resolve(import.meta.dirname, '../../../bin/git-askpass'));
  });

  it('passes simple-git guards with the allow-listed env, and they still block what they should', async () => {
    const dir = tempDir();
    const env = buildGitEnv({
      home: dir,
      ceiling: dir,
      protocols: ['https'],
      author: { name: 'a', email: 'a@b' },
      credentials: { username: 'u', password: 'p' },
    });
    const git = createGit({ baseDir: dir, env, timeoutMs: 5000 });
    await expect(git.raw(['--version'])).resolves.toMatch(/^git version/);
    // Only the askpass opt-in is on: anything else simple-git guards is still refused.
    await expect(git.raw(['-c', 'protocol.ext.allow=always', '--version'])).rejects.toThrow(
      /allowUnsafe/,
    );
    await expect(git.raw(['-c', 'core.sshCommand=touch /tmp/x', '--version'])).rejects.toThrow(
      /allowUnsafe/,
    );
    await expect(
      createGit({ baseDir: dir, env: { ...env, GIT_SSH_COMMAND: 'x' }, timeoutMs: 5000 }).raw([
        '--version',
      ]),
    ).rejects.toThrow(/allowUnsafeSshCommand/);
    await expect(
      createGit({ baseDir: dir, env: { ...env, GIT_ASKPASS: '/tmp/other' }, timeoutMs: 5000 }).raw([
        '--version',
      ]),
    ).rejects.toThrow(/allowUnsafeAskPass/);
  });

  it('the private .gitconfig refuses credentials in URLs and never signs', () => {
    const text = privateGitConfig({ ssh: true });
    expect(text).toContain('credentialsInUrl = die');
    expect(text).toContain('gpgSign = false');
    expect(text).toContain('sshCommand = ssh -o BatchMode=yes');
    expect(privateGitConfig({ ssh: false })).not.toContain('sshCommand');
  });

  it('git children really run without the parent’s secrets and overrides', async () => {
    for (const [k, v] of Object.entries(hostile)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    const origin = createBareRepo(SEED_FILES);
    // With a local remote, the server side (and its hooks) runs in our git child's environment.
    const dump = path.join(origin.root, 'hook-env');
    installHook(origin, 'pre-receive', `#!/bin/sh\nenv > '${dump}'\n`);
    const repo = await openRepo(origin);
    const result = await repo.transact(async () => ({
      kind: 'commit',
      files: { 'x.yaml': 'x: 1\n' },
      message: { subject: 'x', trailers: trailers('values-set', 'op-env') },
      result: undefined,
    }));
    expect(result.committed).toBe(true);
    const env = readFileSync(dump, 'utf8');
    for (const [name, value] of Object.entries(hostile)) {
      expect(env).not.toContain(value);
      // git sets GIT_EXEC_PATH for its own children (to its real exec path).
      if (name !== 'GIT_EXEC_PATH') expect(env).not.toMatch(new RegExp(`^${name}=`, 'm'));
    }
    expect(env).toMatch(/^LC_ALL=C$/m);
    expect(env).toMatch(/^GIT_TERMINAL_PROMPT=0$/m);
    expect(env).toMatch(/^GIT_ALLOW_PROTOCOL=https:ssh:file$/m);
    expect(env).toContain(`HOME=${path.resolve(repo.workdir, '..', 'home')}`);
  });
});

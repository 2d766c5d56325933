/**
 * The git child environment is built from an allow-list: ambient CI/Argo secrets and editor,
 * pager or ssh overrides of the parent never reach git (reliability case 15); the runner reads
 * git's output whole and leaves no timer behind.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  ASKPASS_HELPER,
  buildGitEnv,
  privateGitConfig,
} from '../../../src/gitops/git/git-factory.ts';
import { GitProcessError, runGit } from '../../../src/gitops/git/git-process.ts';
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

    // An http(s) remote: the header for that URL only, redirects not followed; no askpass.
    const url = 'https://git.example.com/platform/config.git';
    const preemptive = buildGitEnv({
      ...base,
      credentials: { username: 'oauth2', password: 's3cr3t-token' },
      preemptiveAuthUrl: url,
    });
    expect(preemptive).toMatchObject({
      GIT_CONFIG_COUNT: '2',
      GIT_CONFIG_KEY_0: `http.${url}.extraHeader`,
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from('oauth2:s3cr3t-token').toString('base64')}`,
      GIT_CONFIG_KEY_1: `http.${url}.followRedirects`,
      GIT_CONFIG_VALUE_1: 'false',
    });
    expect(Object.keys(preemptive)).not.toContain('GIT_ASKPASS');
    expect(Object.values(preemptive).join('\n')).not.toContain('s3cr3t-token');
    // Without credentials: no env-borne config at all.
    expect(Object.keys(buildGitEnv({ ...base, preemptiveAuthUrl: url }))).not.toContain(
      'GIT_CONFIG_COUNT',
    );
  });

  it('runs git with exactly the built env, reads all its output, and fails on a non-zero exit', async () => {
    const dir = tempDir();
    const env = buildGitEnv({
      home: dir,
      ceiling: dir,
      protocols: ['https'],
      author: { name: 'a', email: 'a@b' },
      parentEnv: { PATH: process.env.PATH, ...hostile },
    });
    await expect(runGit({ cwd: dir, env, args: ['--version'], timeoutMs: 5000 })).resolves.toEqual(
      expect.any(Buffer),
    );
    // `git var -l` prints the identity git sees: the configured one, not the parent's.
    const vars = (await runGit({ cwd: dir, env, args: ['var', '-l'], timeoutMs: 5000 })).toString();
    expect(vars).toContain('GIT_AUTHOR_IDENT=a <a@b>');
    // Output far beyond a pipe buffer arrives whole (stdin input too).
    const big = 'x'.repeat(3 * 1024 * 1024);
    const out = await runGit({
      cwd: dir,
      env: { ...env, GIT_DIR: path.join(dir, 'r.git') },
      args: ['hash-object', '--stdin'],
      input: big,
      timeoutMs: 5000,
    });
    expect(out.toString().trim()).toMatch(/^[0-9a-f]{40}$/);
    const failure = await runGit({
      cwd: dir,
      env,
      args: ['no-such-command'],
      timeoutMs: 5000,
    }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(GitProcessError);
    expect((failure as GitProcessError).message).toMatch(/exited with code 1/);
  });

  it('kills a git command that stays silent past the timeout, and leaves no timer behind', async () => {
    const dir = tempDir();
    const env = buildGitEnv({
      home: dir,
      ceiling: dir,
      protocols: ['https'],
      author: { name: 'a', email: 'a@b' },
    });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const hung = await runGit({
      cwd: dir,
      env,
      args: ['-c', 'alias.hang=!sleep 30', 'hang'],
      timeoutMs: 300,
    }).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(GitProcessError);
    expect((hung as GitProcessError).timedOut).toBe(true);
    expect((hung as GitProcessError).message).toMatch(/block timeout reached/);
    await runGit({ cwd: dir, env, args: ['--version'], timeoutMs: 60_000 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers()).toBeLessThanOrEqual(before);
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

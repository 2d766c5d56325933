/** seedSandboxRepo: what goes into the sandbox's bare repo, who authors it, what it refuses. */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, StackswapError } from '../../../src/shared/errors.ts';
import { git } from '../../../src/sandbox/argocd/git.ts';
import { seedSandboxRepo } from '../../../src/sandbox/seed.ts';

let dir: string;
let source: string;

async function write(files: Record<string, string>): Promise<void> {
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(source, file)), { recursive: true });
    await writeFile(path.join(source, file), text);
  }
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stackswap-seed-test-'));
  source = path.join(dir, 'source');
  await write({
    'stackswap.yaml': 'version: 1\n',
    'charts/web/Chart.yaml': 'name: web\n',
    'charts/web/charts/lib-0.1.0.tgz': 'built',
    'apps/my-app/Chart.yaml': 'name: my-app\n',
    'apps/my-app/Chart.lock': 'digest: x\n',
    'apps/my-app/charts/web-0.1.0.tgz': 'built',
    'apps/my-app/node_modules/junk.yaml': 'junk',
    'argo/root.yaml': 'kind: Application\n',
    'argo/apps/a.yaml': 'kind: Application\n',
    'releases/my-app.yaml': 'stack: my-app\n',
    'README.md': 'not config',
    'src/index.ts': 'not config',
    'node_modules/x/index.js': 'not config',
  });
});

afterEach(() => rm(dir, { recursive: true, force: true }));

describe('seedSandboxRepo', () => {
  it('commits only the config layout, without built subcharts, as stackswap-sandbox', async () => {
    const bare = path.join(dir, 'config.git');
    const result = await seedSandboxRepo({ sourceDir: source, bareRepoPath: bare });
    const tracked = (await git(['--git-dir', bare, 'ls-tree', '-r', '--name-only', 'main'])).split(
      '\n',
    );
    const expected = [
      'apps/my-app/Chart.lock',
      'apps/my-app/Chart.yaml',
      'argo/apps/a.yaml',
      'argo/root.yaml',
      'charts/web/Chart.yaml',
      'releases/my-app.yaml',
      'stackswap.yaml',
    ];
    expect(tracked).toEqual(expected);
    expect(result.files).toEqual(expected);
    expect(result.commit).toBe(await git(['--git-dir', bare, 'rev-parse', 'main']));
    expect(await git(['--git-dir', bare, 'rev-list', '--count', 'main'])).toBe('1');
    // The test environment sets GIT_AUTHOR_NAME=test; the seed must not pick it up.
    expect(await git(['--git-dir', bare, 'log', '-1', '--format=%an <%ae> / %cn', 'main'])).toBe(
      'stackswap-sandbox <stackswap-sandbox@example.invalid> / stackswap-sandbox',
    );
    expect(await git(['--git-dir', bare, 'symbolic-ref', 'HEAD'])).toBe('refs/heads/main');
    expect(await git(['--git-dir', bare, 'rev-parse', '--is-bare-repository'])).toBe('true');
  });

  it('uses the branch it is given', async () => {
    const bare = path.join(dir, 'trunk.git');
    const result = await seedSandboxRepo({
      sourceDir: source,
      bareRepoPath: bare,
      branch: 'trunk',
    });
    expect(result.branch).toBe('trunk');
    expect(await git(['--git-dir', bare, 'symbolic-ref', 'HEAD'])).toBe('refs/heads/trunk');
  });

  it('refuses a target that already has content', async () => {
    const bare = path.join(dir, 'taken');
    await mkdir(bare);
    await writeFile(path.join(bare, 'file'), 'x');
    const attempt = seedSandboxRepo({ sourceDir: source, bareRepoPath: bare });
    await expect(attempt).rejects.toThrow(`${bare} already exists and is not empty`);
    await expect(attempt).rejects.toSatisfy(
      (e) => e instanceof StackswapError && e.exitCode === ExitCode.usage,
    );
  });

  it('refuses symlinks in the config layout', async () => {
    await symlink('/etc/passwd', path.join(source, 'apps', 'my-app', 'values-blue.yaml'));
    await expect(
      seedSandboxRepo({ sourceDir: source, bareRepoPath: path.join(dir, 'x.git') }),
    ).rejects.toThrow(/refusing to follow symlink apps\/my-app\/values-blue\.yaml/);
  });

  it('refuses a folder without the layout', async () => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    await expect(
      seedSandboxRepo({ sourceDir: empty, bareRepoPath: path.join(dir, 'y.git') }),
    ).rejects.toThrow(/nothing to seed/);
  });
});

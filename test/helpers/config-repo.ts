/**
 * Builds small config repos for operation tests: N stacks sharing one ingress values file
 * (`global.<stack>Live`), seeded into a temporary bare repo with plain git.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redactor } from '../../src/shared/redact.ts';
import { ConfigRepo } from '../../src/gitops/git/repo.ts';

export interface StackFixture {
  name: string;
  components?: string[];
  liveColour?: 'blue' | 'green';
  blueTag?: string;
  greenTag?: string;
  planTag?: string;
}

export function configRepoFiles(stacks: StackFixture[]): Record<string, string> {
  const files: Record<string, string> = {};
  const stackEntries = stacks
    .map(
      (s) =>
        `  ${s.name}:\n    components: [${(s.components ?? ['web', 'api']).join(', ')}]\n    live:\n      key: global.{stack}Live\n`,
    )
    .join('');
  files['stackswap.yaml'] = `# test config\nversion: 1\nstacks:\n${stackEntries}`;
  files['apps/ingress/values.yaml'] =
    `# which colour serves traffic, per stack\nglobal:\n${stacks.map((s) => `  ${s.name}Live: ${s.liveColour ?? 'blue'}   # edited by stackswap\n`).join('')}`;
  for (const s of stacks) {
    const components = s.components ?? ['web', 'api'];
    for (const colour of ['blue', 'green'] as const) {
      const live = (s.liveColour ?? 'blue') === colour;
      const tag = colour === 'blue' ? (s.blueTag ?? '1.0.0') : (s.greenTag ?? '1.0.0');
      files[`apps/${s.name}/values-${colour}.yaml`] =
        `# ${colour} copy of ${s.name}\nglobal:\n  colour: ${colour}\n  replicas: ${live ? 2 : 0} # set by stackswap\n` +
        components.map((c) => `${c}:\n  image:\n    tag: "${tag}"  # pinned per colour\n`).join('');
    }
    files[`releases/${s.name}.yaml`] =
      `stack: ${s.name}\ncomponents:\n${components.map((c) => `  ${c}: "${s.planTag ?? '1.1.0'}"\n`).join('')}`;
  }
  return files;
}

const gitEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'seed',
  GIT_AUTHOR_EMAIL: 'seed@example.invalid',
  GIT_COMMITTER_NAME: 'seed',
  GIT_COMMITTER_EMAIL: 'seed@example.invalid',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();
}

/** A bare repo (branch main) whose first commit holds `files`; returns its path. */
export function seedBareRepo(files: Record<string, string>): { bare: string; root: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'stackswap-repo-'));
  const bare = path.join(root, 'origin.git');
  const work = path.join(root, 'seed');
  git(root, 'init', '-q', '--bare', '-b', 'main', bare);
  git(root, 'init', '-q', '-b', 'main', work);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
    writeFileSync(path.join(work, file), text);
  }
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'seed');
  git(work, 'push', '-q', bare, 'main');
  return { bare, root };
}

/** Reads a file at the tip of the bare repo's main branch. */
export function readAtHead(bare: string, file: string, ref = 'main'): string {
  return git(bare, 'show', `${ref}:${file}`);
}

export function commitCount(bare: string, ref = 'main'): number {
  return Number(git(bare, 'rev-list', '--count', ref));
}

/** A ConfigRepo on the local bare repo `bare` (branch main), with a fresh cache of its own. */
export function openLocalRepo(bare: string): Promise<ConfigRepo> {
  return ConfigRepo.open({
    url: bare,
    branch: 'main',
    cacheDir: mkdtempSync(path.join(os.tmpdir(), 'stackswap-cache-')),
    redactor: new Redactor(),
    allowFileProtocol: true,
    timeoutMs: 20_000,
  });
}

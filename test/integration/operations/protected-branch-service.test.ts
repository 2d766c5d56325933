/**
 * Issue 12 item 5 through `stackswap serve`: the service builds its operation context with the
 * same forge lookup as the CLI (STACKSWAP_FORGE, STACKSWAP_FORGE_PROJECT, STACKSWAP_GITLAB_URL
 * and _TOKEN), so a deploy requested over the API on a stack with
 * `promotion.viaMergeRequest: fallback` lands through an MR on the fake GitLab when the
 * pre-receive hook refuses the push, and the operation's result is the merge commit that
 * Argo CD (the sandbox stand-in) is synced at.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.ts';
import { createService, type Service } from '../../../src/server/service.ts';
import { git } from '../../helpers/config-repo.ts';
import { expectLiveAt } from '../../helpers/sandbox-state.ts';
import { FakeGitlab } from '../../helpers/fake-forge/index.ts';
import {
  bearer,
  LogCapture,
  tempDir,
  sandboxServiceEnv,
  waitForOperation,
} from '../server/helpers.ts';

const TOKEN = 'service-forge-token';

let sandbox: Sandbox;
let gitlab: FakeGitlab;
let service: Service;

beforeAll(async () => {
  sandbox = await startSandbox({ argocd: { progressingMs: 100, pollIntervalMs: 0 } });
  // my-app promotes with promotion.viaMergeRequest: fallback; then main becomes protected.
  const work = mkdtempSync(path.join(os.tmpdir(), 'stackswap-promotion-'));
  git(work, 'clone', '-q', sandbox.repoPath, 'w');
  const file = path.join(work, 'w', 'stackswap.yaml');
  const doc = parseDocument(readFileSync(file, 'utf8'));
  doc.setIn(['stacks', 'my-app', 'promotion', 'viaMergeRequest'], 'fallback');
  writeFileSync(file, doc.toString());
  git(path.join(work, 'w'), 'commit', '-q', '-am', 'test: promotion fallback');
  git(path.join(work, 'w'), 'push', '-q', 'origin', 'main');
  const hook = path.join(sandbox.repoPath, 'hooks', 'pre-receive');
  writeFileSync(
    hook,
    '#!/bin/sh\nwhile read o n ref; do [ "$ref" = refs/heads/main ] && { echo "GH006: Protected branch update failed for refs/heads/main." >&2; exit 1; }; done; exit 0\n',
  );
  chmodSync(hook, 0o755);

  gitlab = await new FakeGitlab({
    tokens: [TOKEN],
    gitDir: sandbox.repoPath,
    project: 'platform/config',
  }).start();
  service = await createService({
    env: sandboxServiceEnv(sandbox.env, {
      STACKSWAP_FORGE: 'gitlab',
      STACKSWAP_FORGE_PROJECT: 'platform/config',
      STACKSWAP_GITLAB_URL: gitlab.url,
      STACKSWAP_GITLAB_TOKEN: TOKEN,
    }),
    dataDir: tempDir('data'),
    logDestination: new LogCapture(),
  });
});
afterAll(async () => {
  await service?.shutdown({ graceMs: 5_000, settleMs: 1_000 });
  await gitlab?.stop();
  await sandbox?.close();
});

describe('the service on a protected branch', () => {
  it('a deploy over the API lands through an MR and is synced at the merge commit', async () => {
    const before = git(sandbox.repoPath, 'rev-parse', 'main');
    const res = await service.app.inject({
      method: 'POST',
      url: '/v1/stacks/my-app/deploy',
      headers: { 'content-type': 'application/json', ...bearer('deploy') },
      payload: { versions: { 'my-frontend': '3.0.0', 'my-backend': '3.0.0' }, reason: 'via MR' },
    });
    expect(res.statusCode, res.body).toBe(202);
    const { operation } = res.json() as { operation: { id: string } };
    const op = await waitForOperation(service.app, operation.id, 60_000);
    expect(op.state, JSON.stringify(op)).toBe('succeeded');

    const merged = git(sandbox.repoPath, 'rev-parse', 'main');
    const mr = gitlab.mr(1);
    expect(mr.state).toBe('merged');
    expect(mr.sourceBranch).toBe('stackswap/my-app/deploy');
    // The operation id of the service is in the proposed commit and in the MR text.
    const message = git(sandbox.repoPath, 'log', '-1', '--format=%B', mr.sha);
    expect(message).toContain(`Stackswap-Operation-Id: ${operation.id}`);
    expect(mr.description).toContain(`Stackswap-Operation-Id: ${operation.id}`);
    expect(git(sandbox.repoPath, 'rev-list', '--parents', '-n', '1', merged).split(' ')).toEqual([
      merged,
      before,
      mr.sha,
    ]);
    const result = (op as { result: { sha: string; details: Record<string, unknown> } }).result;
    expect(result.sha).toBe(merged);
    expect(result.details.mergeRequest).toMatchObject({ number: 1, mergedSha: merged });
    expectLiveAt(sandbox, 'my-app-green', merged);
  });
});

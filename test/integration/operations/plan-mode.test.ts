/**
 * Operations in plan mode (`ctx.plan`, what dry runs use): the real operation code runs up to
 * its commit, the plan reaches the sink, and nothing is committed, pushed or synced, even with
 * a deployer present (swap still asks it, read-only, whether the target is live).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { PreconditionError } from '../../../src/shared/errors.ts';
import type { AppStatus, Deployer, SyncRequest } from '../../../src/shared/deployer.ts';
import type { OperationContext } from '../../../src/core/operations/context.ts';
import { deploy } from '../../../src/core/operations/deploy.ts';
import { revert } from '../../../src/core/operations/revert.ts';
import { swap } from '../../../src/core/operations/swap.ts';
import { Progress } from '../../../src/shared/progress.ts';
import { ConfigRepo, type PlanOutcome } from '../../../src/gitops/git/repo.ts';
import {
  commitCount,
  configRepoFiles,
  openLocalRepo,
  git,
  readAtHead,
  seedBareRepo,
} from '../../helpers/config-repo.ts';

let bare: string;
let repo: ConfigRepo;

beforeEach(async () => {
  ({ bare } = seedBareRepo(configRepoFiles([{ name: 'shop' }])));
  repo = await openLocalRepo(bare);
});

/** A deployer that records every call and reports every app live at the repo's head. */
function recordingDeployer() {
  const syncs: SyncRequest[] = [];
  const reads: string[] = [];
  const live = (app: string): AppStatus => ({
    app,
    syncStatus: 'Synced',
    revision: repo.headSha,
    health: 'Healthy',
  });
  const deployer: Deployer = {
    async syncAndWait(request) {
      syncs.push(request);
      return live(request.app);
    },
    async appStatus(app) {
      reads.push(app);
      return live(app);
    },
  };
  return { deployer, syncs, reads };
}

function context(deployer: Deployer | undefined, sink?: (p: PlanOutcome<unknown>) => void) {
  const ctx: OperationContext = {
    repo,
    actor: { requestedBy: 'alice', operationId: 'op-plan' },
    progress: new Progress(),
    deployer,
    wait: false,
    timeoutMs: 10_000,
    now: () => Date.now(),
    ...(sink ? { plan: sink } : {}),
  };
  return ctx;
}

/** Remote tip, commit count, the clone's head and its work tree. */
const snapshot = () => ({
  tip: git(bare, 'rev-parse', 'main'),
  commits: commitCount(bare),
  head: repo.headSha,
  checkedOut: git(repo.workdir, 'rev-parse', 'HEAD'),
  // The cache is bare: its refs and the objects an attempt would write (loose) must not move.
  refs: git(repo.workdir, 'for-each-ref', '--format=%(refname) %(objectname)'),
  looseObjects: git(repo.workdir, 'count-objects').split(' ')[0],
});

describe('plan mode', () => {
  it('deploy: the sink gets the edited files; nothing is committed, pushed or synced', async () => {
    const before = snapshot();
    const { deployer, syncs } = recordingDeployer();
    const planned: PlanOutcome<unknown>[] = [];

    const result = await deploy(
      context(deployer, (p) => planned.push(p)),
      { stack: 'shop', plan: { source: 'repo' } },
    );

    expect(snapshot()).toEqual(before);
    expect(syncs).toEqual([]);
    expect(result).toMatchObject({ committed: false, sha: before.tip, attempts: 1, apps: [] });
    expect(result.steps).toMatchObject([{ step: 'commit', ok: true }]);
    expect(planned).toHaveLength(1);
    const [{ plan, baseSha }] = planned as [PlanOutcome<unknown>];
    expect(baseSha).toBe(before.tip);
    if (plan.kind !== 'commit') throw new Error(`expected a commit plan, got ${plan.kind}`);
    expect(Object.keys(plan.files)).toEqual(['apps/shop/values-green.yaml']);
    const green = plan.files['apps/shop/values-green.yaml']!;
    expect(green).toContain('replicas: 2 # set by stackswap');
    expect(green).toContain('tag: "1.1.0"  # pinned per colour');
    expect(plan.message.subject).toBe('deploy shop to green (preview): web=1.1.0,api=1.1.0');
    expect(plan.message.trailers).toMatchObject({
      'Stackswap-Operation': 'deploy',
      'Stackswap-Requested-By': 'alice',
    });

    // The same operation for real commits exactly what was planned.
    const real = await deploy(context(undefined), { stack: 'shop', plan: { source: 'repo' } });
    expect(real.committed).toBe(true);
    expect(readAtHead(bare, 'apps/shop/values-green.yaml')).toBe(green.trimEnd());
  });

  it('swap: checks the target with the deployer, plans the ingress edit, syncs nothing', async () => {
    await deploy(context(undefined), { stack: 'shop', plan: { source: 'repo' } });
    const before = snapshot();
    const { deployer, syncs, reads } = recordingDeployer();
    let planned: PlanOutcome<unknown> | undefined;

    const result = await swap(
      context(deployer, (p) => (planned = p)),
      { stack: 'shop' },
    );

    expect(snapshot()).toEqual(before);
    expect(syncs).toEqual([]);
    expect(reads).toEqual(['shop-green']);
    expect(result).toMatchObject({ committed: false, sha: before.tip, live: 'green' });
    expect(planned?.baseSha).toBe(before.tip);
    expect(planned?.plan).toMatchObject({
      kind: 'commit',
      files: { 'apps/ingress/values.yaml': expect.stringContaining('shopLive: green') },
    });
  });

  it('a noop reaches the sink as noop; a refused precondition never reaches it', async () => {
    const before = snapshot();
    const planned: PlanOutcome<unknown>[] = [];
    const sink = (p: PlanOutcome<unknown>) => planned.push(p);

    const noop = await swap(context(undefined, sink), { stack: 'shop', to: 'blue' });
    expect(noop.committed).toBe(false);
    expect(planned).toMatchObject([{ plan: { kind: 'noop' }, baseSha: before.tip }]);

    await expect(revert(context(undefined, sink), { stack: 'shop' })).rejects.toThrow(
      PreconditionError,
    );
    expect(planned).toHaveLength(1);
    expect(snapshot()).toEqual(before);
  });
});

/**
 * Values notices reach the user through the operations: deploy and swap on a real config repo
 * (local bare repo, real git) whose values files use anchors and hold a duplicate key. Each
 * notice becomes one progress info event of the commit step (the CLI prints it as a step line,
 * the service relays it as an SSE event), once per operation even when the edit repeats. The
 * dry-run plan carries the edited text, from which changedValuePaths names the alias paths.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { OperationContext } from '../../../src/core/operations/context.ts';
import { deploy } from '../../../src/core/operations/deploy.ts';
import { swap } from '../../../src/core/operations/swap.ts';
import { Progress, type ProgressEvent } from '../../../src/shared/progress.ts';
import type { ConfigRepo, PlanOutcome } from '../../../src/gitops/git/repo.ts';
import { changedValuePaths } from '../../../src/gitops/values-diff.ts';
import {
  configRepoFiles,
  openLocalRepo,
  readAtHead,
  seedBareRepo,
} from '../../helpers/config-repo.ts';

let bare: string;
let repo: ConfigRepo;
const GREEN = 'apps/shop/values-green.yaml';
const INGRESS = 'apps/ingress/values.yaml';

beforeEach(async () => {
  const files = configRepoFiles([{ name: 'shop' }]);
  // The preview colour's replicas are anchored and reused by an HPA block; a label map is
  // written twice (Helm reads the second).
  files[GREEN] = files[GREEN]!.replace('replicas: 0', 'replicas: &replicas 0').concat(
    'hpa:\n  minReplicas: *replicas\nlabels: {team: a}\nlabels: {team: b}\n',
  );
  files[INGRESS] = files[INGRESS]!.replace('shopLive: blue', 'shopLive: &live blue').concat(
    'mirror:\n  live: *live\n',
  );
  ({ bare } = seedBareRepo(files));
  repo = await openLocalRepo(bare);
});

function context(events: ProgressEvent[], sink?: (p: PlanOutcome<unknown>) => void) {
  const ctx: OperationContext = {
    repo,
    actor: { requestedBy: 'alice', operationId: 'op-notices' },
    progress: new Progress((e) => events.push(e)),
    deployer: undefined,
    wait: false,
    timeoutMs: 10_000,
    now: () => Date.now(),
    ...(sink ? { plan: sink } : {}),
  };
  return ctx;
}

const infos = (events: ProgressEvent[]) =>
  events.flatMap((e) => (e.type === 'info' ? [{ step: e.step, message: e.message }] : []));

describe('values notices in operations', () => {
  it('deploy names the alias that follows an anchored key and warns about the duplicate', async () => {
    const events: ProgressEvent[] = [];
    const result = await deploy(context(events), { stack: 'shop', plan: { source: 'repo' } });

    expect(result.committed).toBe(true);
    const text = readAtHead(bare, GREEN);
    expect(text).toContain('replicas: &replicas 2 # set by stackswap');
    expect(text).toContain('minReplicas: *replicas');
    const lines = text.split('\n');
    const dupLine = lines.lastIndexOf('labels: {team: b}') + 1;
    expect(infos(events)).toEqual(
      expect.arrayContaining([
        {
          step: 'commit',
          message: `${GREEN}: editing global.replicas (anchor &replicas) also changes hpa.minReplicas`,
        },
        {
          step: 'commit',
          message: `${GREEN}:${dupLine}: warning: duplicate key labels (also on line ${dupLine - 1}); Helm reads the last one, line ${dupLine}`,
        },
      ]),
    );
    // Three edits of the same file (replicas, two tags), but each notice is said once.
    const messages = infos(events).map((i) => i.message);
    expect(new Set(messages).size).toBe(messages.length);
  });

  it('swap names the alias of the live key; the dry-run plan diff names it too', async () => {
    await deploy(context([]), { stack: 'shop', plan: { source: 'repo' } });
    const events: ProgressEvent[] = [];
    let planned: PlanOutcome<unknown> | undefined;
    await swap(
      context(events, (p) => (planned = p)),
      { stack: 'shop' },
    );

    expect(infos(events)).toContainEqual({
      step: 'commit',
      message: `${INGRESS}: editing global.shopLive (anchor &live) also changes mirror.live`,
    });
    if (planned?.plan.kind !== 'commit') throw new Error('expected a commit plan');
    const after = planned.plan.files[INGRESS]!;
    expect(changedValuePaths(readAtHead(bare, INGRESS), after)).toEqual([
      { path: ['global', 'shopLive'], before: 'blue', after: 'green', viaAlias: false },
      { path: ['mirror', 'live'], before: 'blue', after: 'green', viaAlias: true },
    ]);
  });
});

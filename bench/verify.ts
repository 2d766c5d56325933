/**
 * How fast does a verification gate catch a bad release under real traffic, and how fast is
 * traffic back on the good colour? On the sandbox with a real Prometheus (1 s scrape) and the
 * example's analysis (interval 2 s), steady load through the gateway, a release that is Healthy
 * in Argo CD but fails 30 % of the frontend's requests, swapped with steps 10,50,100:
 *
 * - detection: the first failed user response to the gate's decision (its step ends failed);
 * - rollback: the decision to the stand-in applying the VirtualService with weight 0 again
 *   (100 % on the good colour).
 *
 * Targets: detection <= 2 analysis intervals (4 s), rollback <= 1 s + one ingress sync.
 *
 *   npx tsx bench/verify.ts [--rounds 3] [--error-share 0.3]
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Session } from '../src/cli/session.ts';
import { deploy } from '../src/core/operations/deploy.ts';
import { swap } from '../src/core/operations/swap.ts';
import { Progress } from '../src/shared/progress.ts';
import { Redactor } from '../src/shared/redact.ts';
import { startSandbox, type Sandbox } from '../src/sandbox/sandbox.ts';
import { median, printTable } from './stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'error-share': { type: 'string', default: '0.3' },
  },
});
const rounds = Number(values.rounds);
const errorShare = Number(values['error-share']);

class Sink extends Writable {
  override _write(_c: Buffer, _e: string, done: () => void) {
    done();
  }
}

function previewWeight(sandbox: Sandbox, colour: string): number | undefined {
  const vs = sandbox.argocd.appliedObjects('istio-system').find((o) => o.kind === 'VirtualService');
  const spec = vs?.spec as
    | { http: { name: string; route: { destination: { host: string }; weight: number }[] }[] }
    | undefined;
  const route = spec?.http.find((r) => r.name === 'default');
  return route?.route.find((d) => d.destination.host.includes(`-${colour}.`))?.weight;
}

async function main(): Promise<void> {
  const sandbox = await startSandbox({
    verification: true,
    prometheus: true,
    traffic: {
      backends: {
        faults: [
          { version: /flaky/, component: 'my-frontend', errorShare, paths: /^\/(?!healthz)/ },
        ],
      },
    },
    argocd: { progressingMs: 150, pollIntervalMs: 0, initialSync: 'all' },
  });
  await sandbox.argocd.idle();
  let firstBadAt: number | undefined;
  let stop = false;
  const agent = new http.Agent({ keepAlive: true });
  const load = Promise.all(
    Array.from({ length: 8 }, async () => {
      while (!stop) {
        await new Promise<void>((resolve) => {
          const req = http.get(
            sandbox.traffic!.url,
            { headers: { host: 'my-app.example.com' }, agent },
            (res) => {
              res.resume();
              res.on('end', () => {
                if ((res.statusCode ?? 0) >= 500) firstBadAt ??= Date.now();
                resolve();
              });
            },
          );
          req.on('error', () => resolve());
        });
      }
    }),
  );
  const redactor = new Redactor();
  const io = {
    stdout: new Sink(),
    stderr: new Sink(),
    isTTY: false,
    gitlab: false,
    env: { ...process.env, ...sandbox.env },
  };
  const session = new Session(
    {
      output: 'json',
      sync: true,
      wait: true,
      timeout: 120,
      degradedGrace: 30,
      crashGrace: 30,
      retryWait: true,
    },
    io,
    redactor,
  );
  const rows: string[][] = [['round', 'detection', 'rollback', 'verdict']];
  const detections: number[] = [];
  const rollbacks: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const version = `1.${round + 3}.0-flaky`;
      await deploy(await session.operationContext(new Progress()), {
        stack: 'my-app',
        plan: { source: 'repo' },
        overrides: { 'my-frontend': version, 'my-backend': version },
      });
      await sleep(1500);
      firstBadAt = undefined;
      let decidedAt: number | undefined;
      let reason = '';
      let backAt: number | undefined;
      const unsubscribe = sandbox.argocd.on('applied', () => {
        if (
          decidedAt !== undefined &&
          backAt === undefined &&
          previewWeight(sandbox, 'green') === 0
        ) {
          backAt = Date.now();
        }
      });
      const progress = new Progress((event) => {
        // The gate's step ends with its verdict ("passed", or "failed: <reason>").
        const verdict =
          event.type === 'step-end' && event.step === 'verify' ? event.detail : undefined;
        if (event.type === 'step-end' && verdict && !verdict.startsWith('passed')) {
          decidedAt = event.at;
          reason = event.detail ?? '';
        }
      });
      const ctx = await session.operationContext(progress);
      const outcome = await swap(ctx, { stack: 'my-app' }).then(
        () => 'passed (unexpected)',
        (e: Error) => e.message.split(';')[0]!,
      );
      unsubscribe();
      if (firstBadAt === undefined || decidedAt === undefined || backAt === undefined) {
        rows.push([String(round), '-', '-', `${outcome} ${reason}`.slice(0, 100)]);
        continue;
      }
      detections.push(decidedAt - firstBadAt);
      rollbacks.push(backAt - decidedAt);
      rows.push([
        String(round),
        `${decidedAt - firstBadAt} ms`,
        `${backAt - decidedAt} ms`,
        reason.slice(0, 90),
      ]);
    }
  } finally {
    stop = true;
    await load;
    agent.destroy();
    await sandbox.close();
  }
  printTable(
    `verification: ${rounds} bad releases (${errorShare * 100}% errors), steps 10,50,100, analysis every 2 s, scrape 1 s`,
    rows,
  );
  if (detections.length > 0) {
    console.log(
      `detection median ${median(detections)} ms (target <= 4000 ms: 2 analysis intervals)`,
    );
    console.log(`rollback median ${median(rollbacks)} ms (target <= 1 s + one ingress sync)`);
  }
}

await main();

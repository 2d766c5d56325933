/** What the sandbox's simulated cluster shows, for assertions in end-to-end tests. */
import { expect } from 'vitest';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';

/** Weights of the default route of the applied VirtualService, by destination namespace. */
export function liveWeights(sandbox: Sandbox): Record<string, number> {
  const vs = sandbox.argocd.appliedObjects('istio-system').find((o) => o.kind === 'VirtualService');
  const spec = vs?.spec as {
    http: { name: string; route: { destination: { host: string }; weight: number }[] }[];
  };
  const route = spec.http.find((r) => r.name === 'default')!;
  return Object.fromEntries(route.route.map((d) => [d.destination.host.split('.')[1]!, d.weight]));
}

/** The images of the applied Deployments in a namespace, sorted. */
export function images(sandbox: Sandbox, namespace: string): string[] {
  return sandbox.argocd
    .appliedObjects(namespace)
    .filter((o) => o.kind === 'Deployment')
    .map(
      (o) =>
        (o.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec
          .containers[0]!.image,
    )
    .sort();
}

/** Asserts the app is Synced at `sha` and Healthy in the stand-in. */
export function expectLiveAt(sandbox: Sandbox, app: string, sha: string): void {
  const a = sandbox.argocd.app(app)!;
  expect(a.status?.sync?.status, app).toBe('Synced');
  expect(a.status?.sync?.revision, app).toBe(sha);
  expect(a.status?.health?.status, app).toBe('Healthy');
}

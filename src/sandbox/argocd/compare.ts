/**
 * The controller's comparison (CompareAppState + setApplicationHealth): target objects rendered
 * at a revision against the objects live in the simulated cluster, giving per-resource sync and
 * health status, the app's sync status and its aggregated health ("worst resource wins", live
 * resources only, child Applications never count).
 */
import { canonicalJson, resourceKey, type LiveObject } from './cluster.ts';
import { type HealthSettings, imagesOf, isWorse, resourceHealth } from './health.ts';
import { groupOf, versionOf } from './render.ts';
import type { HealthStatus, KubeObject, ResourceStatus, SyncStatusCode } from './types.ts';

export interface ManagedResource {
  key: string;
  target: KubeObject | undefined;
  live: LiveObject | undefined;
  status: ResourceStatus;
}

export interface Comparison {
  resources: ManagedResource[];
  syncStatus: SyncStatusCode;
  health: HealthStatus;
  images: string[];
  isAppOfApps: boolean;
}

/** `targets` undefined means the manifests could not be generated (a ComparisonError). */
export function compare(
  targets: KubeObject[] | undefined,
  live: LiveObject[],
  now: number,
  settings: HealthSettings,
): Comparison {
  const byKey = new Map<string, { target?: KubeObject; live?: LiveObject }>();
  for (const target of targets ?? []) byKey.set(resourceKey(target), { target });
  for (const object of live) {
    const entry = byKey.get(object.key) ?? {};
    entry.live = object;
    byKey.set(object.key, entry);
  }
  const resources: ManagedResource[] = [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, entry]) => ({
      key,
      target: entry.target,
      live: entry.live,
      status: resourceStatus(entry.target, entry.live, targets === undefined, now, settings),
    }));

  let syncStatus: SyncStatusCode = 'Synced';
  if (targets === undefined) syncStatus = 'Unknown';
  else if (resources.some((r) => r.status.status !== 'Synced')) syncStatus = 'OutOfSync';

  return {
    resources,
    syncStatus,
    health: aggregateHealth(resources),
    images: [...new Set(live.flatMap((o) => imagesOf(o.object)))].sort(),
    isAppOfApps: live.some(isApplication),
  };
}

function resourceStatus(
  target: KubeObject | undefined,
  live: LiveObject | undefined,
  failedToLoad: boolean,
  now: number,
  settings: HealthSettings,
): ResourceStatus {
  const object = (target ?? live?.object) as KubeObject;
  const status: ResourceStatus = {
    group: groupOf(object.apiVersion) || undefined,
    version: versionOf(object.apiVersion),
    kind: object.kind,
    namespace: object.metadata.namespace,
    name: object.metadata.name,
  };
  if (failedToLoad) status.status = 'Unknown';
  else if (target && live) {
    status.status = canonicalJson(target) === canonicalJson(live.object) ? 'Synced' : 'OutOfSync';
  } else status.status = 'OutOfSync';
  if (live) {
    const health = resourceHealth(live, now, settings);
    if (health) status.health = health;
  } else {
    // What the API server infers for a managed resource that has no live object.
    status.health = { status: 'Missing', message: 'Resource has not been created' };
  }
  if (live && !target && !failedToLoad) status.requiresPruning = true;
  return status;
}

function aggregateHealth(resources: ManagedResource[]): HealthStatus {
  let worst: HealthStatus['status'] = 'Healthy';
  let causes: ManagedResource[] = [];
  let containsResources = false;
  let containsLive = false;
  for (const resource of resources) {
    containsResources = true;
    if (!resource.live) continue; // missing resources do not affect app health (>= v3.4)
    containsLive = true;
    const health = resource.status.health?.status;
    if (!health) continue;
    if (isApplication(resource.live) && (health === 'Missing' || health === 'Unknown')) continue;
    if (isWorse(worst, health)) {
      worst = health;
      causes = [resource];
    } else if (worst === health && health !== 'Healthy') causes.push(resource);
  }
  if (containsResources && !containsLive) return { status: 'Missing' };
  if (worst === 'Healthy' || causes.length === 0) return { status: worst };
  return { status: worst, message: formatCauses(causes) };
}

/** controller/health.go `formatHealthCauses`: "Caused by apps/Deployment:ns/name". */
function formatCauses(causes: ManagedResource[]): string {
  const shown = causes.slice(0, 3).map((c) => {
    const group = c.status.group ? `${c.status.group}/` : '';
    const name = c.status.namespace ? `${c.status.namespace}/${c.status.name}` : c.status.name;
    return `${group}${c.status.kind}:${name}`;
  });
  const more = causes.length > 3 ? ` and ${causes.length - 3} more` : '';
  return `Caused by ${shown.join(', ')}${more}`;
}

function isApplication(live: LiveObject): boolean {
  return live.object.kind === 'Application' && groupOf(live.object.apiVersion) === 'argoproj.io';
}

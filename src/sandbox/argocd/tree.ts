/**
 * The resource tree and managed resources of an Application, built from its last comparison:
 * managed objects (missing ones as bare references), plus the ReplicaSet and Pods a Deployment
 * would own, so the tree looks like a cluster's. Child Application nodes carry no health, as in
 * Argo CD without the Application health customisation.
 */
import { createHash } from 'node:crypto';
import { k8sTime } from './clock.ts';
import type { LiveObject } from './cluster.ts';
import type { ManagedResource, Comparison } from './compare.ts';
import { imagesOf } from './health.ts';
import { groupOf } from './render.ts';
import type {
  ApplicationTree,
  HealthStatus,
  KubeObject,
  ResourceDiff,
  ResourceNode,
} from './types.ts';

export function resourceTree(comparison: Comparison | undefined): ApplicationTree {
  const nodes: ResourceNode[] = [];
  for (const resource of comparison?.resources ?? []) {
    const { status, live } = resource;
    const ref = {
      ...(status.group ? { group: status.group } : {}),
      version: status.version,
      kind: status.kind,
      ...(status.namespace ? { namespace: status.namespace } : {}),
      name: status.name,
    };
    if (!live) {
      nodes.push(ref);
      continue;
    }
    const images = imagesOf(live.object);
    nodes.push({
      ...ref,
      uid: live.uid,
      resourceVersion: live.resourceVersion,
      ...(images.length > 0 ? { images } : {}),
      ...(status.health ? { health: status.health } : {}),
      createdAt: k8sTime(live.createdAt),
    });
    if (live.object.kind === 'Deployment' && groupOf(live.object.apiVersion) === 'apps') {
      nodes.push(...deploymentChildren(live, status.health));
    }
  }
  nodes.sort((a, b) => nodeKey(a).localeCompare(nodeKey(b)));
  return nodes.length > 0 ? { nodes } : {};
}

function deploymentChildren(live: LiveObject, health: HealthStatus | undefined): ResourceNode[] {
  const object = live.object;
  const spec = (object.spec ?? {}) as { replicas?: number; template?: unknown };
  const hash = createHash('sha256')
    .update(JSON.stringify(spec.template ?? {}))
    .digest('hex');
  const namespace = object.metadata.namespace;
  const rsName = `${object.metadata.name}-${hash.slice(0, 10)}`;
  const rsUid = uidFrom(`${live.uid}/${rsName}`);
  const images = imagesOf(object);
  const childHealth: HealthStatus = { status: health?.status ?? 'Healthy' };
  const replicaSet: ResourceNode = {
    group: 'apps',
    version: 'v1',
    kind: 'ReplicaSet',
    ...(namespace ? { namespace } : {}),
    name: rsName,
    uid: rsUid,
    parentRefs: [
      {
        group: 'apps',
        kind: 'Deployment',
        ...(namespace ? { namespace } : {}),
        name: object.metadata.name,
        uid: live.uid,
      },
    ],
    info: [{ name: 'Revision', value: 'Rev:1' }],
    resourceVersion: live.resourceVersion,
    ...(images.length > 0 ? { images } : {}),
    health: childHealth,
    createdAt: k8sTime(live.specChangedAt),
  };
  const pods: ResourceNode[] = [];
  for (let i = 0; i < (spec.replicas ?? 1); i++) {
    const suffix = createHash('sha256').update(`${rsUid}/${i}`).digest('hex').slice(0, 5);
    const podName = `${rsName}-${suffix}`;
    const ready = childHealth.status === 'Healthy';
    pods.push({
      version: 'v1',
      kind: 'Pod',
      ...(namespace ? { namespace } : {}),
      name: podName,
      uid: uidFrom(`${rsUid}/${podName}`),
      parentRefs: [
        {
          group: 'apps',
          kind: 'ReplicaSet',
          ...(namespace ? { namespace } : {}),
          name: rsName,
          uid: rsUid,
        },
      ],
      info: [
        { name: 'Status Reason', value: ready ? 'Running' : 'ContainerCreating' },
        { name: 'Containers', value: `${ready ? 1 : 0}/1` },
      ],
      resourceVersion: live.resourceVersion,
      ...(images.length > 0 ? { images } : {}),
      health: childHealth,
      createdAt: k8sTime(live.specChangedAt),
    });
  }
  return [replicaSet, ...pods];
}

/** Managed resources (`ResourceDiff`), with Argo CD's JSON-string states; filters as `isMatchingResource`. */
export function managedResources(
  comparison: Comparison | undefined,
  filter: { namespace?: string; name?: string; group?: string; kind?: string },
): { items?: ResourceDiff[] } {
  const items = (comparison?.resources ?? [])
    .filter(
      (r) =>
        (!filter.name || filter.name === r.status.name) &&
        (!filter.namespace || filter.namespace === (r.status.namespace ?? '')) &&
        (!filter.group || filter.group === (r.status.group ?? '')) &&
        (!filter.kind || filter.kind === r.status.kind),
    )
    .map(diffOf);
  return items.length > 0 ? { items } : {};
}

function diffOf(resource: ManagedResource): ResourceDiff {
  const target = resource.target ? JSON.stringify(resource.target) : 'null';
  const live = resource.live ? JSON.stringify(liveState(resource.live)) : 'null';
  return {
    ...(resource.status.group ? { group: resource.status.group } : {}),
    kind: resource.status.kind,
    ...(resource.status.namespace ? { namespace: resource.status.namespace } : {}),
    name: resource.status.name,
    targetState: target,
    liveState: live,
    normalizedLiveState: live,
    predictedLiveState: resource.target ? target : live,
    ...(resource.live ? { resourceVersion: resource.live.resourceVersion } : {}),
    ...(resource.status.status !== 'Synced' ? { modified: true } : {}),
  };
}

/** The live object as the API server would return it (server-set metadata added). */
function liveState(live: LiveObject): KubeObject {
  const object = structuredClone(live.object);
  object.metadata = {
    ...object.metadata,
    uid: live.uid,
    resourceVersion: live.resourceVersion,
    creationTimestamp: k8sTime(live.createdAt),
  };
  return object;
}

const nodeKey = (n: ResourceNode) =>
  [n.group ?? '', n.kind ?? '', n.namespace ?? '', n.name ?? ''].join('/');

function uidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The resource tree and managed resources of an Application, built from its last comparison:
 * managed objects (missing ones with health Missing), plus the current ReplicaSet and Pods of
 * each Deployment with their own health and kubelet status (pods.ts), as Argo CD shows them. Child Application nodes carry no health, as in
 * Argo CD without the Application health customisation.
 */
import { k8sTime } from './clock.ts';
import type { LiveObject } from './cluster.ts';
import type { ManagedResource, Comparison } from './compare.ts';
import { imagesOf } from './health.ts';
import { podsOf, replicaSetName, uidFrom, type PodSettings } from './pods.ts';
import { groupOf } from './render.ts';
import type {
  ApplicationTree,
  HealthStatus,
  KubeObject,
  ResourceDiff,
  ResourceNode,
} from './types.ts';

export function resourceTree(
  comparison: Comparison | undefined,
  now: number,
  settings: PodSettings,
): ApplicationTree {
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
      // controller/cache: a managed resource with no live object is a node with health Missing.
      nodes.push({ ...ref, health: { status: 'Missing' } });
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
      nodes.push(...deploymentChildren(live, status.health, now, settings));
    }
  }
  nodes.sort((a, b) => nodeKey(a).localeCompare(nodeKey(b)));
  return nodes.length > 0 ? { nodes } : {};
}

function deploymentChildren(
  live: LiveObject,
  health: HealthStatus | undefined,
  now: number,
  settings: PodSettings,
): ResourceNode[] {
  const object = live.object;
  const namespace = object.metadata.namespace;
  const rsName = replicaSetName(live);
  const rsUid = uidFrom(`${live.uid}/${rsName}`);
  const images = imagesOf(object);
  const pods = podsOf(live, now, settings);
  const readyPods = pods.filter((p) => p.ready).length;
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
    info: [{ name: 'Revision', value: `Rev:${live.templateRevision}` }],
    resourceVersion: live.resourceVersion,
    ...(images.length > 0 ? { images } : {}),
    // health_replicaset.go: Progressing until the available replicas match.
    health:
      health?.status === 'Suspended'
        ? { status: 'Healthy' }
        : readyPods >= pods.length
          ? { status: 'Healthy' }
          : {
              status: 'Progressing',
              message: `Waiting for rollout to finish: ${readyPods} out of ${pods.length} new replicas are available...`,
            },
    createdAt: k8sTime(live.specChangedAt),
  };
  const podNodes = pods.map((pod): ResourceNode => {
    const ready = pod.containers.filter((c) => c.ready).length;
    return {
      version: 'v1',
      kind: 'Pod',
      ...(namespace ? { namespace } : {}),
      name: pod.name,
      uid: pod.uid,
      parentRefs: [
        {
          group: 'apps',
          kind: 'ReplicaSet',
          ...(namespace ? { namespace } : {}),
          name: rsName,
          uid: rsUid,
        },
      ],
      // populatePodInfo: Restart Count only when > 0, then Status Reason, Containers.
      info: [
        ...(pod.restarts > 0 ? [{ name: 'Restart Count', value: String(pod.restarts) }] : []),
        { name: 'Status Reason', value: pod.reason },
        { name: 'Containers', value: `${ready}/${pod.containers.length}` },
      ],
      resourceVersion: live.resourceVersion,
      ...(images.length > 0 ? { images } : {}),
      health: pod.health,
      createdAt: k8sTime(live.specChangedAt),
    };
  });
  return [replicaSet, ...podNodes];
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

/**
 * Simulated resource health, with gitops-engine's statuses and messages. A workload whose spec
 * changed is Progressing for `progressingMs`; then it is Healthy, or Degraded when one of its
 * images carries a tag matching the fault pattern (as if the new pods never became ready and
 * the progress deadline passed). Zero replicas is Healthy at once. Kinds gitops-engine has no
 * health check for (ConfigMap, VirtualService, Application, ...) have no health at all.
 */
import type { LiveObject } from './cluster.ts';
import { groupOf } from './render.ts';
import type { HealthStatus, HealthStatusCode, KubeObject } from './types.ts';
import { imageTag } from '../image-ref.ts';

/** Most healthy first (gitops-engine `healthOrder`). */
export const HEALTH_ORDER: readonly HealthStatusCode[] = [
  'Healthy',
  'Suspended',
  'Progressing',
  'Missing',
  'Degraded',
  'Unknown',
];

export function isWorse(current: HealthStatusCode, candidate: HealthStatusCode): boolean {
  return HEALTH_ORDER.indexOf(candidate) > HEALTH_ORDER.indexOf(current);
}

export interface HealthSettings {
  progressingMs: number;
  faultPattern: RegExp | undefined;
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);
const ALWAYS_HEALTHY = new Set([
  '/Service',
  '/PersistentVolumeClaim',
  '/Pod',
  'networking.k8s.io/Ingress',
  'extensions/Ingress',
  'batch/Job',
  'autoscaling/HorizontalPodAutoscaler',
  'apiregistration.k8s.io/APIService',
]);

export function hasHealthCheck(object: KubeObject): boolean {
  const group = groupOf(object.apiVersion);
  return (
    (group === 'apps' && WORKLOADS.has(object.kind)) ||
    ALWAYS_HEALTHY.has(`${group}/${object.kind}`)
  );
}

/** The health of one live object at `now`, or undefined for kinds without a health check. */
export function resourceHealth(
  live: LiveObject,
  now: number,
  settings: HealthSettings,
): HealthStatus | undefined {
  const object = live.object;
  if (!hasHealthCheck(object)) return undefined;
  if (groupOf(object.apiVersion) !== 'apps') return { status: 'Healthy' };
  const spec = (object.spec ?? {}) as { replicas?: number; paused?: boolean };
  const name = object.metadata.name;
  if (object.kind === 'Deployment' && spec.paused) {
    return { status: 'Suspended', message: 'Deployment is paused' };
  }
  const replicas = object.kind === 'DaemonSet' ? 1 : (spec.replicas ?? 1);
  if (replicas === 0) return { status: 'Healthy' };
  if (now < live.specChangedAt + settings.progressingMs) {
    return { status: 'Progressing', message: progressingMessage(object.kind, name, replicas) };
  }
  if (settings.faultPattern && imageTags(object).some((tag) => settings.faultPattern?.test(tag))) {
    return { status: 'Degraded', message: degradedMessage(object.kind, name) };
  }
  return { status: 'Healthy' };
}

/** When the health of this object will change by itself (the end of its rollout), if ever. */
export function healthChangesAt(live: LiveObject, settings: HealthSettings): number | undefined {
  if (!hasHealthCheck(live.object) || groupOf(live.object.apiVersion) !== 'apps') return undefined;
  return live.specChangedAt + settings.progressingMs;
}

function progressingMessage(kind: string, name: string, replicas: number): string {
  switch (kind) {
    case 'StatefulSet':
      return `Waiting for ${replicas} pods to be ready...`;
    case 'DaemonSet':
      return `Waiting for daemon set "${name}" rollout to finish: 0 of ${replicas} updated pods are available...`;
    default:
      return `Waiting for rollout to finish: 0 of ${replicas} updated replicas are available...`;
  }
}

function degradedMessage(kind: string, name: string): string {
  return kind === 'Deployment'
    ? `Deployment "${name}" exceeded its progress deadline`
    : `${kind} "${name}" has pods that are not ready`;
}

/** Images of the pod template (or pod spec), in container order. */
export function imagesOf(object: KubeObject): string[] {
  const spec = object.spec as
    | {
        template?: { spec?: PodSpec };
        containers?: Container[];
        initContainers?: Container[];
      }
    | undefined;
  const podSpec: PodSpec | undefined = spec?.template?.spec ?? spec;
  return [...(podSpec?.initContainers ?? []), ...(podSpec?.containers ?? [])]
    .map((c) => c.image)
    .filter((image): image is string => typeof image === 'string');
}

interface Container {
  image?: unknown;
}
interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
}

function imageTags(object: KubeObject): string[] {
  return imagesOf(object).map(imageTag);
}

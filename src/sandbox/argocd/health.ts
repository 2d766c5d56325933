/**
 * Simulated resource health, with gitops-engine's statuses and messages. A workload whose spec
 * changed is Progressing for `progressingMs`; then it is Healthy if its pods became ready (see
 * pods.ts). If they did not (a crash loop, an image that cannot be pulled), a Deployment stays
 * Progressing until its progress deadline (600 s by default) and is Degraded after it, as in
 * `health_deployment.go`; StatefulSets and DaemonSets have no deadline and stay Progressing.
 * Zero replicas is Healthy at once. Kinds gitops-engine has no health check for (ConfigMap,
 * VirtualService, Application, ...) have no health at all.
 */
import type { LiveObject } from './cluster.ts';
import { groupOf } from './render.ts';
import type { HealthStatus, HealthStatusCode, KubeObject } from './types.ts';
import { progressDeadlineMs, workloadFault, type PodSettings } from './pods.ts';

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

/** Rollout timing and image faults (see pods.ts). */
export type HealthSettings = PodSettings;

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
  const progressing = {
    status: 'Progressing' as const,
    message: progressingMessage(object.kind, name, replicas),
  };
  if (now < live.specChangedAt + settings.progressingMs) return progressing;
  if (!workloadFault(live, settings)) return { status: 'Healthy' };
  // Pods that never become ready: only a Deployment has a progress deadline (Kubernetes sets
  // its Progressing condition to ProgressDeadlineExceeded); the others wait for ever.
  if (
    object.kind === 'Deployment' &&
    now >= live.specChangedAt + progressDeadlineMs(live, settings)
  ) {
    return { status: 'Degraded', message: `Deployment "${name}" exceeded its progress deadline` };
  }
  return progressing;
}

/** When the health of this object will next change by itself (after `now`), if ever. */
export function healthChangesAt(
  live: LiveObject,
  settings: HealthSettings,
  now: number,
): number | undefined {
  if (!hasHealthCheck(live.object) || groupOf(live.object.apiVersion) !== 'apps') return undefined;
  const ready = live.specChangedAt + settings.progressingMs;
  if (now < ready) return ready;
  if (live.object.kind !== 'Deployment' || !workloadFault(live, settings)) return undefined;
  const deadline = live.specChangedAt + progressDeadlineMs(live, settings);
  return now < deadline ? deadline : undefined;
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

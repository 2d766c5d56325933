/**
 * The simulated pods of a Deployment's current ReplicaSet, as pure functions of the Deployment,
 * the time and the health settings, with kubelet's states and Argo CD's pod health
 * (gitops-engine `pkg/health/health_pod.go`) and tree info (`controller/cache/info.go`
 * `populatePodInfo`: "Status Reason", "Containers", "Restart Count").
 *
 * After a spec change every pod is Pending (`ContainerCreating`) for `progressingMs`. Then:
 * - a good image: Running and ready (Healthy);
 * - an image whose tag matches `faultPattern`: the container runs for a tenth of the back-off
 *   base, exits 1, and waits in `CrashLoopBackOff` (kubelet's back-off: base, doubling, capped
 *   at 30x the base, i.e. 10 s to 5 min by default), restarts, and so on;
 * - an image matching `missingImagePattern`: `ErrImagePull` for a tenth of the base, then
 *   `ImagePullBackOff` for the back-off, then another pull, and so on (phase Pending).
 *
 * A Deployment whose pods never become ready stays Progressing until `progressDeadlineSeconds`
 * (its own, else the default, Kubernetes' 600 s) has passed since the rollout began, then it is
 * Degraded (`health_deployment.go`: "Deployment %q exceeded its progress deadline"). The pods
 * themselves are Degraded in the tree from their first crash or failed pull, but app health
 * never looks at them: it is built from managed resources only.
 */
import { createHash } from 'node:crypto';
import type { LiveObject } from './cluster.ts';
import type { HealthStatus } from './types.ts';
import { imageTag } from '../image-ref.ts';

export interface PodSettings {
  /** How long a pod takes from the rollout's start to running (and, if good, ready). */
  progressingMs: number;
  /** Image tags matching this crash-loop. */
  faultPattern: RegExp | undefined;
  /** Images (full references) matching this cannot be pulled. */
  missingImagePattern: RegExp | undefined;
  /** For Deployments without `spec.progressDeadlineSeconds`. */
  progressDeadlineSeconds: number;
  /** kubelet's initial back-off (10 s); it doubles per failure up to 30x (5 min). */
  backoffBaseMs: number;
}

export type PodFault = 'crash-loop' | 'image-pull' | undefined;

export interface ContainerState {
  name: string;
  image: string;
  ready: boolean;
  restartCount: number;
  waiting?: { reason: string; message: string };
  running?: boolean;
  lastTerminated?: { reason: string; exitCode: number };
}

export interface PodState {
  name: string;
  uid: string;
  phase: 'Pending' | 'Running';
  /** What `kubectl get pod` shows in STATUS, and Argo CD's "Status Reason". */
  reason: string;
  containers: ContainerState[];
  health: HealthStatus;
  ready: boolean;
  restarts: number;
}

interface PodContainer {
  name?: unknown;
  image?: unknown;
}

export function containersOf(object: LiveObject['object']): { name: string; image: string }[] {
  const spec = object.spec as { template?: { spec?: { containers?: PodContainer[] } } } | undefined;
  return (spec?.template?.spec?.containers ?? []).map((c, i) => ({
    name: typeof c.name === 'string' ? c.name : `container-${i}`,
    image: typeof c.image === 'string' ? c.image : '',
  }));
}

export function imageFault(image: string, settings: PodSettings): PodFault {
  if (settings.missingImagePattern?.test(image)) return 'image-pull';
  if (settings.faultPattern?.test(imageTag(image))) return 'crash-loop';
  return undefined;
}

/** The first fault of any container of the pod template. */
export function workloadFault(live: LiveObject, settings: PodSettings): PodFault {
  const faults = containersOf(live.object).map((c) => imageFault(c.image, settings));
  return faults.find((f) => f === 'image-pull') ?? faults.find((f) => f !== undefined);
}

export function progressDeadlineMs(live: LiveObject, settings: PodSettings): number {
  const own = (live.object.spec as { progressDeadlineSeconds?: unknown } | undefined)
    ?.progressDeadlineSeconds;
  const seconds =
    typeof own === 'number' && own > 0 ? own : Math.max(0, settings.progressDeadlineSeconds);
  return seconds * 1000;
}

/** `<deployment>-<10 hex of the pod template>`, as the ReplicaSet controller names it. */
export function replicaSetName(live: LiveObject): string {
  const spec = (live.object.spec ?? {}) as { template?: unknown };
  const hash = createHash('sha256')
    .update(JSON.stringify(spec.template ?? {}))
    .digest('hex');
  return `${live.object.metadata.name}-${hash.slice(0, 10)}`;
}

export function uidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The pods of the Deployment's current ReplicaSet at `now`. */
export function podsOf(live: LiveObject, now: number, settings: PodSettings): PodState[] {
  const spec = (live.object.spec ?? {}) as { replicas?: number };
  const rsName = replicaSetName(live);
  const rsUid = uidFrom(`${live.uid}/${rsName}`);
  const namespace = live.object.metadata.namespace ?? '';
  const pods: PodState[] = [];
  for (let i = 0; i < (spec.replicas ?? 1); i++) {
    const suffix = createHash('sha256').update(`${rsUid}/${i}`).digest('hex').slice(0, 5);
    const name = `${rsName}-${suffix}`;
    const uid = uidFrom(`${rsUid}/${name}`);
    const elapsed = now - live.specChangedAt;
    const containers = containersOf(live.object).map((c) =>
      containerAt(c, elapsed, settings, `${name}_${namespace}(${uid})`),
    );
    pods.push(podState(name, uid, containers));
  }
  return pods;
}

function containerAt(
  container: { name: string; image: string },
  elapsed: number,
  settings: PodSettings,
  podRef: string,
): ContainerState {
  const base = { name: container.name, image: container.image };
  if (elapsed < settings.progressingMs) {
    return {
      ...base,
      ready: false,
      restartCount: 0,
      waiting: { reason: 'ContainerCreating', message: '' },
    };
  }
  const fault = imageFault(container.image, settings);
  if (!fault) return { ...base, ready: true, restartCount: 0, running: true };
  const cycle = backoffCycle(elapsed - settings.progressingMs, settings.backoffBaseMs);
  if (fault === 'image-pull') {
    return {
      ...base,
      ready: false,
      restartCount: 0,
      waiting: cycle.active
        ? {
            reason: 'ErrImagePull',
            message: `rpc error: code = NotFound desc = failed to pull and unpack image "${container.image}": failed to resolve reference "${container.image}": ${container.image}: not found`,
          }
        : { reason: 'ImagePullBackOff', message: `Back-off pulling image "${container.image}"` },
    };
  }
  if (cycle.active) {
    return {
      ...base,
      ready: false,
      restartCount: cycle.failures,
      running: true,
      ...(cycle.failures > 0 ? { lastTerminated: { reason: 'Error', exitCode: 1 } } : {}),
    };
  }
  return {
    ...base,
    ready: false,
    restartCount: cycle.failures,
    waiting: {
      reason: 'CrashLoopBackOff',
      message: `back-off ${formatDuration(cycle.backoffMs)} restarting failed container=${container.name} pod=${podRef}`,
    },
    lastTerminated: { reason: 'Error', exitCode: 1 },
  };
}

/**
 * Attempt (run or pull) for base/10, then back-off of base * 2^(n-1), capped at 30x base.
 * `failures` counts the attempts that have failed so far.
 */
function backoffCycle(
  sinceStart: number,
  baseMs: number,
): { active: boolean; failures: number; backoffMs: number } {
  const attemptMs = Math.max(1, baseMs / 10);
  let t = 0;
  for (let n = 0; ; n++) {
    if (sinceStart < t + attemptMs) return { active: true, failures: n, backoffMs: 0 };
    t += attemptMs;
    const backoffMs = Math.min(baseMs * 2 ** n, baseMs * 30);
    if (sinceStart < t + backoffMs) return { active: false, failures: n + 1, backoffMs };
    t += backoffMs;
  }
}

/** health_pod.go for `restartPolicy: Always`, then the phase. */
function podState(name: string, uid: string, containers: ContainerState[]): PodState {
  const restarts = containers.reduce((sum, c) => sum + c.restartCount, 0);
  const ready = containers.length > 0 && containers.every((c) => c.ready);
  const creating = containers.some((c) => c.waiting?.reason === 'ContainerCreating');
  const pulling = containers.some((c) => /ImagePull/.test(c.waiting?.reason ?? ''));
  const phase = creating || pulling ? 'Pending' : 'Running';
  const failing = containers.filter((c) => {
    const reason = c.waiting?.reason ?? '';
    return reason.startsWith('Err') || reason.endsWith('Error') || reason.endsWith('BackOff');
  });
  // populatePodInfo: the reason of the last waiting/terminated container, else the phase.
  const waitingReason = [...containers].reverse().find((c) => c.waiting)?.waiting?.reason;
  const reason = waitingReason ?? phase;
  let health: HealthStatus;
  if (failing.length > 0) {
    health = {
      status: 'Degraded',
      message: failing.map((c) => c.waiting?.message ?? '').join(', '),
    };
  } else if (phase === 'Pending') {
    health = { status: 'Progressing' };
  } else if (ready) {
    health = { status: 'Healthy' };
  } else if (containers.some((c) => c.lastTerminated)) {
    health = { status: 'Degraded' };
  } else {
    health = { status: 'Progressing' };
  }
  return { name, uid, phase, reason, containers, health, ready, restarts };
}

function formatDuration(ms: number): string {
  // Go's time.Duration String for whole seconds: 10s, 1m20s, 5m0s.
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) return `${total}s`;
  return `${Math.floor(total / 60)}m${total % 60}s`;
}

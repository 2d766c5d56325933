/**
 * The pods of an app's Deployments, read from Argo CD's resource tree, and which of them show a
 * broken release: a container waiting in `CrashLoopBackOff`, `ImagePullBackOff`, `ErrImagePull`
 * (or another kubelet error reason), a pod Argo CD rates Degraded, or one that keeps restarting.
 *
 * Why: Argo CD rates a Deployment whose new pods never become ready Progressing until its
 * `progressDeadlineSeconds` (600 s by default) has passed, and only then Degraded
 * (gitops-engine `health_deployment.go`); app health is built from managed resources only, so
 * it says Progressing for those 10 minutes. The pods say what is wrong within seconds.
 *
 * Only the pods of each Deployment's newest ReplicaSet count (highest "Revision" info): during a
 * rollout the old ReplicaSet's pods are the previous release, maybe the broken one we replace.
 */
import type { ApplicationTree, ResourceNode } from './schema.ts';

/** kubelet waiting reasons that mean the container cannot run as it is (health_pod.go's rule). */
export function isFailingReason(reason: string): boolean {
  return (
    reason.startsWith('Err') ||
    reason.endsWith('Error') ||
    reason.endsWith('BackOff') ||
    reason === 'InvalidImageName'
  );
}

/** A pod that restarted this often and is not Healthy is "restarting repeatedly". */
export const RESTART_THRESHOLD = 3;

export interface PodProblem {
  /** Stable per pod (uid, else namespace/name). */
  key: string;
  pod: string;
  namespace: string | undefined;
  deployment: string;
  /** Argo CD's "Status Reason" (kubectl's STATUS), e.g. CrashLoopBackOff. */
  reason: string;
  /** The pod's health message (kubelet's waiting message), if any. */
  message: string | undefined;
  restarts: number;
  /** What kind of problem, for the hint. */
  kind: 'crash-loop' | 'image-pull' | 'restarting' | 'degraded';
}

const info = (node: ResourceNode, name: string): string | undefined =>
  node.info?.find((i) => i.name === name)?.value ?? undefined;

const sameRef = (
  ref: {
    kind?: string | undefined;
    name?: string | undefined;
    namespace?: string | undefined;
    uid?: string | undefined;
  },
  node: ResourceNode,
): boolean =>
  ref.uid && node.uid
    ? ref.uid === node.uid
    : ref.kind === node.kind &&
      ref.name === node.name &&
      (ref.namespace ?? '') === (node.namespace ?? '');

function revisionOf(node: ResourceNode): number | undefined {
  const match = /(\d+)/.exec(info(node, 'Revision') ?? '');
  return match ? Number(match[1]) : undefined;
}

/** Pods of each Deployment's newest ReplicaSet that show a failure, in tree order. */
export function failingPods(tree: ApplicationTree): PodProblem[] {
  const nodes = tree.nodes;
  const problems: PodProblem[] = [];
  for (const deployment of nodes.filter((n) => n.kind === 'Deployment' && n.group === 'apps')) {
    const replicaSets = nodes.filter(
      (n) =>
        n.kind === 'ReplicaSet' &&
        (n.parentRefs ?? []).some((p) => p.kind === 'Deployment' && sameRef(p, deployment)),
    );
    const revisions = replicaSets.map(revisionOf).filter((r): r is number => r !== undefined);
    const newest = revisions.length > 0 ? Math.max(...revisions) : undefined;
    const current = replicaSets.filter((rs) => newest === undefined || revisionOf(rs) === newest);
    for (const pod of nodes) {
      if (pod.kind !== 'Pod') continue;
      if (
        !(pod.parentRefs ?? []).some(
          (p) => p.kind === 'ReplicaSet' && current.some((rs) => sameRef(p, rs)),
        )
      )
        continue;
      const problem = podProblem(pod, deployment.name ?? '?');
      if (problem) problems.push(problem);
    }
  }
  return problems;
}

function podProblem(pod: ResourceNode, deployment: string): PodProblem | undefined {
  const reason = info(pod, 'Status Reason') ?? '';
  const restarts = Number(info(pod, 'Restart Count') ?? '0') || 0;
  const health = pod.health?.status;
  let kind: PodProblem['kind'] | undefined;
  if (/ImagePull|InvalidImageName/.test(reason)) kind = 'image-pull';
  else if (reason === 'CrashLoopBackOff') kind = 'crash-loop';
  else if (isFailingReason(reason)) kind = 'degraded';
  else if (restarts >= RESTART_THRESHOLD && health !== 'Healthy') kind = 'restarting';
  else if (health === 'Degraded') kind = restarts > 0 ? 'crash-loop' : 'degraded';
  if (!kind) return undefined;
  const name = pod.name ?? '?';
  return {
    key: pod.uid || `${pod.namespace ?? ''}/${name}`,
    pod: name,
    namespace: pod.namespace,
    deployment,
    reason: reason || health || 'unknown',
    message: pod.health?.message || undefined,
    restarts,
    kind,
  };
}

/** "pod my-app/web-6d8f-abcde CrashLoopBackOff (3 restarts): back-off 40s restarting ..." */
export function describePodProblem(p: PodProblem): string {
  const where = p.namespace ? `${p.namespace}/${p.pod}` : p.pod;
  const restarts = p.restarts > 0 ? ` (${p.restarts} restart${p.restarts === 1 ? '' : 's'})` : '';
  return `pod ${where} of Deployment ${p.deployment} ${p.reason}${restarts}${p.message ? `: ${p.message}` : ''}`;
}

export function podHint(p: PodProblem): string {
  const ns = p.namespace ? ` -n ${p.namespace}` : '';
  return p.kind === 'image-pull'
    ? `the image cannot be pulled: check its name and tag, and the registry credentials (kubectl${ns} describe pod ${p.pod})`
    : `see why the container exits: kubectl${ns} logs ${p.pod} --previous; fix the release and deploy again`;
}

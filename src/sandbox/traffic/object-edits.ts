/**
 * Small edits of applied objects, as `kubectl set image` / `kubectl scale` would make them: for
 * demos and tests that change one Deployment at a time (the rolling-update comparison). Each
 * returns an edited copy and leaves its input alone.
 */
import type { RenderedObject } from '../../helm/render.ts';

interface Container {
  name?: string;
  image?: string;
}

/** Sets the tag of the Deployment's main container image (the one named like the Deployment). */
export function withImageTag(tag: string): (deployment: RenderedObject) => RenderedObject {
  return (deployment) => {
    const copy = structuredClone(deployment);
    const spec = copy.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
    const containers = spec?.template?.spec?.containers ?? [];
    const main = containers.find((c) => c.name === copy.metadata.name) ?? containers[0];
    if (!main?.image) throw new Error(`${copy.kind} ${copy.metadata.name} has no container image`);
    main.image = `${repositoryOf(main.image)}:${tag}`;
    return copy;
  };
}

/** Sets `spec.replicas`. */
export function withReplicas(replicas: number): (workload: RenderedObject) => RenderedObject {
  return (workload) => {
    const copy = structuredClone(workload);
    copy.spec = { ...(copy.spec as object | undefined), replicas };
    return copy;
  };
}

/** `registry:5000/repo/name:1.2.3@sha256:...` -> `registry:5000/repo/name`. */
function repositoryOf(image: string): string {
  const withoutDigest = image.split('@')[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  return lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
}

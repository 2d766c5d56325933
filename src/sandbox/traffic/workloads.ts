/**
 * Reads the applied objects the traffic layer acts on (apps/v1 Deployments and v1 Services) into
 * small, validated records. Objects that do not parse are skipped and reported, never fatal: the
 * cluster view is third-party input and one broken object must not stop the rest from serving.
 */
import { z } from 'zod';
import type { RenderedObject } from '../../helm/render.ts';
import { imageTag } from '../image-ref.ts';

export const COLOUR_LABEL = 'stackswap.io/colour';

/** One Deployment as the sandbox runs it: one in-process server, whatever the replica count. */
export interface Workload {
  /** `<namespace>/<name>` */
  key: string;
  namespace: string;
  /** The Deployment name, answered as `component`. */
  component: string;
  /** Label stackswap.io/colour, else a `-blue`/`-green` namespace suffix, else null. */
  colour: string | null;
  /** The tag of the main container's image (`latest` when it has none). */
  version: string;
  image: string;
  replicas: number;
  /** Pod template labels: what a Service selector matches. */
  podLabels: Readonly<Record<string, string>>;
  /** The main container's BACKEND_URL: set, this component calls it on every request. */
  backendUrl: string | undefined;
}

export interface ServiceRecord {
  namespace: string;
  name: string;
  /** Undefined: a Service without selector, which has no endpoints of its own. */
  selector: Readonly<Record<string, string>> | undefined;
}

export interface ReadResult<T> {
  items: T[];
  problems: string[];
}

const Labels = z.record(z.string(), z.string()).nullish();
const Metadata = z
  .object({ name: z.string().min(1), namespace: z.string().optional(), labels: Labels })
  .loose();
const EnvVar = z.object({ name: z.string(), value: z.string().optional() }).loose();
const Container = z
  .object({ name: z.string(), image: z.string().min(1), env: z.array(EnvVar).nullish() })
  .loose();

const Deployment = z
  .object({
    metadata: Metadata,
    spec: z
      .object({
        replicas: z.number().int().min(0).optional(),
        template: z
          .object({
            metadata: z.object({ labels: Labels }).loose().optional(),
            spec: z.object({ containers: z.array(Container).min(1) }).loose(),
          })
          .loose(),
      })
      .loose(),
  })
  .loose();

const Service = z
  .object({
    metadata: Metadata,
    spec: z.object({ selector: Labels }).loose().optional(),
  })
  .loose();

export function readWorkloads(objects: readonly RenderedObject[]): ReadResult<Workload> {
  const result: ReadResult<Workload> = { items: [], problems: [] };
  for (const object of objects) {
    if (object.kind !== 'Deployment' || object.apiVersion !== 'apps/v1') continue;
    const parsed = Deployment.safeParse(object);
    if (!parsed.success) {
      result.problems.push(problem(object, parsed.error));
      continue;
    }
    const { metadata, spec } = parsed.data;
    const namespace = metadata.namespace ?? 'default';
    const containers = spec.template.spec.containers;
    // The container named like the Deployment is the app; sidecars come and go.
    const main = containers.find((c) => c.name === metadata.name) ?? containers[0]!;
    const podLabels = spec.template.metadata?.labels ?? {};
    result.items.push({
      key: `${namespace}/${metadata.name}`,
      namespace,
      component: metadata.name,
      colour: podLabels[COLOUR_LABEL] ?? metadata.labels?.[COLOUR_LABEL] ?? colourSuffix(namespace),
      version: imageTag(main.image),
      image: main.image,
      // Kubernetes defaults an unset replica count to 1.
      replicas: spec.replicas ?? 1,
      podLabels,
      backendUrl: main.env?.find((e) => e.name === 'BACKEND_URL')?.value,
    });
  }
  return result;
}

export function readServices(objects: readonly RenderedObject[]): ReadResult<ServiceRecord> {
  const result: ReadResult<ServiceRecord> = { items: [], problems: [] };
  for (const object of objects) {
    if (object.kind !== 'Service' || object.apiVersion !== 'v1') continue;
    const parsed = Service.safeParse(object);
    if (!parsed.success) {
      result.problems.push(problem(object, parsed.error));
      continue;
    }
    const { metadata, spec } = parsed.data;
    result.items.push({
      namespace: metadata.namespace ?? 'default',
      name: metadata.name,
      selector: spec?.selector ?? undefined,
    });
  }
  return result;
}

function colourSuffix(namespace: string): string | null {
  const match = /-(blue|green)$/.exec(namespace);
  return match ? match[1]! : null;
}

/** Does the Service select this workload's pods (every selector label present and equal)? */
export function selects(service: ServiceRecord, workload: Workload): boolean {
  if (!service.selector || service.namespace !== workload.namespace) return false;
  const entries = Object.entries(service.selector);
  return entries.length > 0 && entries.every(([k, v]) => workload.podLabels[k] === v);
}

function problem(object: RenderedObject, error: z.ZodError): string {
  const where = `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? '?'}`;
  const first = error.issues[0];
  return `${where} skipped: ${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'}`;
}

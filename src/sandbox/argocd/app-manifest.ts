/**
 * Application manifests read from the config repo (`argo/root.yaml`, `argo/apps/*.yaml`),
 * checked with zod. Unknown fields are kept, as the objects are Argo CD's, not ours.
 */
import { z } from 'zod';
import type { ApplicationSpec, KubeObject, ObjectMeta } from './types.ts';

const StringMap = z.record(z.string(), z.string());

const Source = z
  .object({
    repoURL: z.string(),
    path: z.string().optional(),
    targetRevision: z.string().optional(),
    chart: z.string().optional(),
    helm: z
      .object({
        valueFiles: z.array(z.string()).optional(),
        releaseName: z.string().optional(),
        namespace: z.string().optional(),
        values: z.string().optional(),
        valuesObject: z.unknown().optional(),
        ignoreMissingValueFiles: z.boolean().optional(),
        parameters: z
          .array(
            z
              .object({
                name: z.string().optional(),
                value: z.string().optional(),
                forceString: z.boolean().optional(),
              })
              .loose(),
          )
          .optional(),
      })
      .loose()
      .optional(),
    directory: z.object({ recurse: z.boolean().optional() }).loose().optional(),
  })
  .loose();

export const ApplicationManifest = z
  .object({
    apiVersion: z.literal('argoproj.io/v1alpha1'),
    kind: z.literal('Application'),
    metadata: z
      .object({
        name: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a DNS-1123 subdomain'),
        namespace: z.string().optional(),
        labels: StringMap.optional(),
        annotations: StringMap.optional(),
        finalizers: z.array(z.string()).optional(),
      })
      .loose(),
    spec: z
      .object({
        project: z.string().optional(),
        source: Source.optional(),
        sources: z.array(Source).optional(),
        destination: z
          .object({
            server: z.string().optional(),
            namespace: z.string().optional(),
            name: z.string().optional(),
          })
          .loose(),
        syncPolicy: z
          .object({
            automated: z
              .object({
                prune: z.boolean().optional(),
                selfHeal: z.boolean().optional(),
                allowEmpty: z.boolean().optional(),
                enabled: z.boolean().optional(),
              })
              .loose()
              .optional(),
            syncOptions: z.array(z.string()).optional(),
            retry: z
              .object({
                limit: z.number().int().optional(),
                backoff: z
                  .object({
                    duration: z.string().optional(),
                    factor: z.number().int().optional(),
                    maxDuration: z.string().optional(),
                  })
                  .loose()
                  .optional(),
                refresh: z.boolean().optional(),
              })
              .loose()
              .optional(),
          })
          .loose()
          .optional(),
        revisionHistoryLimit: z.number().int().optional(),
      })
      .loose(),
  })
  .loose();
export type ApplicationManifest = z.infer<typeof ApplicationManifest>;

export const CONTROL_PLANE_NAMESPACE = 'argocd';

export interface ApplicationDefinition {
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'labels' | 'annotations' | 'finalizers'>;
  spec: ApplicationSpec;
}

/** Parses an Application manifest; the error message lists each problem with its key path. */
export function parseApplicationManifest(value: unknown): ApplicationDefinition {
  const parsed = ApplicationManifest.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new Error(`invalid Application manifest: ${problems.join('; ')}`);
  }
  const { metadata, spec } = parsed.data;
  return {
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace ?? CONTROL_PLANE_NAMESPACE,
      ...(metadata.labels ? { labels: metadata.labels } : {}),
      ...(metadata.annotations ? { annotations: metadata.annotations } : {}),
      ...(metadata.finalizers ? { finalizers: metadata.finalizers } : {}),
    },
    spec: { ...spec, project: spec.project || 'default' } as ApplicationSpec,
  };
}

export function isApplicationObject(object: KubeObject): boolean {
  return object.kind === 'Application' && object.apiVersion.startsWith('argoproj.io/');
}

/** `spec.syncPolicy.automated` present and not `enabled: false` (`IsAutomatedSyncEnabled`). */
export function isAutomated(spec: ApplicationSpec): boolean {
  const automated = spec.syncPolicy?.automated;
  return automated !== undefined && automated.enabled !== false;
}

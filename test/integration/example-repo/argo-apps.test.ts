/**
 * The Argo CD Applications of the example (argo/): valid against Argo CD's CRD schema, synced
 * the way stackswap expects, and renderable exactly as Argo CD would render them.
 */
import { describe, expect, it } from 'vitest';
import { copyExample, projectRoot, readYaml, renderApp, yamlFilesIn } from './example-repo.ts';
import { validateApplication } from './models.ts';

const REPO_URL = 'https://gitlab.example.com/platform/stackswap-config.git';

interface Application {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: {
    project: string;
    source: {
      repoURL: string;
      targetRevision: string;
      path: string;
      helm?: { valueFiles?: string[] };
      directory?: unknown;
    };
    destination: { server: string; namespace: string };
    syncPolicy?: { automated?: { prune?: boolean; selfHeal?: boolean }; syncOptions?: string[] };
  };
}

async function loadApplications(): Promise<Map<string, Application>> {
  const files = [...(await yamlFilesIn('argo')), ...(await yamlFilesIn('argo/apps'))];
  const apps = new Map<string, Application>();
  for (const file of files) apps.set(file, (await readYaml(projectRoot, file)) as Application);
  return apps;
}

describe('argo/', () => {
  it('holds the root app-of-apps and the applications of my-app', async () => {
    const apps = await loadApplications();
    expect([...apps.keys()]).toEqual([
      'argo/root.yaml',
      'argo/apps/ingress.yaml',
      'argo/apps/my-app-blue.yaml',
      'argo/apps/my-app-green.yaml',
    ]);
    for (const [file, app] of apps) {
      expect(app.kind, file).toBe('Application');
      expect(app.apiVersion, file).toBe('argoproj.io/v1alpha1');
      expect(app.metadata.namespace, file).toBe('argocd');
      expect(app.spec.project, file).toBe('default');
      expect(app.spec.source.repoURL, file).toBe(REPO_URL);
      expect(app.spec.source.targetRevision, file).toBe('main');
      expect(app.spec.destination.server, file).toBe('https://kubernetes.default.svc');
    }
  });

  it('validates every Application against the Argo CD schema', async () => {
    for (const [, app] of await loadApplications()) validateApplication(app);
  });

  it('schema validation rejects a broken Application', async () => {
    const app = (await loadApplications()).get('argo/apps/my-app-blue.yaml')!;
    const noDestination = structuredClone(app) as Partial<Application['spec']> & Application;
    delete (noDestination.spec as Partial<Application['spec']>).destination;
    expect(() => validateApplication(noDestination)).toThrow(/destination/);

    const valueFilesAsText = structuredClone(app) as unknown as {
      spec: { source: { helm: { valueFiles: unknown } } };
    };
    valueFilesAsText.spec.source.helm.valueFiles = 'values-blue.yaml';
    expect(() => validateApplication(valueFilesAsText)).toThrow(/valueFiles/);
  });

  it('lets root sync itself but leaves the colour and ingress apps to stackswap', async () => {
    const apps = await loadApplications();
    const root = apps.get('argo/root.yaml')!;
    expect(root.metadata.name).toBe('root');
    expect(root.spec.source.path).toBe('argo/apps');
    expect(root.spec.source.directory).toBeDefined();
    expect(root.spec.syncPolicy?.automated).toEqual({ prune: true, selfHeal: true });

    for (const file of ['argo/apps/my-app-blue.yaml', 'argo/apps/my-app-green.yaml']) {
      const app = apps.get(file)!;
      expect(app.spec.syncPolicy?.automated, file).toBeUndefined();
      expect(app.spec.syncPolicy?.syncOptions, file).toContain('CreateNamespace=true');
    }
    expect(apps.get('argo/apps/ingress.yaml')!.spec.syncPolicy?.automated).toBeUndefined();
  });

  it.each(['my-app-blue', 'my-app-green', 'ingress'])(
    'renders %s as Argo CD would: its path, value files, name and namespace',
    async (name) => {
      const app = (await readYaml(projectRoot, `argo/apps/${name}.yaml`)) as Application;
      expect(app.metadata.name).toBe(name);
      const root = await copyExample(['charts', 'apps']);
      const objects = await renderApp(root, {
        path: app.spec.source.path,
        releaseName: app.metadata.name,
        namespace: app.spec.destination.namespace,
        valueFiles: app.spec.source.helm?.valueFiles ?? [],
      });
      expect(objects.length).toBeGreaterThan(0);
      for (const object of objects) {
        expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe(
          app.spec.destination.namespace,
        );
      }
    },
  );
});

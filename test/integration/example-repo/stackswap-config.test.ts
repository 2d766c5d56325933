/**
 * stackswap.yaml and releases/my-app.yaml of the example: they validate, and what they say
 * (files, keys, namespaces, app names) is what the charts and the Argo CD apps really use.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COLOURS } from '../../../src/config/names.ts';
import { ReleasePlanFile, checkPlanAgainstStack } from '../../../src/config/release-plan.ts';
import {
  StackswapConfigFile,
  resolveConfig,
  type StackConfig,
  type StackswapConfig,
} from '../../../src/config/stackswap-config.ts';
import { projectRoot, readYaml, valueAt, yamlFilesIn } from './example-repo.ts';

function resolved(file: unknown): StackswapConfig {
  const config = resolveConfig(StackswapConfigFile.parse(file));
  if (Array.isArray(config)) throw new Error(`resolveConfig: ${JSON.stringify(config)}`);
  return config;
}

async function loadConfig(): Promise<{ config: StackswapConfig; stack: StackConfig }> {
  const config = resolved(await readYaml(projectRoot, 'stackswap.yaml'));
  return { config, stack: config.stacks.get('my-app')! };
}

interface Application {
  metadata: { name: string; namespace: string };
  spec: {
    project: string;
    source: { path: string; helm?: { valueFiles?: string[] } };
    destination: { namespace: string };
  };
}

async function argoApps(): Promise<Map<string, Application>> {
  const byName = new Map<string, Application>();
  for (const file of [...(await yamlFilesIn('argo')), ...(await yamlFilesIn('argo/apps'))]) {
    const app = (await readYaml(projectRoot, file)) as Application;
    byName.set(app.metadata.name, app);
  }
  return byName;
}

describe('stackswap.yaml of the example', () => {
  it('resolves to the conventional layout of my-app', async () => {
    const { config, stack } = await loadConfig();
    expect(config.appNamespace).toBe('argocd');
    expect([...config.stacks.keys()]).toEqual(['my-app']);
    // The verification block is the one non-default section (test/unit/verify covers it).
    const { verification, ...layout } = stack;
    expect(verification?.steps.weights).toEqual([10, 50, 100]);
    expect(layout).toEqual({
      name: 'my-app',
      components: [
        { name: 'my-frontend', tagKey: ['my-frontend', 'image', 'tag'] },
        { name: 'my-backend', tagKey: ['my-backend', 'image', 'tag'] },
      ],
      replicas: 2,
      namespaces: { blue: 'my-app-blue', green: 'my-app-green' },
      colourValuesFile: {
        blue: 'apps/my-app/values-blue.yaml',
        green: 'apps/my-app/values-green.yaml',
      },
      replicasKey: ['global', 'replicas'],
      liveFile: 'apps/ingress/values.yaml',
      liveKey: ['global', 'live'],
      planFile: 'releases/my-app.yaml',
      apps: { blue: 'my-app-blue', green: 'my-app-green', ingress: 'ingress' },
      rootApp: 'root',
      retentionMs: 30 * 60_000,
      autoScaleDown: false,
      waitForWindow: false,
      viaMergeRequest: 'never',
      autoSwap: false,
    } satisfies Omit<StackConfig, 'verification'>);
  });

  it('writes out nothing but defaults besides components, replicas and root', async () => {
    const { config } = await loadConfig();
    for (const stack of config.stacks.values()) delete stack.verification;
    const minimal = resolved({
      version: 1,
      argocd: { appNamespace: 'argocd' },
      stacks: { 'my-app': { components: ['my-frontend', 'my-backend'], argocd: { root: 'root' } } },
    });
    expect(config).toEqual(minimal);
  });

  it('names a live key that holds a colour in the ingress values file', async () => {
    const { stack } = await loadConfig();
    const values = await readYaml(projectRoot, stack.liveFile);
    expect(COLOURS).toContain(valueAt(values, stack.liveKey));
  });

  it('names replicas and tag keys that exist in both colour files, and only there', async () => {
    const { stack } = await loadConfig();
    for (const colour of COLOURS) {
      const values = await readYaml(projectRoot, stack.colourValuesFile[colour]);
      expect(valueAt(values, stack.replicasKey), colour).toEqual(expect.any(Number));
      expect(valueAt(values, ['global', 'colour']), colour).toBe(colour);
      for (const component of stack.components) {
        // A string: quoted in the file, so "1.10" can never become 1.1.
        expect(valueAt(values, component.tagKey), `${colour} ${component.name}`).toEqual(
          expect.any(String),
        );
      }
    }
    // Tags and replicas are pinned per colour, never in the shared file.
    const shared = await readYaml(
      projectRoot,
      path.posix.join(path.posix.dirname(stack.colourValuesFile.blue), 'values.yaml'),
    );
    expect(valueAt(shared, stack.replicasKey)).toBeUndefined();
    for (const component of stack.components) {
      expect(valueAt(shared, component.tagKey), component.name).toBeUndefined();
    }
  });

  it('starts with blue live at full size and green idle', async () => {
    const { stack } = await loadConfig();
    const replicas = async (colour: 'blue' | 'green') =>
      valueAt(await readYaml(projectRoot, stack.colourValuesFile[colour]), stack.replicasKey);
    expect(valueAt(await readYaml(projectRoot, stack.liveFile), stack.liveKey)).toBe('blue');
    expect(await replicas('blue')).toBe(stack.replicas);
    expect(await replicas('green')).toBe(0);
  });

  it('lists the same components as the umbrella chart dependencies', async () => {
    const { stack } = await loadConfig();
    const chart = (await readYaml(projectRoot, 'apps/my-app/Chart.yaml')) as {
      dependencies: { name: string; repository: string }[];
    };
    expect(chart.dependencies.map((d) => d.name)).toEqual(stack.components.map((c) => c.name));
    for (const dependency of chart.dependencies) {
      expect(dependency.repository).toBe(`file://../../charts/${dependency.name}`);
    }
  });

  it('names the Argo CD apps of argo/, with the namespaces and files they use', async () => {
    const { config, stack } = await loadConfig();
    const apps = await argoApps();
    expect([...apps.keys()].sort()).toEqual(
      [stack.apps.blue, stack.apps.green, stack.apps.ingress, stack.rootApp].sort(),
    );
    for (const app of apps.values()) expect(app.metadata.namespace).toBe(config.appNamespace);

    for (const colour of COLOURS) {
      const app = apps.get(stack.apps[colour])!;
      expect(app.spec.destination.namespace).toBe(stack.namespaces[colour]);
      // The Application renders the very file stackswap edits for this colour.
      const file = stack.colourValuesFile[colour];
      expect(app.spec.source.path).toBe(path.posix.dirname(file));
      expect(app.spec.source.helm?.valueFiles).toContain(path.posix.basename(file));
      expect(app.spec.source.helm?.valueFiles).not.toContain(
        path.posix.basename(stack.colourValuesFile[colour === 'blue' ? 'green' : 'blue']),
      );
    }

    const ingress = apps.get(stack.apps.ingress)!;
    expect(ingress.spec.source.path).toBe(path.posix.dirname(stack.liveFile));
    expect(ingress.spec.source.helm?.valueFiles).toContain(path.posix.basename(stack.liveFile));
  });

  it('routes to the namespaces it configures', async () => {
    const { stack } = await loadConfig();
    const values = await readYaml(projectRoot, stack.liveFile);
    const stacks = valueAt(values, ['ingress', 'stacks']) as {
      name: string;
      namespaces?: Record<string, string>;
    }[];
    const entry = stacks.find((s) => s.name === stack.name);
    expect(entry?.namespaces).toEqual(stack.namespaces);
  });
});

describe('releases/my-app.yaml', () => {
  it('is a complete plan for my-app', async () => {
    const { stack } = await loadConfig();
    const plan = ReleasePlanFile.parse(await readYaml(projectRoot, stack.planFile));
    expect(plan.stack).toBe('my-app');
    expect(checkPlanAgainstStack(plan.components, stack, { file: stack.planFile })).toEqual({
      'my-frontend': '1.0.0',
      'my-backend': '1.0.0',
    });
  });

  it('matches the tags of the live colour (the example starts settled)', async () => {
    const { stack } = await loadConfig();
    const plan = ReleasePlanFile.parse(await readYaml(projectRoot, stack.planFile));
    const live = valueAt(await readYaml(projectRoot, stack.liveFile), stack.liveKey) as 'blue';
    const values = await readYaml(projectRoot, stack.colourValuesFile[live]);
    for (const component of stack.components) {
      expect(valueAt(values, component.tagKey)).toBe(plan.components[component.name]);
    }
  });
});

/**
 * stackswap's own chart (deploy/chart/stackswap), its Argo CD Application and its Dockerfile,
 * kept honest:
 *
 * - `helm lint --strict` and `helm template` with the real helm (src/helm/binary.ts) for several
 *   value sets, and value sets that cannot work refused with a message naming the value;
 * - every rendered object validated against its schema (kubernetes-models, prometheus-operator's
 *   CRDs for the ServiceMonitor and PrometheusRule);
 * - every metric the alerts and the dashboard name is exported by a live service's /metrics
 *   (PromQL parsed with Prometheus's own grammar, so a renamed metric breaks the build);
 * - the env the chart sets is exactly the service's list (SERVICE_ENVIRONMENT), secrets only
 *   through secretKeyRef;
 * - the Dockerfile, parsed: multi-stage, production dependencies only, the compiled build,
 *   a non-root user.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, PersistentVolumeClaim, Service, ServiceAccount } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { helmBinary } from '../../../src/helm/binary.ts';
import { SERVICE_ENVIRONMENT } from '../../../src/server/config.ts';
import { bearer, gitOnlyService, type GitOnlyService } from '../server/helpers.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CHART = path.join(ROOT, 'deploy/chart/stackswap');
const work = mkdtempSync(path.join(os.tmpdir(), 'stackswap-chart-'));

type Values = Record<string, unknown>;
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
}

const REQUIRED: Values = {
  config: { repo: 'https://gitlab.example.com/platform/config.git' },
  existingSecret: 'stackswap',
};

const VALUE_SETS: Record<string, Values> = {
  defaults: REQUIRED,
  'one replica, file journal on a volume': {
    ...REQUIRED,
    replicaCount: 1,
    database: { enabled: false },
    persistence: { enabled: true, size: '2Gi' },
    networkPolicy: { enabled: false },
    podDisruptionBudget: { enabled: false },
  },
  'everything on': {
    ...REQUIRED,
    replicaCount: 3,
    image: { repository: 'registry.example.com/stackswap', tag: '0.1.0-rc1' },
    config: {
      repo: 'https://gitlab.example.com/platform/config.git',
      branch: 'release',
      gitUsername: 'stackswap-bot',
      shutdownGraceSeconds: 45,
    },
    argocd: {
      server: 'argocd-server.argocd.svc:443',
      insecure: true,
      appNamespace: 'argocd',
      project: 'platform',
    },
    slack: { enabled: true },
    publicUrl: 'https://stackswap.example.com',
    forges: {
      forge: 'gitlab',
      project: 'platform/config',
      gitlab: { enabled: true },
      github: { enabled: true },
    },
    verification: {
      prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090',
      ingressUrl: 'http://istio-ingressgateway.istio-system.svc',
    },
    serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    prometheusRule: { enabled: true },
    grafanaDashboard: { enabled: true },
    networkPolicy: {
      egress: [{ to: [{ namespaceSelector: {} }] }],
      extraIngressFrom: [{ ipBlock: { cidr: '10.0.0.0/8' } }],
    },
  },
};

let helm: string;

async function writeValues(name: string, values: Values): Promise<string> {
  const file = path.join(work, `${name.replace(/[^a-z0-9]+/gi, '-')}.yaml`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

async function template(name: string, values: Values): Promise<K8sObject[]> {
  const file = await writeValues(name, values);
  const { stdout } = await run(
    helm,
    ['template', 'stackswap', CHART, '--namespace', 'stackswap', '--values', file],
    { env: helmEnv(), maxBuffer: 32 * 1024 * 1024 },
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function helmEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: work,
    HELM_CACHE_HOME: path.join(work, 'helm-cache'),
    HELM_CONFIG_HOME: path.join(work, 'helm-config'),
    HELM_DATA_HOME: path.join(work, 'helm-data'),
  };
}

const MODELS: Record<string, (o: K8sObject) => { validate(): void }> = {
  'apps/v1/Deployment': (o) => new Deployment(o as never),
  'v1/Service': (o) => new Service(o as never),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as never),
  'v1/ConfigMap': (o) => new ConfigMap(o as never),
  'v1/PersistentVolumeClaim': (o) => new PersistentVolumeClaim(o as never),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o as never),
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => new ServiceMonitor(o as never),
  'monitoring.coreos.com/v1/PrometheusRule': (o) => new PrometheusRule(o as never),
};

const rendered: Record<string, K8sObject[]> = {};

beforeAll(async () => {
  helm = await helmBinary();
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    rendered[name] = await template(name, values);
  }
});

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const deploymentOf = (objects: K8sObject[]) => byKind(objects, 'Deployment')[0]!;
const containerOf = (objects: K8sObject[]) =>
  deploymentOf(objects).spec.template.spec.containers[0] as Record<string, any>;

describe('helm lint and template', () => {
  it.each(Object.keys(VALUE_SETS))('%s: helm lint --strict passes', async (name) => {
    const file = await writeValues(`lint-${name}`, VALUE_SETS[name]!);
    const { stdout } = await run(helm, ['lint', '--strict', CHART, '--values', file], {
      env: helmEnv(),
    });
    expect(stdout).toContain('0 chart(s) failed');
  });

  it.each(Object.keys(VALUE_SETS))('%s: every object is valid against its schema', async (name) => {
    const objects = rendered[name]!;
    expect(objects.length).toBeGreaterThan(3);
    for (const object of objects) {
      const model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(model, `no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(
        () => model!(object).validate(),
        `${object.kind} ${object.metadata.name}`,
      ).not.toThrow();
      expect(object.metadata.namespace ?? 'stackswap').toBe('stackswap');
    }
    // The chart never holds a secret.
    expect(byKind(objects, 'Secret')).toEqual([]);
  });

  it('renders what each value set asks for', () => {
    const kinds = (name: string) => rendered[name]!.map((o) => o.kind).sort();
    expect(kinds('defaults')).toEqual(
      ['Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount'].sort(),
    );
    expect(kinds('everything on')).toEqual(
      [
        'ConfigMap',
        'Deployment',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'PrometheusRule',
        'Service',
        'ServiceAccount',
        'ServiceMonitor',
      ].sort(),
    );
    const single = rendered['one replica, file journal on a volume']!;
    expect(kinds('one replica, file journal on a volume')).toEqual(
      ['Deployment', 'PersistentVolumeClaim', 'Service', 'ServiceAccount'].sort(),
    );
    expect(deploymentOf(single).spec.strategy.type).toBe('Recreate');
    expect(deploymentOf(rendered.defaults!).spec.replicas).toBe(2);
    expect(deploymentOf(rendered['everything on']!).spec.replicas).toBe(3);
    expect(containerOf(rendered['everything on']!).image).toBe(
      'registry.example.com/stackswap:0.1.0-rc1',
    );
    expect(containerOf(rendered.defaults!).image).toBe('ghcr.io/stackswap/stackswap:0.1.0');
  });

  it('the Deployment: non-root, read-only root filesystem, resources, probes, grace = STACKSWAP_SHUTDOWN_GRACE_SECONDS + settle', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      const pod = deploymentOf(objects).spec.template.spec;
      const container = containerOf(objects);
      expect(pod.securityContext.runAsNonRoot, name).toBe(true);
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(container.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(container.resources.requests).toMatchObject({ cpu: expect.any(String) });
      expect(container.resources.limits.memory).toEqual(expect.any(String));
      expect(container.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
      expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
      const env = Object.fromEntries(
        (container.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
      );
      const grace = Number(env.STACKSWAP_SHUTDOWN_GRACE_SECONDS);
      expect(pod.terminationGracePeriodSeconds, name).toBe(grace + 15);
      // Every writable path is a volume.
      const mounts = (container.volumeMounts as { mountPath: string }[]).map((m) => m.mountPath);
      expect(mounts).toEqual(
        expect.arrayContaining([env.STACKSWAP_CACHE_DIR, env.STACKSWAP_DATA_DIR, '/tmp']),
      );
    }
    expect(
      deploymentOf(rendered['everything on']!).spec.template.spec.terminationGracePeriodSeconds,
    ).toBe(60);
  });

  it.each([
    ['no config repo', { existingSecret: 's' }, 'config.repo is required'],
    ['no secret', { config: { repo: 'https://x/y.git' } }, 'existingSecret is required'],
    [
      'several replicas without the database',
      { ...REQUIRED, replicaCount: 3, database: { enabled: false } },
      'replicaCount > 1 needs database.enabled',
    ],
  ])('%s: refused with a message naming the value', async (name, values, message) => {
    await expect(template(`bad-${name}`, values as Values)).rejects.toThrow(message);
  });
});

describe('the environment the chart sets', () => {
  const envOf = (objects: K8sObject[]) =>
    containerOf(objects).env as {
      name: string;
      value?: string;
      valueFrom?: { secretKeyRef?: { name: string; key: string } };
    }[];

  it('is exactly the service list (SERVICE_ENVIRONMENT), with everything on', () => {
    const provided = Object.entries(SERVICE_ENVIRONMENT)
      .filter(([, source]) => source !== 'none')
      .map(([name]) => name)
      .sort();
    expect(
      envOf(rendered['everything on']!)
        .map((e) => e.name)
        .sort(),
    ).toEqual(provided);
  });

  it('in every value set: only variables the service reads, secrets only from the Secret', () => {
    for (const [name, objects] of Object.entries(rendered)) {
      for (const e of envOf(objects)) {
        const source = SERVICE_ENVIRONMENT[e.name as keyof typeof SERVICE_ENVIRONMENT];
        expect(source, `${name}: ${e.name}`).toBeDefined();
        expect(source, `${name}: ${e.name}`).not.toBe('none');
        if (source === 'secret') {
          expect(e.value, e.name).toBeUndefined();
          expect(e.valueFrom?.secretKeyRef?.name).toBe('stackswap');
        } else {
          expect(e.valueFrom, e.name).toBeUndefined();
        }
      }
    }
  });
});

describe('alerts and dashboard', () => {
  let service: GitOnlyService;
  let exported: Set<string>;

  beforeAll(async () => {
    service = await gitOnlyService();
    const res = await service.app.inject({ url: '/metrics', headers: bearer('read') });
    expect(res.statusCode).toBe(200);
    exported = new Set();
    for (const line of res.body.split('\n')) {
      const match = /^# TYPE (\S+) (\S+)/.exec(line);
      if (!match) continue;
      const [, name, type] = match as unknown as [string, string, string];
      exported.add(name);
      if (type === 'histogram') {
        for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
      }
    }
  });
  afterAll(() => service?.close());

  /** The metric names an expression selects; throws on PromQL that does not parse. */
  function metricsOf(expr: string): string[] {
    // Grafana's variables are not PromQL: stand-ins of the same syntactic kind.
    const text = expr.replaceAll('$__rate_interval', '5m').replaceAll('$stack', '.*');
    const names: string[] = [];
    const cursor = promql.parse(text).cursor();
    do {
      if (cursor.type.isError) throw new Error(`not PromQL at ${cursor.from}: ${expr}`);
      if (cursor.name === 'Identifier' && cursor.node.parent?.name === 'VectorSelector') {
        names.push(text.slice(cursor.from, cursor.to));
      }
    } while (cursor.next());
    return names;
  }

  it('every alert names metrics /metrics exports, and covers what it must', () => {
    const rule = byKind(rendered['everything on']!, 'PrometheusRule')[0]!;
    const rules = rule.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules) as {
      alert: string;
      expr: string;
    }[];
    expect(rules.map((r) => r.alert).sort()).toEqual(
      [
        'StackswapDatabaseUnreachable',
        'StackswapNotificationsFailing',
        'StackswapOperationStuck',
        'StackswapOperationsFailing',
        'StackswapVerificationFailing',
      ].sort(),
    );
    for (const r of rules) {
      const names = metricsOf(r.expr);
      expect(names.length, r.alert).toBeGreaterThan(0);
      for (const name of names) expect(exported, `${r.alert}: ${name}`).toContain(name);
      // Scoped to this release's scrape job (the Service's name).
      expect(r.expr).toContain('job="stackswap"');
    }
  });

  it('every dashboard query names metrics /metrics exports; the panels cover what they must', () => {
    const configMap = byKind(rendered['everything on']!, 'ConfigMap')[0]!;
    expect(configMap.metadata.labels?.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(configMap.data['stackswap.json']) as {
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { query?: { query: string } | string }[] };
    };
    const all = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    const used = new Set(all.flatMap(metricsOf));
    for (const name of used) expect(exported, name).toContain(name);
    for (const needed of [
      'stackswap_stack_info',
      'stackswap_traffic_weight',
      'stackswap_operations_total',
      'stackswap_operation_duration_seconds_bucket',
      'stackswap_argocd_wait_seconds_bucket',
      'stackswap_analysis_last_value',
    ]) {
      expect(used, needed).toContain(needed);
    }
    // The stack variable's query reads an exported metric too.
    const variable = JSON.stringify(dashboard.templating.list);
    const match = /label_values\((\w+), stack\)/.exec(variable);
    expect(exported).toContain(match?.[1]);
  });
});

describe('the Argo CD Application', () => {
  const file = path.join(ROOT, 'deploy/argocd/stackswap.yaml');
  const app = parseYaml(readFileSync(file, 'utf8')) as K8sObject;

  it('is a valid Application installing the chart from deploy/chart/stackswap', () => {
    expect(() => new Application(app as never).validate()).not.toThrow();
    expect(app.spec.source.path).toBe('deploy/chart/stackswap');
    expect(existsSync(path.join(ROOT, app.spec.source.path, 'Chart.yaml'))).toBe(true);
    expect(app.spec.destination.namespace).toBe('stackswap');
  });

  it('its values render valid objects', async () => {
    const objects = await template('argocd-application', app.spec.source.helm.valuesObject);
    for (const object of objects) {
      expect(() => MODELS[`${object.apiVersion}/${object.kind}`]!(object).validate()).not.toThrow();
    }
    expect(deploymentOf(objects).spec.replicas).toBe(2);
  });
});

describe('the Dockerfile', () => {
  const text = readFileSync(path.join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const dockerfile = DockerfileParser.parse(text);
  const stages: { name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const args = instruction.getArguments().map((a) => a.getValue());
      const as = args.findIndex((a) => a.toUpperCase() === 'AS');
      stages.push({ name: as >= 0 ? args[as + 1] : undefined, instructions: [] });
    }
    stages.at(-1)?.instructions.push(instruction);
  }
  /** An instruction's arguments, with its flags (`--from=build`) first, as written. */
  const args = (i: Instruction) => {
    const flags = (
      i as Instruction & { getFlags?: () => { getName(): string; getValue(): string | null }[] }
    ).getFlags?.();
    const shown = (flags ?? []).map((f) => `--${f.getName()}=${f.getValue() ?? ''}`);
    return [...shown, i.getArgumentsContent() ?? ''].join(' ');
  };
  const final = stages.at(-1)!;
  const inFinal = (keyword: string) => final.instructions.filter((i) => i.getKeyword() === keyword);

  it('parses, and is multi-stage', () => {
    expect(dockerfile.getInstructions().length).toBeGreaterThan(5);
    expect(stages.length).toBeGreaterThanOrEqual(3);
  });

  it('compiles in a build stage and ships only its dist/', () => {
    const build = stages.find((s) =>
      s.instructions.some((i) => i.getKeyword() === 'RUN' && args(i).includes('npm run build')),
    );
    expect(build?.name).toBeDefined();
    const copies = inFinal('COPY').map(args);
    expect(copies).toContain(`--from=${build!.name} /app/dist ./dist`);
    // No sources and no dev dependencies in the image.
    for (const copy of copies) expect(copy).not.toMatch(/(^|\s)(\.|src|\.\/src)(\s|$)/);
    const scripts = (
      JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    expect(scripts.build).toContain('tsconfig.build.json');
  });

  it('installs production dependencies only, without install scripts, into the image', () => {
    const deps = stages.find((s) =>
      s.instructions.some(
        (i) =>
          i.getKeyword() === 'RUN' &&
          args(i).includes('npm ci') &&
          args(i).includes('--omit=dev') &&
          args(i).includes('--ignore-scripts'),
      ),
    );
    expect(deps?.name).toBeDefined();
    expect(inFinal('COPY').map(args)).toContain(
      `--from=${deps!.name} /app/node_modules ./node_modules`,
    );
    expect(
      final.instructions.some((i) => i.getKeyword() === 'RUN' && args(i).includes('npm ci')),
    ).toBe(false);
  });

  it('runs as a non-root user the compiled CLI serve', () => {
    const users = inFinal('USER').map(args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    const entrypoint = inFinal('ENTRYPOINT').map(args).at(-1)!;
    expect(entrypoint).toContain('dist/cli/main.js');
    expect(existsSync(path.join(ROOT, 'src/cli/main.ts'))).toBe(true);
    expect(inFinal('CMD').map(args).at(-1)).toContain('serve');
    // The chart's pod user is the image's.
    const values = parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as {
      podSecurityContext: { runAsUser: number; runAsGroup: number };
    };
    expect(users.at(-1)).toBe(
      `${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`,
    );
  });
});

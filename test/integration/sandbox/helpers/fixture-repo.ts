/**
 * A small config repo with the example's shape (stackswap.yaml, charts/, apps/ umbrella charts
 * with file:// dependencies, argo/root.yaml app-of-apps over argo/apps, releases/), seeded into
 * a temporary bare repo with `seedSandboxRepo`, plus a clone to push further commits from.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { git } from '../../../../src/sandbox/argocd/git.ts';
import { seedSandboxRepo } from '../../../../src/sandbox/seed.ts';

const AUTHOR = {
  GIT_AUTHOR_NAME: 'test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
};

const WEB_DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Chart.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    stackswap.io/colour: {{ required "global.colour is required" .Values.global.colour }}
spec:
  replicas: {{ required "global.replicas is required: set it in values-<colour>.yaml" .Values.global.replicas | int }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .Chart.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ .Chart.Name }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: {{ printf "%s:%s" .Values.image.repository (toString .Values.image.tag) | quote }}
          ports:
            - name: http
              containerPort: 8080
`;

const WEB_SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: {{ .Chart.Name }}
spec:
  selector:
    app.kubernetes.io/name: {{ .Chart.Name }}
  ports:
    - name: http
      port: 8080
      targetPort: http
`;

const VIRTUAL_SERVICE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: my-app
spec:
  hosts: [my-app.example.com]
  http:
    - route:
        - destination:
            host: web.my-app-{{ .Values.global.live }}.svc.cluster.local
          weight: 100
`;

export const appManifest = (
  name: string,
  path: string,
  namespace: string,
  valueFiles?: string[],
  extra = '',
) =>
  `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
${name === 'root' ? '' : '  labels:\n    stackswap.io/stack: my-app\n'}spec:
  project: default
  source:
    repoURL: https://git.example.invalid/config.git
    path: ${path}
    targetRevision: main
${valueFiles ? `    helm:\n      valueFiles: [${valueFiles.join(', ')}]\n` : ''}  destination:
    server: https://kubernetes.default.svc
    namespace: ${namespace}
${extra}`;

export function fixtureFiles(): Record<string, string> {
  return {
    'stackswap.yaml': 'version: 1\nstacks:\n  my-app:\n    components: [web]\n',
    'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    'charts/web/values.yaml':
      "global:\n  colour: ''\n  replicas: null\nimage:\n  repository: registry.example.invalid/web\n  tag: ''\n",
    'charts/web/templates/deployment.yaml': WEB_DEPLOYMENT,
    'charts/web/templates/service.yaml': WEB_SERVICE,
    'charts/ingress/Chart.yaml': 'apiVersion: v2\nname: ingress\nversion: 0.1.0\n',
    'charts/ingress/values.yaml': 'global:\n  live: blue\n',
    'charts/ingress/templates/virtualservice.yaml': VIRTUAL_SERVICE,
    'apps/my-app/Chart.yaml':
      'apiVersion: v2\nname: my-app\nversion: 0.1.0\ndependencies:\n  - name: web\n    version: 0.1.0\n    repository: file://../../charts/web\n',
    'apps/my-app/values.yaml': 'web:\n  image:\n    repository: registry.example.invalid/web\n',
    'apps/my-app/values-blue.yaml':
      'global:\n  colour: blue\n  replicas: 2\nweb:\n  image:\n    tag: "1.0.0"\n',
    'apps/my-app/values-green.yaml':
      'global:\n  colour: green\n  replicas: 0\nweb:\n  image:\n    tag: "1.0.0"\n',
    'apps/ingress/Chart.yaml':
      'apiVersion: v2\nname: ingress\nversion: 0.1.0\ndependencies:\n  - name: ingress\n    version: 0.1.0\n    repository: file://../../charts/ingress\n',
    'apps/ingress/values.yaml': 'global:\n  live: blue\n',
    'argo/root.yaml': appManifest('root', 'argo/apps', 'argocd'),
    'argo/apps/my-app-blue.yaml': appManifest('my-app-blue', 'apps/my-app', 'my-app-blue', [
      'values.yaml',
      'values-blue.yaml',
    ]),
    'argo/apps/my-app-green.yaml': appManifest('my-app-green', 'apps/my-app', 'my-app-green', [
      'values.yaml',
      'values-green.yaml',
    ]),
    'argo/apps/ingress.yaml': appManifest('ingress', 'apps/ingress', 'istio-system', [
      'values.yaml',
    ]),
    'releases/my-app.yaml': 'stack: my-app\ncomponents:\n  web: "1.1.0"\n',
  };
}

export interface FixtureRepo {
  /** The bare repo the stand-in serves. */
  bare: string;
  /** The seed commit. */
  seed: string;
  /** Writes (or, with null, deletes) files, commits and pushes to main; returns the new SHA. */
  push(files: Record<string, string | null>, message?: string): Promise<string>;
  /** Tags a commit in the bare repo. */
  tag(name: string, sha: string): Promise<void>;
  remove(): Promise<void>;
}

export async function createFixtureRepo(
  files: Record<string, string> = fixtureFiles(),
): Promise<FixtureRepo> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'stackswap-sandbox-test-'));
  const source = path.join(root, 'source');
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(source, file)), { recursive: true });
    await writeFile(path.join(source, file), text);
  }
  const bare = path.join(root, 'origin.git');
  const { commit } = await seedSandboxRepo({ sourceDir: source, bareRepoPath: bare });
  const work = path.join(root, 'work');
  await git(['clone', '-q', bare, work]);
  return {
    bare,
    seed: commit,
    async push(changes, message = 'change') {
      for (const [file, text] of Object.entries(changes)) {
        const full = path.join(work, file);
        if (text === null) await rm(full, { force: true });
        else {
          await mkdir(path.dirname(full), { recursive: true });
          await writeFile(full, text);
        }
      }
      await git(['add', '-A'], { cwd: work });
      await git(['commit', '-q', '--allow-empty', '-m', message], { cwd: work, env: AUTHOR });
      await git(['push', '-q', 'origin', 'HEAD:main'], { cwd: work });
      return git(['rev-parse', 'HEAD'], { cwd: work });
    },
    async tag(name, sha) {
      await git(['--git-dir', bare, 'tag', name, sha]);
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

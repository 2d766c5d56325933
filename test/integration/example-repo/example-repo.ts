/**
 * Helpers for the tests of the example config repo in the project root (stackswap.yaml,
 * charts/, apps/, argo/, releases/). Charts are rendered from a private temporary copy, so
 * parallel test files never race on `helm dependency build` writing apps/<app>/charts/.
 */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { renderChart, type RenderedObject } from '../../../src/helm/render.ts';

export const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Copies folders of the example (e.g. charts, apps) into a fresh temporary directory that is
 * removed when the current test finishes. Built dependencies (apps/<app>/charts/) are left
 * behind so that every render builds them from the charts being tested.
 */
export async function copyExample(folders: readonly string[]): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'stackswap-example-'));
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  for (const folder of folders) {
    await cp(path.join(projectRoot, folder), path.join(root, folder), {
      recursive: true,
      filter: (source) => !isBuiltDependencyFolder(path.relative(projectRoot, source)),
    });
  }
  return root;
}

function isBuiltDependencyFolder(relative: string): boolean {
  const parts = relative.split(path.sep);
  return parts.length === 3 && parts[0] === 'apps' && parts[2] === 'charts';
}

export async function readYaml(root: string, file: string): Promise<unknown> {
  return parse(await readFile(path.join(root, file), 'utf8'));
}

/** Sets one key in a values file the way stackswap does (YAML Document API, comments kept). */
export async function setValue(
  root: string,
  file: string,
  key: readonly string[],
  value: unknown,
): Promise<void> {
  const full = path.join(root, file);
  const doc = parseDocument(await readFile(full, 'utf8'));
  doc.setIn(key, value);
  await writeFile(full, doc.toString());
}

/** The value at a key path of parsed YAML, or undefined when any segment is missing. */
export function valueAt(data: unknown, key: readonly string[]): unknown {
  let current = data;
  for (const segment of key) {
    if (current === null || typeof current !== 'object' || !(segment in current)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

export interface AppRender {
  /** Chart folder relative to the copy's root, as an Argo CD Application's source.path. */
  path: string;
  releaseName: string;
  namespace: string;
  valueFiles: readonly string[];
}

export async function renderApp(root: string, app: AppRender): Promise<RenderedObject[]> {
  const { objects } = await renderChart({
    chartDir: path.join(root, app.path),
    releaseName: app.releaseName,
    namespace: app.namespace,
    valueFiles: app.valueFiles,
  });
  return objects;
}

export function objectsOfKind(objects: readonly RenderedObject[], kind: string): RenderedObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** The one object of a kind and name; fails the test when there is none or more than one. */
export function findObject(
  objects: readonly RenderedObject[],
  kind: string,
  name: string,
): RenderedObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  }
  return found[0]!;
}

/** The YAML files directly in a folder of the example, relative to the project root. */
export async function yamlFilesIn(folder: string): Promise<string[]> {
  const entries = await readdir(path.join(projectRoot, folder), { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => path.posix.join(folder, e.name))
    .sort();
}

/**
 * Our reading of a values file is Helm's: a probe chart renders `.Values | toJson` with the real
 * helm binary (src/helm/binary.ts), for every corpus file and for edited files (anchored values
 * with their aliases and merges, block scalars, a file with a duplicate key). What Helm sees
 * after an edit is what the editor promised: the new value, at every alias too.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import { renderChart } from '../../../src/helm/render.ts';
import { setValue, type ScalarValue } from '../../../src/gitops/values-edit.ts';
import { parseYamlSource, yamlToJS } from '../../../src/gitops/yaml-parse.ts';

const DIR = fileURLToPath(new URL('../../fixtures/values-corpus/', import.meta.url));
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

let chartDir: string;

beforeAll(async () => {
  chartDir = await mkdtemp(path.join(os.tmpdir(), 'stackswap-values-probe-'));
  await mkdir(path.join(chartDir, 'templates'));
  await writeFile(
    path.join(chartDir, 'Chart.yaml'),
    'apiVersion: v2\nname: values-probe\nversion: 0.1.0\n',
  );
  await writeFile(
    path.join(chartDir, 'templates', 'values.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n  values: {{ .Values | toJson | quote }}\n',
  );
});

afterAll(async () => {
  if (chartDir) await rm(chartDir, { recursive: true, force: true });
});

/** `.Values` as helm template sees it, for this values text. */
async function helmValues(text: string): Promise<unknown> {
  await writeFile(path.join(chartDir, 'values-under-test.yaml'), text);
  const { objects } = await renderChart({
    chartDir,
    releaseName: 'probe',
    namespace: 'probe',
    valueFiles: ['values-under-test.yaml'],
  });
  const data = objects[0]?.data as { values: string };
  return JSON.parse(data.values);
}

/** Our reading (the values editor's), normalised through JSON as Helm's toJson output is. */
function ourValues(text: string): unknown {
  const { doc } = parseYamlSource(text, { duplicateKeys: 'last-wins' });
  return JSON.parse(JSON.stringify(yamlToJS(doc)));
}

function getAt(root: unknown, keys: readonly string[]): unknown {
  let v = root;
  for (const k of keys) v = (v as Record<string, unknown>)[k];
  return v;
}

describe('Helm reads values files as we do', () => {
  it.each(FILES)('%s', async (name) => {
    const text = await readFile(DIR + name, 'utf8');
    expect(await helmValues(text)).toEqual(ourValues(text));
  });
});

describe('Helm sees what an edit promised', () => {
  const SOURCE = [
    'common: &common',
    '  image:',
    '    tag: v1',
    '  colour: &colour blue',
    'web: *common',
    'api:',
    '  <<: *common',
    '  replicas: 2',
    'pinned:',
    '  <<: *common',
    '  image: {tag: fixed}',
    'live: *colour',
    'script: |',
    '  echo one',
    '',
    'notes: >-',
    '  folded',
    '  text',
    'redis:',
    '  replica: {replicaCount: 0}',
    '  replica: {nodeSelector: {}}',
    '',
  ].join('\n');

  const EDITS: [string[], ScalarValue, string[][]][] = [
    [
      ['common', 'image', 'tag'],
      'v2',
      [
        ['web', 'image', 'tag'],
        ['api', 'image', 'tag'],
      ],
    ],
    [['common', 'colour'], 'green', [['web', 'colour'], ['api', 'colour'], ['live']]],
    [['script'], '  indented first\n\tthen a tab\n\n\n', []],
    [['notes'], 'para one\nline two\n\n  more indented\nlast', []],
    [['script'], 'echo "a: b" # not a comment\n', []],
  ];

  it.each(EDITS)('%j = %j', async (keys, value, followers) => {
    const out = setValue(SOURCE, keys, value);
    const helm = await helmValues(out);
    expect(helm).toEqual(ourValues(out));
    expect(getAt(helm, keys)).toBe(value);
    for (const f of followers) expect(getAt(helm, f), f.join('.')).toBe(value);
    expect(getAt(helm, ['pinned', 'image', 'tag'])).toBe('fixed');
    expect(getAt(helm, ['redis', 'replica'])).toEqual({ nodeSelector: {} });
  });

  it('on the corpus files with aliased anchors, block scalars or duplicates', async () => {
    let checked = 0;
    for (const name of FILES) {
      const source = await readFile(DIR + name, 'utf8');
      const parsed = parseYamlSource(source, { duplicateKeys: 'last-wins' });
      if (parsed.aliasedAnchors.size === 0 && parsed.duplicates.length === 0) continue;
      const targets = interestingTargets(parsed).slice(0, 4);
      let text = source;
      for (const [i, keys] of targets.entries()) {
        text = setValue(text, keys, i % 2 === 0 ? 'edited\nvalue\n' : 'edited-' + i);
      }
      const helm = await helmValues(text);
      expect(helm, name).toEqual(ourValues(text));
      checked++;
    }
    expect(checked).toBe(7);
  });
});

/** Paths of scalars under an aliased anchor, then block scalars, in document order. */
function interestingTargets(parsed: ReturnType<typeof parseYamlSource>): string[][] {
  const shared: string[][] = [];
  const blocks: string[][] = [];
  const dupPaths = new Set(parsed.duplicates.map((d) => d.path.join('\u0000')));
  const walk = (node: unknown, keys: string[], under: boolean): void => {
    if (isAlias(node)) return;
    const anchor = (node as { anchor?: string } | null)?.anchor;
    const inside = under || (anchor !== undefined && parsed.aliasedAnchors.has(anchor));
    if (isMap(node)) {
      for (const p of node.items) {
        if (!isScalar(p.key) || typeof p.key.value !== 'string') continue;
        const next = [...keys, p.key.value];
        if (dupPaths.has(next.join('\u0000'))) continue;
        walk(p.value, next, inside);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...keys, String(i)], inside));
    } else if (isScalar(node) && keys.length > 0 && node.tag === undefined) {
      if (inside && node.srcToken) shared.push(keys);
      else if (node.srcToken?.type === 'block-scalar') blocks.push(keys);
    }
  };
  walk(parsed.doc.contents, [], false);
  return [...shared.slice(0, 2), ...blocks.slice(0, 2)];
}

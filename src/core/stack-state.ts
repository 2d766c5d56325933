/**
 * The state of a stack as git says it is: which colour is live, and per colour the replicas and
 * the image tag of every component. Derived from the values files on every read (never cached),
 * so preconditions are always checked against the commit the next change will build on.
 */
import { ValidationError } from '../shared/errors.ts';
import type { RepoReader } from '../shared/repo-files.ts';
import { COLOURS, type Colour, otherColour } from '../config/names.ts';
import type { StackConfig } from '../config/stackswap-config.ts';
import { getScalar } from '../gitops/values-edit.ts';

export interface ColourState {
  colour: Colour;
  namespace: string;
  app: string;
  valuesFile: string;
  replicas: number;
  /** component -> image tag (undefined when the values file has none yet). */
  versions: Record<string, string | undefined>;
}

export interface StackState {
  stack: string;
  headSha: string;
  live: Colour;
  preview: Colour;
  colours: Record<Colour, ColourState>;
}

export async function readStackState(repo: RepoReader, stack: StackConfig): Promise<StackState> {
  const live = await readLiveColour(repo, stack);
  const entries = await Promise.all(
    COLOURS.map(async (c) => [c, await readColour(repo, stack, c)] as const),
  );
  return {
    stack: stack.name,
    headSha: repo.headSha,
    live,
    preview: otherColour(live),
    colours: Object.fromEntries(entries) as Record<Colour, ColourState>,
  };
}

export async function readLiveColour(repo: RepoReader, stack: StackConfig): Promise<Colour> {
  const source = await readRequired(repo, stack.liveFile);
  const value = getScalar(source, stack.liveKey, { file: stack.liveFile });
  if (value !== 'blue' && value !== 'green') {
    throw new ValidationError(
      value === undefined
        ? `has no ${stack.liveKey.join('.')}: cannot tell which colour is live`
        : `live colour is "${String(value)}"; it must be "blue" or "green"`,
      { where: { file: stack.liveFile, key: stack.liveKey.join('.') } },
    );
  }
  return value;
}

async function readColour(
  repo: RepoReader,
  stack: StackConfig,
  colour: Colour,
): Promise<ColourState> {
  const file = stack.colourValuesFile[colour];
  const source = await readRequired(repo, file);
  const replicas = getScalar(source, stack.replicasKey, { file }) ?? 0;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw new ValidationError(
      `replicas must be a whole number >= 0, got ${JSON.stringify(replicas)}`,
      {
        where: { file, key: stack.replicasKey.join('.') },
      },
    );
  }
  const versions: Record<string, string | undefined> = {};
  for (const component of stack.components) {
    const tag = getScalar(source, component.tagKey, { file });
    versions[component.name] = tag === undefined || tag === null ? undefined : String(tag);
  }
  return {
    colour,
    namespace: stack.namespaces[colour],
    app: stack.apps[colour],
    valuesFile: file,
    replicas,
    versions,
  };
}

async function readRequired(repo: RepoReader, file: string): Promise<string> {
  if (!(await repo.fileExists(file))) {
    throw new ValidationError('values file is missing', {
      where: { file },
      hint: 'check the paths in stackswap.yaml',
    });
  }
  return repo.readFile(file);
}

/** True when the colour carries exactly these versions for every component. */
export function carriesVersions(
  colour: ColourState,
  versions: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(versions).every(
    ([component, version]) => colour.versions[component] === version,
  );
}

export function formatVersions(versions: Readonly<Record<string, string | undefined>>): string {
  return Object.entries(versions)
    .map(([component, version]) => `${component}=${version ?? '-'}`)
    .join(',');
}

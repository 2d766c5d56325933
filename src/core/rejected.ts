/**
 * Rejected releases (issue 12 item 6): a version set that was reverted (by hand or by
 * verification) or stopped by verification is recorded as rejected, and deploy and swap refuse
 * that exact set again unless forced (`force: true`, CLI `--force`), so automation (a merge
 * deploy, an auto-swap, a pipeline re-run) never puts a known-bad release back.
 *
 * Where: one YAML file per stack in the config repo, `.stackswap/rejected/<stack>.yaml`,
 * written in the same commit as the revert or the stop (whose `Stackswap-Rejected` trailer
 * names the set too). A file rather than trailers alone: it is read at the head in one read,
 * whatever the history depth, and survives squash merges and history rewrites; it is outside
 * every chart, so Argo CD renders nothing differently. Removing an entry (a normal commit or
 * merge request) lifts the rejection.
 */
import { parse, stringify } from 'yaml';
import { z } from 'zod';
import { StackswapError, ValidationError } from '../shared/errors.ts';
import type { RepoReader } from '../shared/repo-files.ts';
import type { Actor } from './audit.ts';
import { formatVersions } from './stack-state.ts';

export const REJECTED_DIR = '.stackswap/rejected';
/** Entries kept per stack (the oldest go first). */
export const MAX_REJECTED = 100;

export function rejectedFile(stack: string): string {
  return `${REJECTED_DIR}/${stack}.yaml`;
}

const RejectedRelease = z
  .object({
    /** component -> version: the whole set (a release differing in any component is another). */
    versions: z.record(z.string(), z.string()),
    /** The commit at which it was judged: the swap a revert undid, the step, or the pre-swap head. */
    at: z.string().regex(/^[0-9a-f]{40}$/),
    /** What rejected it: revert (by hand or automatic), swap-abort (a step), swap-stop (pre-swap). */
    operation: z.string().min(1),
    by: z.string().min(1),
    reason: z.string(),
    date: z.string(),
  })
  .strict();
export type RejectedRelease = z.infer<typeof RejectedRelease>;

const RejectedFile = z
  .object({ stack: z.string(), rejected: z.array(RejectedRelease).default([]) })
  .strict();

/** The stack's rejected releases at the reader's commit (none when the file does not exist). */
export async function readRejected(repo: RepoReader, stack: string): Promise<RejectedRelease[]> {
  const file = rejectedFile(stack);
  if (!(await repo.fileExists(file))) return [];
  let data: unknown;
  try {
    data = parse(await repo.readFile(file));
  } catch (e) {
    throw new ValidationError(`not valid YAML: ${e instanceof Error ? e.message : String(e)}`, {
      where: { file },
      hint: 'fix or delete the file (deleting it lifts every rejection of the stack)',
    });
  }
  const parsed = RejectedFile.safeParse(data ?? { stack, rejected: [] });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(issue.message, {
      where: { file, key: issue.path.join('.') },
      hint: 'fix or delete the file (deleting it lifts every rejection of the stack)',
    });
  }
  return parsed.data.rejected;
}

/** Only the components that have a version: a set is compared on those. */
export function completeVersions(
  versions: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(versions).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

function sameSet(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** The latest rejection of exactly this version set, if any. */
export function findRejected(
  rejected: readonly RejectedRelease[],
  versions: Readonly<Record<string, string | undefined>>,
): RejectedRelease | undefined {
  const set = completeVersions(versions);
  if (Object.keys(set).length === 0) return undefined;
  return [...rejected].reverse().find((r) => sameSet(r.versions, set));
}

/**
 * Refuses a deploy or swap of a rejected set unless `force`: `release-rejected` (exit 6,
 * HTTP 412), saying when, by whom and why, and how to go ahead anyway.
 */
export async function refuseRejected(
  repo: RepoReader,
  stack: string,
  versions: Readonly<Record<string, string | undefined>>,
  options: { force: boolean | undefined; action: 'deploy' | 'swap to' },
): Promise<void> {
  if (options.force) return;
  const found = findRejected(await readRejected(repo, stack), versions);
  if (!found) return;
  throw new StackswapError(
    'release-rejected',
    `release ${formatVersions(found.versions)} of ${stack} was rejected at ${found.at.slice(0, 12)} by ${found.by} (${found.operation}, ${found.date}): ${found.reason}; pass --force (API: "force": true) to ${options.action} it anyway`,
    {
      hint: `or lift the rejection: remove its entry from ${rejectedFile(stack)} in the config repo`,
      details: { rejected: found, file: rejectedFile(stack) },
    },
  );
}

/**
 * The file edit recording `versions` as rejected, to be committed with the revert or stop: the
 * new content of the stack's rejected file (a set rejected again moves to the end, with the new
 * reason). Undefined when there is no version to record.
 */
export async function rejectionEdit(
  repo: RepoReader,
  stack: string,
  entry: {
    versions: Readonly<Record<string, string | undefined>>;
    at: string;
    operation: string;
    actor: Actor;
    reason: string;
    now: number;
  },
): Promise<Record<string, string> | undefined> {
  const versions = completeVersions(entry.versions);
  if (Object.keys(versions).length === 0) return undefined;
  // A broken record (hand-edited) never blocks a revert or a stop: it is replaced, and git
  // keeps the old content.
  const recorded = await readRejected(repo, stack).catch((e: unknown) => {
    if (e instanceof ValidationError) return [];
    throw e;
  });
  const existing = recorded.filter((r) => !sameSet(r.versions, versions));
  const record: RejectedRelease = {
    versions,
    at: entry.at,
    operation: entry.operation,
    by: entry.actor.requestedBy,
    reason: oneLine(entry.reason),
    date: new Date(entry.now).toISOString(),
  };
  const rejected = [...existing, record].slice(-MAX_REJECTED);
  const text =
    `# Releases of stack ${stack} that were reverted or stopped by verification (stackswap).\n` +
    `# deploy and swap refuse these version sets unless forced (--force, API "force": true).\n` +
    `# Remove an entry to lift its rejection.\n` +
    stringify({ stack, rejected }, { lineWidth: 0 });
  return { [rejectedFile(stack)]: text };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 500);
}

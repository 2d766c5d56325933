/**
 * The review of a merge request that changes release plans (issue 12, item 3), for the
 * service's webhook and for `stackswap plan comment` in CI. Per stack it answers what merging
 * would do, computed by the code that will do it:
 *
 * - validation problems, with file, line and key: the code of `stackswap plan validate`
 *   (loadConfig: structure and verification blocks; parsePlan against the stack);
 * - the values diff: the real `deploy` run in plan mode (src/core/plan-diff.ts) on the tree the
 *   merge produces, so it is exactly what the deploy after the merge commits;
 * - the rendered manifest diff of the preview colour (./manifests.ts, real `helm template`):
 *   the target branch as it is, against the merged tree with the deploy's edits;
 * - the change to the stack's `verification` block.
 *
 * The merged tree is the target branch tip with the files the MR changes taken from its head.
 * That is the merge result whenever the merge is clean (files the MR does not touch come from
 * the target, so a target that moved on is seen as it is), and it is what deploy will read.
 *
 * Both trees come from the config repo's cache clone: the MR head is fetched there by its
 * merge-request ref (GitLab refs/merge-requests/<iid>/head, GitHub refs/pull/<n>/head: a fork's
 * head exists only there) and written out to a scratch directory, because helm template needs
 * the whole chart directory (templates, file:// dependencies), which reading single files
 * through the forge API cannot give.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import type { PlanProblem, ResourceDiff } from '../../forges/comment.ts';
import type { ConfigRepo, PlanOutcome } from '../../gitops/git/repo.ts';
import type { Colour } from '../../config/names.ts';
import type { StackConfig, StackswapConfig } from '../../config/stackswap-config.ts';
import { StackswapError, messageOf } from '../../shared/errors.ts';
import { Progress } from '../../shared/progress.ts';
import type { RepoReader } from '../../shared/repo-files.ts';
import { CONFIG_FILE, loadStructuralConfig, parsePlan } from '../config-file.ts';
import { loadConfig } from '../load-config.ts';
import { deploy } from '../operations/deploy.ts';
import type { OperationContext } from '../operations/context.ts';
import { diffPlan, unifiedDiff, type FileDiff } from '../plan-diff.ts';
import { readStackState } from '../stack-state.ts';
import { manifestDiff } from './manifests.ts';

/** `releases/<name>.yaml` (or .yml) at the top of releases/, and stackswap.yaml. */
const RELEASE_FILE = /^releases\/[^/]+\.ya?ml$/;

/**
 * Whether a changed path is one a review is about: stackswap.yaml, releases/*.yaml, or the
 * plan file of a stack (a plan path configured elsewhere). Everything else (charts, values,
 * docs) is left to the usual review: stackswap does not own it.
 */
export function isPlanFile(file: string, planFiles: ReadonlySet<string> = new Set()): boolean {
  return file === CONFIG_FILE || RELEASE_FILE.test(file) || planFiles.has(file);
}

export interface StackReview {
  stack: string;
  verdict: 'success' | 'failed';
  /** One line for the commit status. */
  reason: string;
  /** The preview colour the merge deploys into (undefined when the state could not be read). */
  colour: Colour | undefined;
  problems: PlanProblem[];
  /** Unified diffs of the values files the deploy would commit, concatenated. */
  valuesDiff: string;
  files: FileDiff[];
  manifestDiff: ResourceDiff[];
  /** Where the rendered app comes from (its Application file, chart and value files). */
  rendered?: { from: string; chartDir: string; valueFiles: string[] };
  verificationDiff: string;
  /** The deploy's versions (component -> tag). */
  versions?: Record<string, string>;
}

export interface PlanReview {
  baseSha: string;
  headSha: string;
  /** The changed files a review is about (empty: nothing for stackswap, no comment, no status). */
  relevantFiles: string[];
  stacks: StackReview[];
}

export interface ReviewRequest {
  /** The config repo; both commits must be in its cache (see fetchReviewCommits). */
  repo: ConfigRepo;
  /** The target branch tip: what the preview colour runs, as git says. */
  baseSha: string;
  /** The MR head. */
  headSha: string;
  /** Paths the MR changes (Forge.listChangedFiles, or a diff from its merge base). */
  changedFiles: readonly string[];
  /** Scratch space for the two trees (default: the OS temp dir); removed afterwards. */
  scratchDir?: string;
  helmTimeoutMs?: number;
  /** Skip `helm template` (the manifest diff stays empty). */
  render?: boolean;
}

/**
 * Fetches what a review reads into the cache clone: the target branch tip (a sync) and the MR
 * head by its merge-request ref, pinned: a ref that moved past `headSha` is a ConflictError
 * (the review is for a head that no longer exists; the next webhook brings the new one).
 */
export async function fetchReviewCommits(
  repo: ConfigRepo,
  input: { headRef: string; headSha: string; extraShas?: readonly string[] },
): Promise<{ baseSha: string; headSha: string }> {
  const baseSha = await repo.sync();
  const headSha = await repo.fetchCommit(input.headRef, { expectSha: input.headSha });
  for (const sha of input.extraShas ?? []) await repo.fetchCommit(sha);
  return { baseSha, headSha };
}

/** The merged tree: the base with the changed files taken from the head. */
function mergedReader(
  base: RepoReader,
  head: RepoReader,
  changed: ReadonlySet<string>,
): RepoReader {
  return {
    headSha: head.headSha,
    readFile: (file) => (changed.has(file) ? head : base).readFile(file),
    fileExists: (file) => (changed.has(file) ? head : base).fileExists(file),
  };
}

function problemsOf(error: unknown, fallbackFile: string): PlanProblem[] {
  if (!(error instanceof StackswapError)) {
    return [{ file: fallbackFile, message: messageOf(error) }];
  }
  const w = error.where ?? {};
  const first: PlanProblem = {
    file: w.file ?? fallbackFile,
    ...(w.line !== undefined ? { line: w.line } : {}),
    ...(w.key ? { key: w.key } : {}),
    message: error.message,
  };
  const more = Array.isArray(error.details?.moreProblems)
    ? (error.details.moreProblems as unknown[]).map((text): PlanProblem => {
        const s = String(text);
        const i = s.indexOf(': ');
        return i > 0
          ? { file: w.file ?? fallbackFile, key: s.slice(0, i), message: s.slice(i + 2) }
          : { file: w.file ?? fallbackFile, message: s };
      })
    : [];
  return [first, ...more];
}

async function tryLoad<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch {
    return undefined;
  }
}

/** The stack's `verification` block as YAML text ('' without one), from stackswap.yaml. */
async function verificationText(reader: RepoReader, stack: string): Promise<string> {
  if (!(await reader.fileExists(CONFIG_FILE))) return '';
  try {
    const doc = parseDocument(await reader.readFile(CONFIG_FILE));
    const node = doc.getIn(['stacks', stack, 'verification'], true);
    if (node === undefined || node === null) return '';
    return stringify(node, { lineWidth: 0 });
  } catch {
    return '';
  }
}

/**
 * A planning "repo" for deploy in plan mode: its one attempt reads `reader`. The operation
 * also reads the repo directly before its attempt (the deploy's look-ahead: config, stack
 * state), so those reads go to `reader` too; `sync` has nothing to fetch.
 */
function planningRepo(reader: RepoReader): ConfigRepo {
  const planner = {
    headSha: reader.headSha,
    remoteUrl: '',
    readFile: (f: string) => reader.readFile(f),
    fileExists: (f: string) => reader.fileExists(f),
    log: async () => [],
    sync: async () => reader.headSha,
    plan: async (
      attempt: (tx: unknown) => Promise<{ kind: string; files?: Record<string, string> }>,
    ) => {
      const tx = {
        headSha: reader.headSha,
        attempt: 1,
        readFile: (f: string) => reader.readFile(f),
        fileExists: (f: string) => reader.fileExists(f),
        log: async () => [],
      };
      const plan = await attempt(tx);
      const previous: Record<string, string | null> = {};
      for (const file of Object.keys(plan.files ?? {})) {
        previous[file] = (await reader.fileExists(file)) ? await reader.readFile(file) : null;
      }
      return { plan, baseSha: reader.headSha, previous };
    },
  };
  return planner as unknown as ConfigRepo;
}

function oneLineReason(review: Omit<StackReview, 'reason' | 'verdict'>): {
  verdict: StackReview['verdict'];
  reason: string;
} {
  if (review.problems.length > 0) {
    const p = review.problems[0]!;
    const where = `${p.file}${p.line !== undefined ? `:${p.line}` : ''}${p.key ? ` ${p.key}` : ''}`;
    const more = review.problems.length > 1 ? ` (+${review.problems.length - 1} more)` : '';
    return { verdict: 'failed', reason: `${where}: ${p.message}${more}` };
  }
  const versions = review.versions
    ? Object.entries(review.versions)
        .map(([c, v]) => `${c}=${v}`)
        .join(', ')
    : '';
  const what =
    review.files.length === 0 ? 'nothing to deploy' : `deploys ${versions} into ${review.colour}`;
  const resources = review.manifestDiff.length;
  return {
    verdict: 'success',
    reason: `plan valid: ${what}; ${resources} rendered resource${resources === 1 ? '' : 's'} change${resources === 1 ? 's' : ''}`,
  };
}

/**
 * Reviews a plan change. Never throws for bad plans or configs (they become problems); throws
 * for faults (git, a commit missing from the cache), which the caller reports as such.
 */
export async function reviewPlanChange(request: ReviewRequest): Promise<PlanReview> {
  const { repo, baseSha, headSha } = request;
  const base = repo.readerAt(baseSha);
  const head = repo.readerAt(headSha);
  const changed = new Set(request.changedFiles);
  const merged = mergedReader(base, head, changed);

  const baseConfig = await tryLoad(() => loadStructuralConfig(base));
  let mergedConfig: StackswapConfig | undefined;
  let configProblems: PlanProblem[] = [];
  try {
    mergedConfig = await loadConfig(merged);
  } catch (error) {
    configProblems = problemsOf(error, CONFIG_FILE);
  }
  const structural = mergedConfig ?? (await tryLoad(() => loadStructuralConfig(merged)));
  const planFiles = new Set(
    [...(baseConfig?.stacks.values() ?? []), ...(structural?.stacks.values() ?? [])].map(
      (s) => s.planFile,
    ),
  );
  const relevantFiles = [...changed].filter((f) => isPlanFile(f, planFiles)).sort();
  if (relevantFiles.length === 0) return { baseSha, headSha, relevantFiles, stacks: [] };

  // The stacks the change is about.
  const known = structural ?? baseConfig;
  const names = new Set<string>();
  const orphanProblems: PlanProblem[] = [];
  for (const file of relevantFiles) {
    if (file === CONFIG_FILE) {
      for (const name of known?.stacks.keys() ?? []) names.add(name);
      continue;
    }
    const owner = [...(known?.stacks.values() ?? [])].find((s) => s.planFile === file);
    if (owner) names.add(owner.name);
    else if (changed.has(file) && (await head.fileExists(file))) {
      orphanProblems.push({
        file,
        message: `no stack in ${CONFIG_FILE} has this plan file (stacks: ${[...(known?.stacks.keys() ?? [])].join(', ') || 'none'})`,
      });
    }
  }
  if (names.size === 0) {
    // Nothing to attach the problems to but the files' own names.
    for (const p of [...orphanProblems, ...configProblems]) {
      names.add(path.posix.basename(p.file).replace(/\.ya?ml$/, '') || 'stackswap');
    }
  }

  const scratch = await mkdtemp(path.join(request.scratchDir ?? os.tmpdir(), 'stackswap-review-'));
  try {
    const baseDir = path.join(scratch, 'base');
    let baseExported = false;
    const stacks: StackReview[] = [];
    for (const name of [...names].sort()) {
      const stack = mergedConfig?.stacks.get(name);
      const verificationDiff = unifiedDiff(
        `${CONFIG_FILE} stacks.${name}.verification`,
        await verificationText(base, name),
        await verificationText(merged, name),
      );
      const partial: Omit<StackReview, 'reason' | 'verdict'> = {
        stack: name,
        colour: undefined,
        problems: [
          ...configProblems,
          ...orphanProblems.filter((p) => names.size === 1 || p.file.includes(name)),
        ],
        valuesDiff: '',
        files: [],
        manifestDiff: [],
        verificationDiff,
      };
      if (stack && partial.problems.length === 0) {
        await reviewStack(partial, stack, {
          merged,
          repo,
          baseSha,
          headSha,
          changed,
          scratch,
          baseDir,
          ensureBase: async () => {
            if (!baseExported) {
              await repo.exportTree(baseSha, baseDir);
              baseExported = true;
            }
          },
          render: request.render ?? true,
          ...(request.helmTimeoutMs ? { helmTimeoutMs: request.helmTimeoutMs } : {}),
        });
      } else if (!stack && mergedConfig) {
        partial.problems.push({
          file: CONFIG_FILE,
          key: `stacks.${name}`,
          message: `stack "${name}" is not in ${CONFIG_FILE} after this change`,
        });
      }
      stacks.push({ ...partial, ...oneLineReason(partial) });
    }
    return { baseSha, headSha, relevantFiles, stacks };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function reviewStack(
  review: Omit<StackReview, 'reason' | 'verdict'>,
  stack: StackConfig,
  env: {
    merged: RepoReader;
    repo: ConfigRepo;
    baseSha: string;
    headSha: string;
    changed: ReadonlySet<string>;
    scratch: string;
    baseDir: string;
    ensureBase: () => Promise<void>;
    render: boolean;
    helmTimeoutMs?: number;
  },
): Promise<void> {
  const { merged } = env;
  // The plan, as `plan validate` checks it.
  try {
    if (await merged.fileExists(stack.planFile)) {
      review.versions = parsePlan(await merged.readFile(stack.planFile), stack, stack.planFile);
    } else {
      review.problems.push({
        file: stack.planFile,
        message: `release plan ${stack.planFile} does not exist`,
      });
      return;
    }
  } catch (error) {
    review.problems.push(...problemsOf(error, stack.planFile));
    return;
  }
  // What the deploy after the merge would commit: deploy itself, in plan mode.
  let plannedFiles: Record<string, string> = {};
  try {
    const state = await readStackState(merged, stack);
    review.colour = state.preview;
    let captured: PlanOutcome<unknown> | undefined;
    const ctx: OperationContext = {
      repo: planningRepo(merged),
      actor: { requestedBy: 'merge request review', operationId: randomUUID() },
      progress: new Progress(),
      deployer: undefined,
      wait: false,
      timeoutMs: 60_000,
      now: Date.now,
      plan: (planned) => {
        captured = planned;
      },
    };
    await deploy(ctx, { stack: stack.name, plan: { source: 'repo' } });
    if (!captured) throw new Error('deploy planned no commit');
    const dry = diffPlan(captured, { kind: 'deploy', stack: stack.name });
    review.files = dry.report.files;
    review.valuesDiff = dry.report.files
      .map((f) => f.diff)
      .join('')
      .replace(/\n$/, '');
    const plan = captured.plan as { kind: string; files?: Record<string, string> };
    plannedFiles = plan.kind === 'commit' ? { ...plan.files } : {};
  } catch (error) {
    review.problems.push(...problemsOf(error, stack.colourValuesFile.blue));
    return;
  }
  if (!env.render || review.colour === undefined) return;

  // The rendered diff: the preview colour now, against the preview after merge and deploy.
  const afterDir = path.join(env.scratch, `after-${stack.name}`);
  try {
    await env.ensureBase();
    await env.repo.exportTree(env.baseSha, afterDir);
    for (const file of env.changed) {
      const target = path.join(afterDir, ...file.split('/'));
      if (await merged.fileExists(file)) {
        await rm(target, { force: true });
        await env.repo.exportTree(env.headSha, afterDir, { under: [file] });
      } else {
        await rm(target, { force: true });
      }
    }
    for (const [file, content] of Object.entries(plannedFiles)) {
      const target = path.join(afterDir, ...file.split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    const pair = await manifestDiff({
      beforeDir: env.baseDir,
      afterDir,
      stack,
      colour: review.colour,
      ...(env.helmTimeoutMs ? { timeoutMs: env.helmTimeoutMs } : {}),
    });
    review.manifestDiff = pair.diffs;
    review.rendered = {
      from: pair.source.from,
      chartDir: pair.source.chartDir,
      valueFiles: pair.source.valueFiles,
    };
  } catch (error) {
    review.problems.push({
      file: stack.colourValuesFile[review.colour],
      message: `helm template of ${stack.apps[review.colour]} failed: ${messageOf(error).split('\n')[0]}`,
    });
  } finally {
    await rm(afterDir, { recursive: true, force: true });
  }
}

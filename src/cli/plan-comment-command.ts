/**
 * `stackswap plan comment`: the merge-request review for teams without the service, from a
 * GitLab merge-request pipeline (the plan:validate job). It posts the same sticky comment and
 * `stackswap/<stack>` statuses as the service (src/core/review).
 *
 * Where it reads what, in CI (each also a flag):
 *   CI_MERGE_REQUEST_IID            the MR (--mr)
 *   CI_PROJECT_ID / CI_PROJECT_PATH the project (--project; the id wins)
 *   CI_COMMIT_SHA                   the MR head the pipeline runs for (--head-sha); in a
 *                                   merged-results pipeline CI_MERGE_REQUEST_SOURCE_BRANCH_SHA
 *   CI_MERGE_REQUEST_DIFF_BASE_SHA  the MR's merge base: the changed files are base..head
 *                                   (--base-sha; without it, the forge lists them)
 *   CI_JOB_URL                      the status's target_url (--target-url)
 *   STACKSWAP_GITLAB_TOKEN          the API token (api scope); STACKSWAP_GITLAB_URL, default
 *                                   CI_SERVER_URL, then https://gitlab.com
 *   STACKSWAP_REPO (+ token)        the config repo, as for every command; the MR head is
 *                                   fetched from refs/merge-requests/<iid>/head
 *
 * Exit codes: 0 the plan is valid (or the MR changes no plan: nothing posted); 2 a value above
 * is missing or malformed (nothing posted), or the plan is invalid (posted: comment and failed
 * status); 5 the token was refused (401) or lacks the scope (403); 7 GitLab unreachable.
 */
import type { Command } from 'commander';
import { UsageError, ValidationError } from '../shared/errors.ts';
import type { CliIo } from './io.ts';
import { printResult } from './output.ts';
import type { Session } from './session.ts';

interface PlanCommentOptions {
  mr?: string;
  project?: string;
  headSha?: string;
  baseSha?: string;
  targetUrl?: string;
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

function required(
  value: string | undefined,
  what: string,
  flag: string,
  variables: string,
): string {
  if (value === undefined || value.trim() === '') {
    throw new UsageError(`${what} is not known: pass ${flag} or set ${variables}`, {
      hint: 'stackswap plan comment runs in a GitLab merge-request pipeline (rules: if: $CI_PIPELINE_SOURCE == "merge_request_event"), which sets these',
    });
  }
  return value.trim();
}

/** The MR coordinates from flags and the CI variables; a UsageError naming what is missing. */
export function planCommentTarget(
  opts: PlanCommentOptions,
  env: Readonly<Record<string, string | undefined>>,
): { project: string; number: number; headSha: string; baseSha?: string; targetUrl?: string } {
  const iid = required(
    opts.mr ?? env.CI_MERGE_REQUEST_IID,
    'the merge request',
    '--mr',
    'CI_MERGE_REQUEST_IID',
  );
  if (!/^[1-9]\d{0,9}$/.test(iid)) {
    throw new UsageError(
      `the merge request iid ${JSON.stringify(iid)} is not a positive whole number`,
      {
        where: { key: opts.mr !== undefined ? '--mr' : 'CI_MERGE_REQUEST_IID' },
      },
    );
  }
  const project = required(
    opts.project ?? (env.CI_PROJECT_ID || env.CI_PROJECT_PATH),
    'the GitLab project',
    '--project',
    'CI_PROJECT_ID or CI_PROJECT_PATH',
  );
  // A merged-results pipeline runs for a merge commit GitLab made: the MR head is then
  // CI_MERGE_REQUEST_SOURCE_BRANCH_SHA.
  const headVar = env.CI_MERGE_REQUEST_SOURCE_BRANCH_SHA
    ? 'CI_MERGE_REQUEST_SOURCE_BRANCH_SHA'
    : 'CI_COMMIT_SHA';
  const headSha = required(
    opts.headSha ?? env[headVar],
    'the merge request head',
    '--head-sha',
    'CI_COMMIT_SHA',
  );
  const baseRaw = opts.baseSha ?? env.CI_MERGE_REQUEST_DIFF_BASE_SHA;
  for (const [name, value] of [
    [opts.headSha !== undefined ? '--head-sha' : headVar, headSha],
    [opts.baseSha !== undefined ? '--base-sha' : 'CI_MERGE_REQUEST_DIFF_BASE_SHA', baseRaw],
  ] as const) {
    if (value && !SHA.test(value)) {
      throw new UsageError(`${name} is not a commit SHA (40 or 64 hex digits)`, {
        where: { key: name },
      });
    }
  }
  const targetUrl = opts.targetUrl ?? env.CI_JOB_URL;
  return {
    project,
    number: Number(iid),
    headSha,
    ...(baseRaw ? { baseSha: baseRaw } : {}),
    ...(targetUrl ? { targetUrl } : {}),
  };
}

export function registerPlanCommentCommand(
  plan: Command,
  session: () => Promise<Session>,
  io: CliIo,
): void {
  plan
    .command('comment')
    .description(
      "review a merge request's release plan and post it on the MR: one comment (edited on every push) and a stackswap/<stack> status (GitLab CI)",
    )
    .option('--mr <iid>', 'the merge request iid (env CI_MERGE_REQUEST_IID)')
    .option('--project <id|path>', 'the GitLab project (env CI_PROJECT_ID, CI_PROJECT_PATH)')
    .option('--head-sha <sha>', 'the merge request head (env CI_COMMIT_SHA)')
    .option('--base-sha <sha>', 'its merge base (env CI_MERGE_REQUEST_DIFF_BASE_SHA)')
    .option('--target-url <url>', 'the link of the status (env CI_JOB_URL)')
    .action(async (opts: PlanCommentOptions) => {
      const target = planCommentTarget(opts, io.env);
      const [{ readForgeSettings }, { createForge }, review] = await Promise.all([
        import('../forges/config.ts'),
        import('../forges/factory.ts'),
        import('../core/review/index.ts'),
      ]);
      const s = await session();
      const env = {
        ...io.env,
        STACKSWAP_GITLAB_URL: io.env.STACKSWAP_GITLAB_URL || io.env.CI_SERVER_URL || undefined,
      };
      const forge = createForge('gitlab', readForgeSettings(env, s.redactor));
      const repo = await s.openRepo();
      let changedFiles: string[] | undefined;
      if (target.baseSha) {
        // The merge base is on the target branch; fetched (depth 1) if the cache lacks it.
        await repo.fetchCommit(target.baseSha);
        await repo.fetchCommit(review.mergeRequestRef('gitlab', target.number), {
          expectSha: target.headSha,
        });
        changedFiles = await repo.changedPaths(target.baseSha, target.headSha);
      }
      const result = await review.reviewMergeRequest({
        forge,
        repo,
        project: target.project,
        number: target.number,
        headSha: target.headSha,
        ...(changedFiles ? { changedFiles } : {}),
        ...(target.targetUrl ? { targetUrl: target.targetUrl } : {}),
      });
      if (result.outcome === 'ignored') {
        printResult(io, s.options.output, result, `nothing to review: ${result.reason}`);
        return;
      }
      const lines = result.published.map(
        (p) =>
          `${p.verdict === 'success' ? 'ok' : 'FAILED'} ${p.stack}: ${p.reason} (comment ${p.comments.created ? 'posted' : 'updated'})`,
      );
      printResult(io, s.options.output, result.published, lines.join('\n'));
      const failed = result.review.stacks.find((x) => x.verdict === 'failed');
      if (failed) {
        const p = failed.problems[0];
        throw new ValidationError(
          `the release plan of ${failed.stack} is invalid: ${failed.reason}`,
          {
            ...(p
              ? {
                  where: {
                    file: p.file,
                    ...(p.line !== undefined ? { line: p.line } : {}),
                    ...(p.key ? { key: p.key } : {}),
                  },
                }
              : {}),
            hint: 'the merge request comment lists every problem',
          },
        );
      }
    });
}

/**
 * Local fakes of the GitLab REST v4 API and the GitHub REST API, for integration and e2e
 * tests: a node:http server on 127.0.0.1 (random port) per fake, speaking the real answer
 * shapes (test/fixtures/forges-api, test/fixtures/webhooks), recording every call.
 *
 * ```ts
 * const gitlab = await new FakeGitlab({ tokens: ['t'], gitDir: repo.bare,
 *   webhook: { url: `${service}/v1/webhooks/gitlab`, secret: 's' } }).start();
 * const forge = new GitlabForge({ url: gitlab.url, token: 't' });   // STACKSWAP_GITLAB_URL
 * const mr = await gitlab.addMergeRequest({ sourceBranch: 'bump' });  // emits the `open` hook
 * ...
 * gitlab.callsTo('POST', /\/statuses\//)   // { method, path (decoded), query, body, status }
 * await gitlab.idle();                      // every queued webhook delivered
 * await gitlab.stop();
 * ```
 * GitHub the same: `new FakeGithub({ repo: 'acme/config', ... })`, `github.apiUrl`
 * (STACKSWAP_GITHUB_API_URL), `addPullRequest({ head: 'bump' })`, `commentsOf(n)`, `statusesOf(sha)`.
 *
 * What is served (GitLab under /api/v4, `:id` the path or numeric id):
 * | | GitLab | GitHub |
 * |---|---|---|
 * | token check | `GET /user`, `GET /personal_access_tokens/self` | `GET /user` (`x-oauth-scopes`) |
 * | find MR/PR | `GET /projects/:id/merge_requests/:iid`, `GET …/merge_requests?state&source_branch&target_branch` | `GET /repos/:o/:r/pulls/:n`, `GET …/pulls?state&head=owner:branch&base` |
 * | changed files | `GET …/merge_requests/:iid/diffs` | `GET …/pulls/:n/files` |
 * | comments | `GET/POST …/merge_requests/:iid/notes`, `PUT/DELETE …/notes/:id` | `GET/POST …/issues/:n/comments`, `PATCH/DELETE …/issues/comments/:id` |
 * | statuses | `POST /projects/:id/statuses/:sha`, `GET …/repository/commits/:sha/statuses` | `POST …/statuses/:sha`, `GET …/commits/:ref/statuses`, `GET …/commits/:ref/status` |
 * | open | `POST …/merge_requests` (409 when one is open for the branches) | `POST …/pulls` (422 "A pull request already exists") |
 * | merge | `PUT …/merge_requests/:iid/merge` (`sha` pinned: 409 when stale; `auto_merge`, `merge_when_pipeline_succeeds`, `squash`, `should_remove_source_branch`) | `PUT …/pulls/:n/merge` (`sha` pinned: 409), `POST /graphql` enablePullRequestAutoMerge |
 * | file at ref | `GET …/repository/files/:path?ref` (base64), `…/raw` | `GET …/contents/:path?ref` (base64; raw with `Accept: application/vnd.github.raw`) |
 * Lists paginate with Link headers (GitLab also x-next-page), so both clients page.
 *
 * Tokens: `tokens` have every scope (default ['test-token']); anything else gets 401 (GitLab
 * `{"message":"401 Unauthorized"}`, GitHub "Bad credentials"). `limitedTokens` get 403:
 * GitLab `insufficient_scope` with `scope="api"` in WWW-Authenticate ('read_api' may GET);
 * GitHub "Resource not accessible…" with `x-accepted-oauth-scopes: repo` ('repo:status' may set
 * statuses). Comments over the forge limit get the forge's error (GitLab 400, GitHub 422).
 *
 * git: with `gitDir` (a bare repo), an open MR's head follows its source branch (push to the
 * bare repo, then `pushToMergeRequest(n)` to send the update hook), the head is also written to
 * `refs/merge-requests/<iid>/head` / `refs/pull/<n>/head` as the forges do, files and changed
 * files are read with git, and a merge really happens: `git merge-tree --write-tree` +
 * `commit-tree` + `update-ref` (no hooks run, as on a forge; a protected-branch pre-receive hook
 * does not stop it). GitLab `mergeMethod: 'merge'` (merge commit, merge_commit_sha set), 'ff'
 * (fast-forward only; merge_commit_sha null; 406 when behind), 'rebase_merge' (ff when
 * possible). GitHub merge_method merge/squash/rebase (rebase = ff when possible). A conflict:
 * GitLab 406, GitHub 405. Without `gitDir`, heads are what the test says (`headSha`), files come
 * from `setFile(ref, path, text)` and merge SHAs are made up.
 *
 * Auto-merge: `autoMerge: 'immediate'` (default: nothing holds a merge; GitHub PRs are `clean`),
 * 'arm' (a pipeline/required check holds every MR: plain merges get 405, auto-merge arms it and
 * `releaseAutoMerge(n)` merges it as a passing pipeline would), GitHub 'unavailable' (the repo
 * does not allow auto-merge). GitLab `legacyAutoMerge: true` ignores `auto_merge` (< 17.11).
 *
 * Webhooks: `webhook: { url?, secret?, callback? }`. MR/PR opened (addMergeRequest or the API),
 * updated (pushToMergeRequest: GitLab `update` with `oldrev`, GitHub `synchronize`), merged
 * (GitLab `merge`, GitHub `closed` + merged, then a push event for the target branch), closed
 * (closeMergeRequest), GitHub `auto_merge_enabled`. Each is POSTed with the real headers
 * (X-Gitlab-Event, X-Gitlab-Token = secret, X-Gitlab-Event-UUID / X-GitHub-Event,
 * X-GitHub-Delivery, X-Hub-Signature-256 = HMAC-SHA256(secret, body)), in order, after the
 * API answer that caused it; `callback` gets the same delivery. `deliveries` records them
 * (with the receiver's status); `idle()` waits for the queue.
 *
 * Faults: `fail({ method?, path: RegExp | string, response: { status, body?, headers? } | 'hang',
 * times? })` answers the next matching calls so (5xx, 429 with Retry-After, or never).
 */
export { FakeGitlab, type FakeGitlabOptions, type GitlabMrState } from './gitlab.ts';
export { FakeGithub, type FakeGithubOptions, type GithubPullState } from './github.ts';
export type {
  Fault,
  FakeResponse,
  RecordedCall,
  WebhookDelivery,
  WebhookOptions,
} from './common.ts';

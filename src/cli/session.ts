/**
 * The CLI's composition root: turns global options and the environment into the objects the
 * operations need (config repo, Argo CD deployer, actor), once per command. The Argo CD client
 * (undici) and the logger (pino) are imported only when used: a git-only run (--no-sync) does
 * not pay for them at start-up.
 */
import { randomUUID } from 'node:crypto';
import { UsageError } from '../shared/errors.ts';
import type { Redactor } from '../shared/redact.ts';
import type { Progress } from '../shared/progress.ts';
import type { Deployer } from '../shared/deployer.ts';
import type { RepoReader } from '../shared/repo-files.ts';
import { loadStructuralConfig } from '../core/config-file.ts';
import { appsWaitingForSyncWindows, rootApps } from '../config/stackswap-config.ts';
import type { OperationContext } from '../core/operations/context.ts';
import { ConfigRepo } from '../gitops/git/repo.ts';
import { forgeForConfigRepo } from '../forges/for-repo.ts';
import {
  defaultCacheDir,
  locateConfigRepo,
  readEnvironment,
  requesterFrom,
  type Environment,
} from '../config/environment.ts';
import type { OutputFormat } from './output.ts';
import { CliNotifications } from './notifications.ts';
import type { CliIo } from './io.ts';

export interface GlobalOptions {
  repo?: string;
  branch?: string;
  stack?: string;
  output: OutputFormat;
  cacheDir?: string;
  requestedBy?: string;
  reason?: string;
  sync: boolean;
  /** false: --no-hooks (admins only, see hooks.admins). */
  hooks?: boolean;
  wait: boolean;
  timeout: number;
  degradedGrace: number;
  crashGrace: number;
  retryWait: boolean;
  waitForWindow?: boolean;
  verbose?: boolean;
}

export class Session {
  readonly env: Environment;
  private repo: ConfigRepo | undefined;
  private argo: Deployer | undefined | null = null;
  private readonly notifications: CliNotifications[] = [];

  constructor(
    readonly options: GlobalOptions,
    private readonly io: CliIo,
    readonly redactor: Redactor,
  ) {
    this.env = readEnvironment(io.env, redactor);
  }

  async openRepo(): Promise<ConfigRepo> {
    if (this.repo) return this.repo;
    const url = this.options.repo ?? this.env.STACKSWAP_REPO;
    if (!url) {
      throw new UsageError('no config repo: pass --repo or set STACKSWAP_REPO', {
        hint: 'for a local try-out: stackswap sandbox up, then paste the export lines it prints',
      });
    }
    // A local repository outside sandbox mode is refused here, before any git runs.
    const location = locateConfigRepo(
      url,
      this.env,
      this.options.repo !== undefined ? '--repo' : 'STACKSWAP_REPO',
    );
    this.repo = await ConfigRepo.open({
      url: location.url,
      branch: this.options.branch ?? this.env.STACKSWAP_BRANCH ?? 'main',
      cacheDir: this.options.cacheDir ?? defaultCacheDir(this.env),
      auth: { token: this.env.STACKSWAP_GIT_TOKEN, username: this.env.STACKSWAP_GIT_USERNAME },
      author: {
        name: this.env.STACKSWAP_GIT_AUTHOR_NAME ?? 'stackswap',
        email: this.env.STACKSWAP_GIT_AUTHOR_EMAIL ?? 'stackswap@localhost',
      },
      redactor: this.redactor,
      ...(this.options.verbose
        ? {
            logger: (await import('../shared/logger.ts')).createLogger({
              redactor: this.redactor,
              level: 'debug',
            }),
          }
        : {}),
      allowFileProtocol: location.local,
      // Plain http only for local test servers; production remotes are https or ssh.
      allowInsecureHttp: this.env.STACKSWAP_GIT_ALLOW_HTTP === 'true',
    });
    return this.repo;
  }

  /** At exit: waits (bounded) for the notifications of the command and says what was not delivered. */
  async finishNotifications(): Promise<void> {
    for (const n of this.notifications.splice(0)) await n.finish();
  }

  /** Ends what the session started that could outlive the command (the repo's git reader). */
  close(): void {
    this.repo?.close();
  }

  /** --stack, or the only stack of stackswap.yaml. */
  async stackName(repo: RepoReader): Promise<string> {
    const explicit = this.options.stack ?? this.env.STACKSWAP_STACK;
    if (explicit) return explicit;
    const stacks = [...(await loadStructuralConfig(repo)).stacks.keys()];
    if (stacks.length === 1) return stacks[0]!;
    throw new UsageError(
      `stackswap.yaml has ${stacks.length} stacks: pass --stack (${stacks.join(', ')})`,
    );
  }

  /** The Argo CD deployer, or undefined with --no-sync or when ARGOCD_SERVER is not set. */
  async deployer(progress?: Progress): Promise<Deployer | undefined> {
    if (!this.options.sync) return undefined;
    if (this.argo === null) {
      const repo = await this.openRepo();
      const config = await loadStructuralConfig(repo);
      const [{ createArgoDeployer }, { describeArgoEvent }] = await Promise.all([
        import('../argocd/deployer.ts'),
        import('../argocd/progress-text.ts'),
      ]);
      this.argo = createArgoDeployer(this.io.env, this.redactor, {
        appNamespace: config.appNamespace,
        project: config.project,
        appsOfApps: rootApps(config),
        degradedGraceMs: this.options.degradedGrace * 1000,
        crashGraceMs: this.options.crashGrace * 1000,
        retryWait: this.options.retryWait,
        waitForWindow: this.options.waitForWindow === true,
        waitForWindowApps: appsWaitingForSyncWindows(config),
        ...(progress
          ? {
              onProgress: (event) => {
                const line = describeArgoEvent(event);
                if (line) progress.info(line, 'sync');
              },
            }
          : {}),
      });
    }
    return this.argo;
  }

  async operationContext(progress: Progress): Promise<OperationContext> {
    const repo = await this.openRepo();
    const requestedBy = requesterFrom(this.options.requestedBy, this.env);
    // The same notifications as the service (issue 13), delivered in the background.
    const notifications = new CliNotifications({
      env: this.io.env,
      redactor: this.redactor,
      repo,
      write: (line) => this.io.stderr.write(`${line}\n`),
    });
    this.notifications.push(notifications);
    progress.onEvent(notifications.onEvent);
    return {
      repo,
      // Hooks in CI (issue 13): secrets from the environment, pending hooks polled at their
      // status URL (a CLI cannot take callbacks). --no-hooks is checked against hooks.admins.
      hooks: {
        secret: (name) => {
          const value = this.io.env[name];
          if (value) this.redactor.add(value);
          return value || undefined;
        },
        pending: { kind: 'poll' },
        ...(this.options.hooks === false ? { skip: { by: requestedBy, admin: false } } : {}),
      },
      actor: {
        requestedBy,
        operationId: randomUUID(),
        ...(this.options.reason ? { reason: this.options.reason } : {}),
      },
      progress,
      deployer: await this.deployer(progress),
      wait: this.options.wait,
      timeoutMs: this.options.timeout * 1000,
      now: this.io.now ?? Date.now,
      verify: {
        ...(this.env.STACKSWAP_PROMETHEUS_URL
          ? { prometheusUrl: this.env.STACKSWAP_PROMETHEUS_URL }
          : {}),
        ...(this.env.STACKSWAP_INGRESS_URL ? { ingressUrl: this.env.STACKSWAP_INGRESS_URL } : {}),
      },
      ...this.forgeTarget(repo),
    };
  }

  /** The forge for merge-request promotion (issue 12), when one is configured or inferable. */
  private forgeTarget(repo: ConfigRepo): Pick<OperationContext, 'forge'> {
    const forge = forgeForConfigRepo(
      repo.remoteUrl,
      { forge: this.env.STACKSWAP_FORGE, project: this.env.STACKSWAP_FORGE_PROJECT },
      this.io.env,
      this.redactor,
    );
    return forge ? { forge } : {};
  }
}

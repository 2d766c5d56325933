/**
 * The ApplicationService of `server/application/application.go`, over the stand-in's store and
 * controller: RBAC and existence checks that never leak which apps exist (403 without a
 * project, 404 with one), refresh-then-read for `Get`, the `Sync` checks in Argo CD's order
 * (permission, auto-sync revision lock, revision resolution, another operation in progress),
 * and `TerminateOperation`.
 */
import { CONTROL_PLANE_NAMESPACE, isAutomated } from './app-manifest.ts';
import type { Session } from './auth.ts';
import type { Controller } from './controller.ts';
import { parseFields, selectAppFields, type FieldSelection } from './fields.ts';
import { isCommitSha, type RepoReader } from './git.ts';
import {
  anotherOperationInProgress,
  ApiError,
  appNotFound,
  GrpcCode,
  permissionDenied,
} from './grpc-errors.ts';
import { errorText } from './logger.ts';
import type { SyncRequestBody } from './requests.ts';
import { parseLabelSelector, type LabelSelector } from './selector.ts';
import type { ApplicationStore } from './store.ts';
import { managedResources, resourceTree } from './tree.ts';
import {
  canSync,
  isActive,
  viewOf,
  windowsOf,
  type SyncWindow,
  type WindowView,
} from './windows.ts';
import type { Application, ApplicationTree, Operation, ResourceDiff } from './types.ts';

export interface AccessRequest {
  username: string;
  action: 'get' | 'sync' | 'override';
  project: string;
  app: string;
}

export type Authorizer = (request: AccessRequest) => boolean;

export interface ServiceSettings {
  /** argocd-cm `application.sync.requireOverridePrivilegeForRevisionSync` (default false). */
  requireOverridePrivilegeForRevisionSync?: boolean;
  /** The sync windows of the app's AppProject (default none). */
  syncWindows?: (project: string) => readonly SyncWindow[];
  now?: () => number;
}

export interface AppQuery {
  name?: string;
  appNamespace?: string;
  projects: string[];
  selector?: string;
  repo?: string;
  refresh?: string;
}

export class ApplicationService {
  constructor(
    private readonly store: ApplicationStore,
    private readonly controller: Controller,
    private readonly repo: RepoReader,
    private readonly authorize: Authorizer,
    private readonly settings: ServiceSettings = {},
  ) {}

  list(session: Session, query: AppQuery, fieldsQuery?: string | null): unknown {
    const selector = this.selector(query.selector, 'error parsing the selector');
    const items = this.store
      .list()
      .filter(
        (a) =>
          (!query.appNamespace || a.metadata.namespace === query.appNamespace) &&
          a.metadata.namespace === CONTROL_PLANE_NAMESPACE &&
          (!query.name || a.metadata.name === query.name) &&
          (query.projects.length === 0 || query.projects.includes(projectOf(a))) &&
          (!query.repo || a.spec.source?.repoURL === query.repo) &&
          selector(a.metadata.labels) &&
          this.can(session, 'get', a),
      )
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const selection: FieldSelection | undefined = parseFields(fieldsQuery);
    const metadata = { resourceVersion: this.store.lastResourceVersion };
    if (items.length === 0) return { metadata, items: null };
    return {
      metadata,
      items: selection ? items.map((a) => selectAppFields(a, selection)) : items,
    };
  }

  async get(session: Session, name: string, query: AppQuery): Promise<Application> {
    const project = this.singleProject(query.projects);
    const app = this.enforce(session, 'get', project, query.appNamespace, name);
    if (query.refresh === undefined) return app;
    await this.controller.refresh(name, { hard: query.refresh === 'hard' });
    // The refreshed app may have been deleted meanwhile (pruned by its parent).
    return this.store.get(name) ?? app;
  }

  async sync(session: Session, name: string, body: SyncRequestBody): Promise<Application> {
    const app = this.enforce(session, 'get', body.project, body.appNamespace, name);
    // Sync (application.go ~2096): get, then the sync windows, then the sync permission.
    if (!canSync(this.windowsOf(app), this.now(), true)) {
      throw new ApiError(GrpcCode.permissionDenied, 'cannot sync: blocked by sync window');
    }
    if (!this.can(session, 'sync', app)) throw rbacDenied(session, 'sync', app);
    if (body.manifests) {
      throw new ApiError(
        GrpcCode.invalidArgument,
        'local manifests are not supported by the sandbox stand-in',
      );
    }
    const source = app.spec.source;
    if (!source || app.spec.sources?.length) {
      throw new ApiError(
        GrpcCode.failedPrecondition,
        'multi-source applications are not supported by the sandbox stand-in',
      );
    }
    const target = source.targetRevision || 'HEAD';
    // resolveSourceRevisions: another revision than targetRevision is an override when
    // argocd-cm says so (a plain string comparison: the SHA of the branch head still counts).
    if (
      this.settings.requireOverridePrivilegeForRevisionSync &&
      body.revision &&
      body.revision !== (source.targetRevision ?? '') &&
      !this.can(session, 'override', app)
    ) {
      throw rbacDenied(session, 'override', app);
    }
    if (body.revision && body.revision !== target && isAutomated(app.spec) && !body.dryRun) {
      throw new ApiError(
        GrpcCode.failedPrecondition,
        `Cannot sync to ${body.revision}: auto-sync currently set to ${source.targetRevision ?? ''}`,
      );
    }
    const ambiguous = body.revision || source.targetRevision || '';
    let revision = ambiguous;
    if (!isCommitSha(ambiguous)) {
      try {
        revision = await this.repo.resolve(ambiguous);
      } catch (error) {
        throw new ApiError(
          GrpcCode.failedPrecondition,
          `error resolving repo revision: rpc error: code = Unknown desc = ${errorText(error)}`,
        );
      }
    }
    const syncOptions = body.syncOptions
      ? (body.syncOptions.items ?? [])
      : (app.spec.syncPolicy?.syncOptions ?? []);
    const operation: Operation = {
      sync: {
        revision,
        ...(body.prune ? { prune: true } : {}),
        ...(body.dryRun ? { dryRun: true } : {}),
        ...(body.strategy ? { syncStrategy: body.strategy } : {}),
        ...(body.resources?.length ? { resources: body.resources } : {}),
        source,
        ...(syncOptions.length ? { syncOptions } : {}),
      },
      initiatedBy: { username: session.username },
      ...(body.infos?.length ? { info: body.infos } : {}),
      retry: body.retryStrategy ?? app.spec.syncPolicy?.retry ?? {},
    };
    // No await between the check and the write: the compare-and-set is atomic.
    if (!this.store.has(name)) throw permissionDenied();
    const updated = this.controller.setOperation(name, operation);
    if (!updated) throw anotherOperationInProgress();
    void this.controller.runner.start(name);
    // The answer is the object as updated in Kubernetes: resource health is not persisted there
    // (controller.resource.health.persist false); only GET and Watch re-insert it.
    for (const resource of updated.status.resources ?? []) delete resource.health;
    return updated;
  }

  /** GET /syncwindows: `ApplicationSyncWindowsResponse`. */
  syncWindows(
    session: Session,
    name: string,
    query: AppQuery,
  ): { assignedWindows?: WindowView[]; activeWindows?: WindowView[]; canSync: boolean } {
    const app = this.enforce(
      session,
      'get',
      this.singleProject(query.projects),
      query.appNamespace,
      name,
    );
    const assigned = this.windowsOf(app);
    const now = this.now();
    const active = assigned.filter((w) => isActive(w, now));
    return {
      ...(assigned.length ? { assignedWindows: assigned.map(viewOf) } : {}),
      ...(active.length ? { activeWindows: active.map(viewOf) } : {}),
      canSync: canSync(assigned, now, true),
    };
  }

  private windowsOf(app: Application): SyncWindow[] {
    return windowsOf(app, this.settings.syncWindows?.(projectOf(app)) ?? []);
  }

  private now(): number {
    return this.settings.now?.() ?? Date.now();
  }

  terminate(session: Session, name: string, query: AppQuery): Record<string, never> {
    const project = this.singleProject(query.projects);
    const app = this.enforce(session, 'get', project, query.appNamespace, name);
    if (!this.can(session, 'sync', app)) throw permissionDenied();
    if (!app.operation || !app.status.operationState) {
      throw new ApiError(
        GrpcCode.invalidArgument,
        'Unable to terminate operation. No operation is in progress',
      );
    }
    this.store.update(name, (current) => {
      if (current.status.operationState) current.status.operationState.phase = 'Terminating';
    });
    this.controller.runner.wake();
    return {};
  }

  resourceTree(session: Session, name: string, query: AppQuery): ApplicationTree {
    this.enforce(session, 'get', this.singleProject(query.projects), query.appNamespace, name);
    return resourceTree(
      this.controller.comparison(name),
      this.controller.now(),
      this.controller.healthSettings(),
    );
  }

  managedResources(
    session: Session,
    name: string,
    query: AppQuery,
    filter: { namespace?: string; name?: string; group?: string; kind?: string },
  ): { items?: ResourceDiff[] } {
    this.enforce(session, 'get', this.singleProject(query.projects), query.appNamespace, name);
    return managedResources(this.controller.comparison(name), filter);
  }

  /** Watch visibility (`isApplicationPermitted`): silently drops what the caller may not see. */
  watchFilter(session: Session, query: AppQuery & { resourceVersion?: string }) {
    const selector = this.selector(query.selector, 'error parsing labels with selectors');
    const minVersion = Number.parseInt(query.resourceVersion ?? '', 10) || 0;
    const namespace = query.appNamespace || CONTROL_PLANE_NAMESPACE;
    return (app: Application): boolean =>
      (query.projects.length === 0 || query.projects.includes(projectOf(app))) &&
      Number(app.metadata.resourceVersion) >= minVersion &&
      (!query.name || (app.metadata.name === query.name && app.metadata.namespace === namespace)) &&
      selector(app.metadata.labels) &&
      app.metadata.namespace === CONTROL_PLANE_NAMESPACE &&
      this.can(session, 'get', app);
  }

  private selector(text: string | undefined, prefix: string): LabelSelector {
    try {
      return parseLabelSelector(text);
    } catch (error) {
      throw new ApiError(GrpcCode.unknown, `${prefix}: ${errorText(error)}`);
    }
  }

  private singleProject(projects: string[]): string | undefined {
    if (projects.length > 1) {
      throw new ApiError(
        GrpcCode.invalidArgument,
        'multiple projects specified - the get endpoint accepts either zero or one project',
      );
    }
    return projects[0];
  }

  /** `getAppEnforceRBAC`: 403 hides existence unless a project was named (then 404). */
  private enforce(
    session: Session,
    action: 'get' | 'sync',
    project: string | undefined,
    appNamespace: string | undefined,
    name: string,
  ): Application {
    if (project && !this.authorize({ username: session.username, action, project, app: name })) {
      throw permissionDenied();
    }
    const namespace = appNamespace || CONTROL_PLANE_NAMESPACE;
    const app = namespace === CONTROL_PLANE_NAMESPACE ? this.store.get(name) : undefined;
    if (!app) {
      if (project && namespace === CONTROL_PLANE_NAMESPACE) throw appNotFound(name);
      throw permissionDenied();
    }
    if (!this.can(session, action, app)) {
      if (project) throw appNotFound(name);
      throw permissionDenied();
    }
    if (project && projectOf(app) !== project) throw appNotFound(name);
    return app;
  }

  private can(session: Session, action: AccessRequest['action'], app: Application): boolean {
    return this.authorize({
      username: session.username,
      action,
      project: projectOf(app),
      app: app.metadata.name,
    });
  }
}

const projectOf = (app: Application) => app.spec.project || 'default';

/** `enf.EnforceErr`: "permission denied: applications, sync, default/app, sub: alice, iat: ..." */
function rbacDenied(session: Session, action: string, app: Application): ApiError {
  const iat = session.issuedAt
    ? `, iat: ${new Date(session.issuedAt).toISOString().replace('.000Z', 'Z')}`
    : '';
  return new ApiError(
    GrpcCode.permissionDenied,
    `permission denied: applications, ${action}, ${projectOf(app)}/${app.metadata.name}, sub: ${session.username}${iat}`,
  );
}

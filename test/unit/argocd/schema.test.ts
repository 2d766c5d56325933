import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  Application,
  ApplicationList,
  ApplicationTree,
  ErrorBody,
  ManagedResources,
  SyncResponse,
  WatchStreamMessage,
} from '../../../src/argocd/schema.ts';
import { assessApp, isAutoSyncEnabled, isBusy, snapshot } from '../../../src/argocd/app-state.ts';

const dir = path.resolve(import.meta.dirname, '../../fixtures/argocd-examples');
const load = (file: string): unknown => {
  const text = readFileSync(path.join(dir, file), 'utf8');
  return file.endsWith('.json') ? JSON.parse(text) : parse(text);
};

describe('Argo CD schemas against real objects', () => {
  const files = readdirSync(dir).filter((f) => /^\d\d-.*\.(ya?ml|json)$/.test(f));

  it('has the six example objects', () => {
    expect(files).toHaveLength(6);
  });

  it.each(files)('%s parses as an Application', (file) => {
    const result = Application.safeParse(load(file));
    expect(result.error?.issues ?? []).toEqual([]);
  });

  it('keeps fields it does not declare (loose)', () => {
    const app = Application.parse(load('01-velero-test-synced-healthy-full.yaml')) as Record<
      string,
      any
    >;
    expect(app.spec.destination.name).toBe('gke-alpha-01-europe-west1');
    expect(app.status.summary.images).toEqual(['nginx:latest']);
  });

  it('reads the fields the wait logic uses from the full object', () => {
    const app = Application.parse(load('01-velero-test-synced-healthy-full.yaml'));
    const os = app.status!.operationState!;
    expect(os.phase).toBe('Succeeded');
    expect(os.syncResult?.revision).toBe('ea8759964626a583667a2bfd08f334ec2070040a');
    expect(app.status?.reconciledAt).toBe('2024-03-05T07:33:04Z');
    expect(app.status?.history?.[0]?.id).toBe(14); // int64 arrives as a JSON number
    expect(snapshot(app)).toMatchObject({
      syncStatus: 'Synced',
      revision: 'rev1',
      health: 'Healthy',
    });
    // The fixture's sync.revision was sanitised to "rev1" upstream: not live at the op's SHA.
    expect(
      assessApp(app, {
        revision: 'ea8759964626a583667a2bfd08f334ec2070040a',
        requireOperation: true,
      }).verdict,
    ).toBe('pending');
    expect(assessApp(app, { revision: 'rev1', requireOperation: false }).verdict).toBe('done');
  });

  it('multi-source: revisions[] are read', () => {
    const app = Application.parse(load('03-multi-source-operation-succeeded.yaml'));
    expect(app.status?.operationState?.syncResult?.revisions).toHaveLength(3);
    expect(app.spec?.sources).toHaveLength(3);
  });

  it('a Running operation without operation field is busy; an in-flight `operation` too', () => {
    expect(isBusy(Application.parse(load('04-operation-running-outofsync-progressing.yaml')))).toBe(
      true,
    );
    const inflight = Application.parse(load('05-inflight-operation-field-dryrun.yaml'));
    expect(isBusy(inflight)).toBe(true);
    expect(inflight.operation?.sync?.dryRun).toBe(true);
  });

  it('the captured POST /sync response has the resolved revision in operation.sync', () => {
    const app = SyncResponse.parse(load('06-post-sync-response-operation-set.json'));
    expect(app.operation?.sync?.revision).toBe('38554e11dbe1d68790c9f0567eaf31dedd4c3638');
    expect(app.status?.operationState).toBeUndefined();
    expect(isAutoSyncEnabled(app)).toBe(true);
  });

  it('automated {enabled: false} is not auto-sync; automated {} is', () => {
    const base = { metadata: { name: 'x' } };
    expect(
      isAutoSyncEnabled(Application.parse({ ...base, spec: { syncPolicy: { automated: {} } } })),
    ).toBe(true);
    expect(
      isAutoSyncEnabled(
        Application.parse({ ...base, spec: { syncPolicy: { automated: { enabled: false } } } }),
      ),
    ).toBe(false);
    expect(isAutoSyncEnabled(Application.parse({ ...base, spec: {} }))).toBe(false);
  });

  it('int64 fields accept numbers and numeric strings, not words', () => {
    const at = (id: unknown) =>
      Application.safeParse({ metadata: { name: 'x' }, status: { history: [{ id }] } });
    expect(at(3).success).toBe(true);
    expect(at('3').data?.status?.history?.[0]?.id).toBe(3);
    expect(at('three').success).toBe(false);
  });

  it('lists, trees and managed resources normalise null slices to []', () => {
    expect(ApplicationList.parse({ items: null, metadata: {} }).items).toEqual([]);
    expect(ApplicationTree.parse({ nodes: null }).nodes).toEqual([]);
    expect(ManagedResources.parse({}).items).toEqual([]);
  });

  it('parses the gateway error body', () => {
    const body = ErrorBody.parse({
      error: 'permission denied',
      code: 7,
      message: 'permission denied',
    });
    expect(body).toMatchObject({ code: 7, message: 'permission denied' });
  });

  it('parses both stream envelopes and rejects anything else', () => {
    const app = load('02-single-source-operation-succeeded.yaml');
    const ok = WatchStreamMessage.parse({ result: { type: 'MODIFIED', application: app } });
    expect(ok).toMatchObject({
      result: { type: 'MODIFIED', application: { metadata: { name: 'my-app' } } },
    });
    const err = WatchStreamMessage.parse({
      error: {
        grpc_code: 16,
        http_code: 401,
        message: 'invalid session',
        http_status: 'Unauthorized',
      },
    });
    expect(err).toMatchObject({ error: { http_code: 401, grpc_code: 16 } });
    expect(WatchStreamMessage.safeParse({ result: { type: 'ADDED' } }).success).toBe(false);
    expect(WatchStreamMessage.safeParse({ nothing: true }).success).toBe(false);
  });
});

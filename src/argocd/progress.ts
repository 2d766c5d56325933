/**
 * Progress of a sync-and-wait as plain data: the CLI prints these, the HTTP service relays them.
 * Every event names the app and carries the state last seen (when known); text fields have
 * passed through the redactor.
 */
import type { AppSnapshot } from './app-state.ts';

export interface AppStateFields {
  /** status.sync.status: Synced | OutOfSync | Unknown. */
  sync?: string;
  /** status.sync.revision: what Argo CD last compared against. */
  revision?: string;
  health?: string;
  /** operationState.phase of the current or last operation. */
  phase?: string;
  message?: string;
}

export type ArgoProgressEvent = AppStateFields & { app: string; at: number } & (
    | { type: 'refresh' }
    /** `targetRevision` undefined: synced to the app's own targetRevision (auto-sync apps). */
    | { type: 'sync-requested'; targetRevision: string | undefined; operationRevision?: string }
    | { type: 'operation-adopted'; operationRevision?: string; initiatedBy?: string }
    /** Someone else's operation runs at another revision; we wait for it, then sync. */
    | { type: 'operation-wait'; operationRevision?: string; initiatedBy?: string }
    /** Argo CD refused an explicit revision because auto-sync is on; syncing its targetRevision. */
    | { type: 'auto-sync'; reason: string }
    | { type: 'observed'; source: 'get' | 'stream' | 'poll' }
    | { type: 'stream-reconnect'; attempt: number; delayMs: number; reason: string }
    /** The watch endpoint is unavailable: polling only from now on. */
    | { type: 'poll-fallback'; reason: string }
    | { type: 'poll-error'; reason: string }
    | { type: 'children'; children: string[] }
    /** A sync window forbids syncing now; waiting for it to open (--wait-for-window). */
    | { type: 'sync-window-wait'; reason: string }
    /** A pinned sync needs `override`; syncing the app's targetRevision (its head is R) instead. */
    | { type: 'override-fallback'; reason: string }
    /** An unpinned sync resolved to a newer commit than R: waiting for it, then syncing R. */
    | { type: 'head-moved'; operationRevision: string; reason: string }
    /** Our operation failed and Argo CD will retry it: `message` is Argo CD's ("Retrying attempt #N at ..."). */
    | { type: 'operation-retry'; attempt: number; reason: string }
    /** Pods of the new release failing (CrashLoopBackOff, ImagePullBackOff, ...), before the grace ends. */
    | { type: 'pods'; problems: string[] }
    | { type: 'done'; durationMs: number }
  );

export type ArgoProgressListener = (event: ArgoProgressEvent) => void;

export function stateFields(s: AppSnapshot): AppStateFields {
  return {
    sync: s.syncStatus,
    ...(s.revision ? { revision: s.revision } : {}),
    health: s.health,
    ...(s.phase ? { phase: s.phase } : {}),
    ...(s.operationMessage ? { message: s.operationMessage } : {}),
  };
}

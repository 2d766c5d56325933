/**
 * Dashboard sessions, server side (OWASP Session Management Cheat Sheet): the browser holds only
 * a random 256-bit id in an HttpOnly, Secure, SameSite=Strict cookie; the service keeps, per
 * session, the caller's identity, the API token it signed in with (so every page and action goes
 * through the API with that token's scopes, the backend-for-frontend pattern of "OAuth 2.0 for
 * Browser-Based Applications" §6.1), and a CSRF token (synchronizer token pattern, OWASP CSRF
 * Prevention Cheat Sheet).
 *
 * Sessions are keyed by the SHA-256 of their id (a memory dump holds no usable cookie), bounded
 * in number (the oldest is dropped beyond `maxSessions`), and expire after `idleMs` without use
 * or `absoluteMs` after sign-in, whichever comes first. Nothing is written to disk: a restart
 * signs everybody out.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../auth/tokens.ts';

export interface Session {
  identity: Identity;
  /** The API token presented at sign-in; never sent back to the browser. */
  token: string;
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionOptions {
  now: () => number;
  /** Default 30 minutes. */
  idleMs?: number;
  /** Default 8 hours. */
  absoluteMs?: number;
  /** Default 1000. */
  maxSessions?: number;
}

export const SESSION_DEFAULTS = {
  idleMs: 30 * 60_000,
  absoluteMs: 8 * 3_600_000,
  maxSessions: 1000,
} as const;

const digest = (id: string) => createHash('sha256').update(id).digest('base64url');

export class SessionStore {
  /** Insertion order is sign-in order: the first entry is the oldest session. */
  private readonly sessions = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  private readonly maxSessions: number;

  constructor(private readonly options: SessionOptions) {
    this.idleMs = options.idleMs ?? SESSION_DEFAULTS.idleMs;
    this.absoluteMs = options.absoluteMs ?? SESSION_DEFAULTS.absoluteMs;
    this.maxSessions = options.maxSessions ?? SESSION_DEFAULTS.maxSessions;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** A new session; returns the id for the cookie (shown nowhere else). */
  create(identity: Identity, token: string): { id: string; session: Session } {
    this.sweep();
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const now = this.options.now();
    const session: Session = {
      identity,
      token,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
    };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session of a cookie value (and marks it used), or undefined. */
  get(id: string | undefined): Session | undefined {
    if (!id || id.length > 100) return undefined;
    const key = digest(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    const now = this.options.now();
    if (now - session.lastSeenAt > this.idleMs || now - session.createdAt > this.absoluteMs) {
      this.sessions.delete(key);
      return undefined;
    }
    session.lastSeenAt = now;
    return session;
  }

  delete(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }

  /** Drops expired sessions (on every sign-in, so memory stays bounded by live ones). */
  sweep(): void {
    const now = this.options.now();
    for (const [key, s] of this.sessions) {
      if (now - s.lastSeenAt > this.idleMs || now - s.createdAt > this.absoluteMs) {
        this.sessions.delete(key);
      }
    }
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: Session, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length === 0) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

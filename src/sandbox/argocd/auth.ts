/**
 * Bearer tokens as Argo CD's session manager issues and checks them: HS256 JWTs with
 * `iss: argocd`, `sub: <account>:<capability>`, `jti`, `iat`, `nbf`. The configured token is
 * accepted verbatim (so a newcomer can pick any string); anything else is verified like Argo CD
 * does, with its error messages. An `Authorization` header that is not JWT-shaped is ignored,
 * exactly as `getToken` ignores it, which yields "no session information".
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ApiError, GrpcCode, noSession } from './grpc-errors.ts';

export interface Session {
  username: string;
  issuer: string;
  issuedAt: number;
}

const ISSUER = 'argocd';

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export class TokenAuthority {
  private readonly key = randomBytes(32);
  private readonly now: () => number;
  private readonly acceptedToken: string;

  constructor(options: { token?: string; username: string; now: () => number }) {
    this.now = options.now;
    this.acceptedToken = options.token ?? this.issue(options.username, 'apiKey');
  }

  /** The token a client of this stand-in should send (the configured one, or a minted API key). */
  get token(): string {
    return this.acceptedToken;
  }

  issue(username: string, capability: 'login' | 'apiKey'): string {
    const seconds = Math.floor(this.now() / 1000);
    const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const claims = base64url(
      JSON.stringify({
        iss: ISSUER,
        sub: `${username}:${capability}`,
        nbf: seconds,
        iat: seconds,
        jti: randomUUID(),
      }),
    );
    return `${header}.${claims}.${this.sign(`${header}.${claims}`)}`;
  }

  /** Resolves the caller of a request, or throws Unauthenticated with Argo CD's message. */
  authenticate(headers: {
    authorization?: string | undefined;
    cookie?: string | undefined;
  }): Session {
    const token = extractToken(headers);
    if (token === undefined) throw noSession();
    if (sameString(token, this.acceptedToken)) {
      return this.sessionOf(token) ?? { username: 'admin', issuer: ISSUER, issuedAt: 0 };
    }
    if (!isJwtShaped(token)) throw noSession();
    return this.verify(token);
  }

  private verify(token: string): Session {
    const parts = token.split('.');
    if (parts.length !== 3) {
      throw invalid('token is malformed: token contains an invalid number of segments');
    }
    const [header, claims, signature] = parts as [string, string, string];
    let payload: Record<string, unknown>;
    try {
      JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as Record<
        string,
        unknown
      >;
    } catch {
      throw invalid('token is malformed: could not JSON decode header');
    }
    if (payload.iss !== ISSUER) throw invalid('SSO is not configured');
    if (!sameString(signature, this.sign(`${header}.${claims}`))) {
      throw invalid('token signature is invalid: signature is invalid');
    }
    if (typeof payload.exp === 'number' && payload.exp * 1000 < this.now()) {
      throw invalid('token has invalid claims: token is expired');
    }
    return this.sessionOf(token) as Session;
  }

  private sessionOf(token: string): Session | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    try {
      const payload = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as {
        sub?: unknown;
        iss?: unknown;
        iat?: unknown;
      };
      const subject = typeof payload.sub === 'string' ? payload.sub : '';
      return {
        username: subject.split(':')[0] || 'admin',
        issuer: typeof payload.iss === 'string' ? payload.iss : ISSUER,
        issuedAt: typeof payload.iat === 'number' ? payload.iat * 1000 : 0,
      };
    } catch {
      return undefined;
    }
  }

  private sign(input: string): string {
    return createHmac('sha256', this.key).update(input).digest('base64url');
  }
}

const invalid = (reason: string) =>
  new ApiError(GrpcCode.unauthenticated, `invalid session: ${reason}`);

/** `getToken` order: `Authorization: Bearer <jwt>` first, then the `argocd.token` cookie. */
function extractToken(headers: {
  authorization?: string | undefined;
  cookie?: string | undefined;
}): string | undefined {
  const authorization = headers.authorization;
  if (authorization?.startsWith('Bearer ')) {
    const token = authorization.slice('Bearer '.length);
    if (isJwtShaped(token)) return token;
  }
  for (const part of (headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === 'argocd.token' && isJwtShaped(rest.join('='))) return rest.join('=');
  }
  // A configured non-JWT token is still accepted verbatim (a stand-in convenience).
  if (authorization?.startsWith('Bearer '))
    return authorization.slice('Bearer '.length) || undefined;
  return undefined;
}

const isJwtShaped = (token: string) => token.split('.').length >= 3;

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

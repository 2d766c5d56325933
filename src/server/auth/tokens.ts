/**
 * API tokens: the service stores only SHA-256 digests. A presented token is hashed and compared
 * with every configured digest with `timingSafeEqual` (equal-length digests, so no length
 * oracle and no throw), without stopping at the first match.
 *
 * Scopes: `read` (status, operations, metrics), `deploy`, `swap` (swap and revert), `admin`
 * (scale-down; implies every scope), `hooks` (report a pending lifecycle hook's verdict:
 * `POST /v1/hooks/:id/result`). A token that may change something may also read: it can
 * follow the operation it started.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ValidationError } from '../../shared/errors.ts';
import { parseYamlValue } from '../../gitops/yaml-parse.ts';

export const SCOPES = ['read', 'deploy', 'swap', 'hooks', 'admin'] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

export const TokenName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'letters, digits and . _ @ - (at most 64)');

export const TokenEntry = z
  .object({
    name: TokenName,
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'the SHA-256 of the token as 64 hex digits')
      .transform((h) => h.toLowerCase()),
    scopes: z.array(Scope).min(1, 'give the token at least one scope'),
  })
  .strict();
export type TokenEntry = z.infer<typeof TokenEntry>;

export const TokenList = z.array(TokenEntry).superRefine((entries, ctx) => {
  const names = new Set<string>();
  const digests = new Set<string>();
  entries.forEach((e, i) => {
    if (names.has(e.name)) {
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate name ${e.name}` });
    }
    if (digests.has(e.sha256)) {
      ctx.addIssue({ code: 'custom', path: [i, 'sha256'], message: 'duplicate token digest' });
    }
    names.add(e.name);
    digests.add(e.sha256);
  });
});

/** Who called, as recorded in commits, the journal and logs. */
export interface Identity {
  /** The token's name, or `slack:<user>` for chat commands. */
  name: string;
  scopes: ReadonlySet<Scope>;
  via: 'token' | 'slack';
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function hasScope(identity: Identity, scope: Scope): boolean {
  if (identity.scopes.has('admin')) return true;
  if (scope === 'read') return identity.scopes.size > 0;
  return identity.scopes.has(scope);
}

export class TokenStore {
  private readonly entries: { name: string; digest: Buffer; scopes: ReadonlySet<Scope> }[];

  constructor(entries: readonly TokenEntry[]) {
    this.entries = entries.map((e) => ({
      name: e.name,
      digest: Buffer.from(e.sha256, 'hex'),
      scopes: new Set(e.scopes),
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The identity of a presented token, or undefined. Time does not depend on which matched. */
  verify(presented: string): Identity | undefined {
    // One-shot hash (Node >= 20.12): no Hash object per request on the hot path.
    const digest = hash('sha256', presented, 'buffer');
    let found: (typeof this.entries)[number] | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(digest, entry.digest) && !found) found = entry;
    }
    return found ? { name: found.name, scopes: found.scopes, via: 'token' } : undefined;
  }
}

/**
 * Tokens from STACKSWAP_TOKENS_FILE (YAML or JSON) or STACKSWAP_TOKENS (JSON). Both at once is
 * refused (which one wins would be a surprise). None configured: an empty store, so every
 * protected route answers 401.
 */
export function loadTokens(source: {
  file?: { path: string; text: string };
  json?: string;
}): TokenStore {
  if (source.file && source.json !== undefined) {
    throw new ValidationError('set STACKSWAP_TOKENS_FILE or STACKSWAP_TOKENS, not both', {
      where: { key: 'STACKSWAP_TOKENS' },
    });
  }
  if (source.file) {
    return new TokenStore(
      parseYamlValue(source.file.text, TokenList, { file: source.file.path, maxBytes: 1 << 20 }),
    );
  }
  if (source.json !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(source.json);
    } catch {
      throw new ValidationError('STACKSWAP_TOKENS is not valid JSON', {
        where: { key: 'STACKSWAP_TOKENS' },
      });
    }
    const parsed = TokenList.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`STACKSWAP_TOKENS: ${issue.path.join('.')}: ${issue.message}`, {
        where: { key: 'STACKSWAP_TOKENS' },
      });
    }
    return new TokenStore(parsed.data);
  }
  return new TokenStore([]);
}

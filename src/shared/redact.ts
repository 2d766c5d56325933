/**
 * Value-based secret scrubbing: the second layer behind "never put a secret in a message".
 * Every credential is registered when it is loaded (config, env), in the encodings it could
 * take on the way out (raw, URL-encoded, base64 of `user:token`), and every log line, error
 * message and git stderr passes through `redact()` before it is shown or stored.
 */
const MIN_SECRET_LENGTH = 4;
export const REDACTED = '[REDACTED]';

export class Redactor {
  private readonly secrets = new Set<string>();
  /** Longest first, so a base64 form is not half-replaced by a shorter raw form; kept sorted on add. */
  private ordered: string[] = [];

  /** Registers a secret and its usual encodings. Short strings are ignored (they would match everywhere). */
  add(secret: string | undefined, options: { username?: string } = {}): void {
    if (!secret || secret.length < MIN_SECRET_LENGTH) return;
    const forms = [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')];
    for (const user of [options.username, 'oauth2', 'x-access-token', 'git', 'token']) {
      if (user) forms.push(Buffer.from(`${user}:${secret}`).toString('base64'));
    }
    for (const form of forms) if (form.length >= MIN_SECRET_LENGTH) this.secrets.add(form);
    this.ordered = [...this.secrets].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.secrets.size;
  }

  redact(text: string): string {
    let out = stripUrlCredentials(text);
    for (const s of this.ordered) {
      if (out.includes(s)) out = out.split(s).join(REDACTED);
    }
    return out;
  }
}

/** `https://user:pass@host` -> `https://[REDACTED]@host`, and secret-looking query values. */
export function stripUrlCredentials(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+(?::[^/\s@]*)?@/gi, `$1${REDACTED}@`)
    .replace(
      /([?&](?:token|access_token|private_token|password|secret)=)[^&\s]+/gi,
      `$1${REDACTED}`,
    );
}

/**
 * HTTP checks against one colour. Each attempt: the templated URL passes the SSRF guard
 * (hosts.ts), one request with a hard timeout, no redirect followed (a 3xx is just a status),
 * a body read up to `maxBodyBytes`, then the expected status and CEL assertions on the JSON
 * body. A check passes after `successes` consecutive good attempts and fails after `attempts`.
 */
import { request, Agent, type Dispatcher } from 'undici';
import type { CheckConfig } from '../config/verification-config.ts';
import { compileCondition, ConditionError, type Condition } from './condition.ts';
import { checkUrl, type HostPattern } from '../shared/hosts.ts';
import { BodyTooLarge, readCapped } from '../shared/signed-post.ts';
import { fillTemplate, type TemplateValues } from './template.ts';
import type { VerifyClock } from './clock.ts';

export interface CheckTarget {
  /** Template values of the colour under test. */
  values: TemplateValues;
  /** Ingress checks: the base URL, the Host header, and whether to send the preview header. */
  ingress: { url: string | undefined; host: string | undefined; previewHeader: string };
  preview: boolean;
  allowed: readonly HostPattern[];
}

export interface AttemptResult {
  ok: boolean;
  status?: number;
  /** Why the attempt failed (or "200" when it passed). */
  detail: string;
  url: string;
  durationMs: number;
}

export interface CheckResult {
  name: string;
  phase: 'passed' | 'failed' | 'interrupted';
  attempts: AttemptResult[];
  /** The reason of the last failed attempt, for the audit trail. */
  reason?: string;
}

/** One dispatcher per process for checks: no keep-alive between attempts. */
export function checkDispatcher(): Dispatcher {
  return new Agent({ pipelining: 0, keepAliveTimeout: 1, connections: 8 });
}

export async function runCheck(
  check: CheckConfig,
  target: CheckTarget,
  options: {
    clock: VerifyClock;
    dispatcher: Dispatcher;
    signal?: AbortSignal;
    onAttempt?: (attempt: AttemptResult, index: number) => void;
  },
): Promise<CheckResult> {
  const assertions = check.assert.map((a) => compileCondition(a, 'assertion'));
  const attempts: AttemptResult[] = [];
  let streak = 0;
  for (let i = 0; i < check.attempts; i++) {
    if (options.signal?.aborted) return { name: check.name, phase: 'interrupted', attempts };
    const attempt = await attemptOnce(check, target, assertions, options);
    attempts.push(attempt);
    options.onAttempt?.(attempt, i);
    streak = attempt.ok ? streak + 1 : 0;
    if (streak >= check.successes) return { name: check.name, phase: 'passed', attempts };
    if (i + 1 < check.attempts) {
      try {
        await options.clock.sleep(check.interval, options.signal);
      } catch {
        return { name: check.name, phase: 'interrupted', attempts };
      }
    }
  }
  const last = [...attempts].reverse().find((a) => !a.ok);
  return {
    name: check.name,
    phase: 'failed',
    attempts,
    reason: `check ${check.name}: ${last?.detail ?? 'no attempt'} (${check.successes} consecutive successes needed in ${check.attempts} attempts)`,
  };
}

/** The URL a check reaches for a target, or the reason it may not. */
export function checkRequestUrl(
  check: CheckConfig,
  target: CheckTarget,
): { ok: true; url: URL } | { ok: false; reason: string } {
  const text =
    check.via === 'ingress'
      ? target.ingress.url
        ? new URL(check.path!, target.ingress.url).href
        : undefined
      : fillTemplate(check.url!, target.values, encodeURIComponent);
  if (text === undefined) {
    return {
      ok: false,
      reason:
        'no ingress URL: set verification.ingress.url or STACKSWAP_INGRESS_URL, or use a direct check',
    };
  }
  const ingressHost = target.ingress.url ? new URL(target.ingress.url) : undefined;
  const allowed: HostPattern[] = [...target.allowed];
  if (ingressHost && check.via === 'ingress') {
    allowed.push({ host: ingressHost.hostname.toLowerCase(), wildcard: false, port: undefined });
  }
  return checkUrl(text, allowed);
}

async function attemptOnce(
  check: CheckConfig,
  target: CheckTarget,
  assertions: readonly Condition[],
  options: { clock: VerifyClock; dispatcher: Dispatcher; signal?: AbortSignal },
): Promise<AttemptResult> {
  const started = options.clock.now();
  const resolved = checkRequestUrl(check, target);
  if (!resolved.ok) {
    return { ok: false, detail: resolved.reason, url: '', durationMs: 0 };
  }
  const url = resolved.url;
  const done = (ok: boolean, detail: string, status?: number): AttemptResult => ({
    ok,
    detail,
    url: url.href,
    durationMs: options.clock.now() - started,
    ...(status !== undefined ? { status } : {}),
  });
  const headers: Record<string, string> = { ...check.headers, accept: 'application/json' };
  if (check.via === 'ingress') {
    if (target.ingress.host) headers.host = target.ingress.host;
    if (target.preview) headers[target.ingress.previewHeader] = 'true';
  }
  let body: string | undefined;
  if (check.body !== undefined) {
    body = JSON.stringify(check.body);
    headers['content-type'] = 'application/json';
  }
  const timeout = AbortSignal.timeout(check.timeout);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let status: number;
  let text: string;
  try {
    const response = await request(url, {
      method: check.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      dispatcher: options.dispatcher,
      signal,
      headersTimeout: check.timeout,
      bodyTimeout: check.timeout,
      maxRedirections: 0,
    } as Parameters<typeof request>[1]);
    status = response.statusCode;
    text = await readCapped(response.body, check.maxBodyBytes);
  } catch (e) {
    if (timeout.aborted) return done(false, `no answer within ${check.timeout} ms`);
    if (e instanceof BodyTooLarge) return done(false, e.message);
    return done(false, `request failed: ${describe(e)}`);
  }
  if (!check.expectStatus.includes(status)) {
    return done(false, `status ${status}, expected ${check.expectStatus.join(' or ')}`, status);
  }
  if (assertions.length === 0) return done(true, `status ${status}`, status);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return done(false, `status ${status} but the body is not JSON`, status);
  }
  for (const assertion of assertions) {
    try {
      if (!assertion.evaluate({ status, body: json })) {
        return done(false, `assertion failed: ${assertion.source}`, status);
      }
    } catch (e) {
      const why = e instanceof ConditionError ? e.message : String(e);
      return done(false, `assertion ${assertion.source} could not be evaluated: ${why}`, status);
    }
  }
  return done(true, `status ${status}, ${assertions.length} assertion(s) hold`, status);
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  return `${err.message ?? String(e)}${code && !err.message?.includes(code) ? ` (${code})` : ''}`;
}

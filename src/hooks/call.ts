/**
 * One HTTP call to a lifecycle hook, and one poll of a pending hook's status URL: signed,
 * bounded (host allowlist, timeout, answer size, no redirects), answers checked with zod.
 * Every way an answer can be wrong is a veto with a message saying what was wrong; only
 * "no answer in time" is left to the hook's `onTimeout`.
 */
import type { Dispatcher } from 'undici';
import type { HookEntry } from '../config/hooks-config.ts';
import type { StackEvent } from '../shared/events.ts';
import type { HostPattern } from '../shared/hosts.ts';
import { signedPost, signedRequest } from '../shared/signed-post.ts';
import { HookAnswer, HookStatusAnswer } from './contract.ts';

export type CallOutcome =
  | { kind: 'pass'; message?: string }
  | { kind: 'fail'; message: string }
  | { kind: 'pending'; statusUrl?: string; message?: string }
  | { kind: 'timeout'; message: string };

export interface CallOptions {
  secret: string;
  allowed: readonly HostPattern[];
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
  nowSeconds?: () => number;
}

export async function callHook(
  hook: HookEntry,
  body: StackEvent,
  options: CallOptions,
): Promise<CallOutcome> {
  const outcome = await signedPost(hook.url, body, {
    secret: options.secret,
    deliveryId: body.id,
    allowedHosts: options.allowed,
    allowedHostsSetting: 'hooks.allowedHosts',
    timeoutMs: hook.timeout,
    maxResponseBytes: hook.maxResponseBytes,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    ...(options.nowSeconds ? { nowSeconds: options.nowSeconds } : {}),
  });
  if (!outcome.ok) {
    return outcome.timedOut
      ? { kind: 'timeout', message: `hook ${hook.name}: ${outcome.reason}` }
      : { kind: 'fail', message: `hook ${hook.name}: ${outcome.reason}` };
  }
  const { status } = outcome;
  if (status >= 300 && status < 400) {
    const location = outcome.headers.location;
    return {
      kind: 'fail',
      message: `hook ${hook.name} answered ${status}${location ? ` (to ${String(location).slice(0, 200)})` : ''}: redirects are not followed`,
    };
  }
  const parsed = parseAnswer(outcome.body, HookAnswer);
  if (status < 200 || status >= 300) {
    const said = typeof parsed === 'string' ? excerpt(outcome.body) : parsed.message;
    return {
      kind: 'fail',
      message: `hook ${hook.name} answered ${status}${said ? `: ${said}` : ''}`,
    };
  }
  if (typeof parsed === 'string') return { kind: 'fail', message: `hook ${hook.name}: ${parsed}` };
  switch (parsed.result) {
    case 'pass':
      return { kind: 'pass', ...(parsed.message ? { message: parsed.message } : {}) };
    case 'fail':
      return { kind: 'fail', message: parsed.message ?? `hook ${hook.name} answered fail` };
    case 'pending': {
      const executionId = body.hook?.executionId;
      if (!parsed.id || parsed.id !== executionId) {
        return {
          kind: 'fail',
          message: `hook ${hook.name} answered pending with ${parsed.id ? `id "${excerpt(parsed.id)}"` : 'no id'}; a pending answer must echo hook.executionId (${executionId})`,
        };
      }
      return {
        kind: 'pending',
        ...(parsed.statusUrl ? { statusUrl: parsed.statusUrl } : {}),
        ...(parsed.message ? { message: parsed.message } : {}),
      };
    }
  }
}

function parseAnswer<T>(
  text: string,
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
): T | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return `the answer is not JSON (${text.length === 0 ? 'empty' : `starts "${excerpt(text, 60)}"`}); expected {"result":"pass"|"fail"|"pending"}`;
  }
  const result = schema.safeParse(json);
  return result.success ? result.data : 'the answer is not {"result":"pass"|"fail"|"pending", ...}';
}

function excerpt(text: string, max = 200): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

export type StatusOutcome =
  { kind: 'pass' | 'fail' | 'pending'; message?: string } | { kind: 'error'; message: string };

/**
 * One poll of a pending hook's status URL (the CLI's way to learn a delayed verdict): a GET
 * signed over `"<timestamp>."` (the empty body), so the hook can tell it is us.
 */
export async function pollStatus(
  hook: HookEntry,
  statusUrl: string,
  options: CallOptions,
): Promise<StatusOutcome> {
  const outcome = await signedRequest(
    statusUrl,
    { method: 'GET' },
    {
      secret: options.secret,
      allowedHosts: options.allowed,
      allowedHostsSetting: 'hooks.allowedHosts',
      timeoutMs: hook.timeout,
      maxResponseBytes: hook.maxResponseBytes,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(options.nowSeconds ? { nowSeconds: options.nowSeconds } : {}),
    },
  );
  if (!outcome.ok) {
    if (outcome.cause === 'url')
      return { kind: 'fail', message: `hook ${hook.name}: status URL: ${outcome.reason}` };
    if (outcome.cause === 'too-large')
      return { kind: 'fail', message: `hook ${hook.name}: ${outcome.reason}` };
    // No answer, or no connection: not a verdict; keep polling.
    return { kind: 'error', message: `status URL: ${outcome.reason}` };
  }
  if (outcome.status < 200 || outcome.status >= 300) {
    // A status URL that is briefly unavailable is not a verdict: keep polling.
    return { kind: 'error', message: `status URL answered ${outcome.status}` };
  }
  const parsed = parseAnswer(outcome.body, HookStatusAnswer);
  if (typeof parsed === 'string') {
    return { kind: 'fail', message: `hook ${hook.name}: status URL: ${parsed}` };
  }
  return { kind: parsed.result, ...(parsed.message ? { message: parsed.message } : {}) };
}

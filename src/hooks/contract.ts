/**
 * The wire contract of lifecycle hooks (issue 13), in one place.
 *
 * Request: `POST <url>` with a StackEvent (src/shared/events.ts) as JSON; its `hook` field
 * names the point, the hook and the execution id, and `X-Stackswap-Signature-256` signs
 * `"<X-Stackswap-Timestamp>.<body>"` with the hook's secret (src/shared/signed-post.ts).
 *
 * Answer (2xx, JSON): `{"result":"pass"}` passes; `{"result":"fail","message":"..."}` vetoes;
 * `{"result":"pending","id":"<executionId>"}` (optionally `"statusUrl"`) reports later. Any
 * other status (3xx included: redirects are never followed), a body that is not such JSON,
 * a body over the size limit, or an unreachable hook vetoes. No answer in time: `onTimeout`.
 *
 * Later verdict: the service takes `POST /v1/hooks/<executionId>/result` (bearer-authenticated)
 * with `{"result":"pass"|"fail","message"?,"token":"<hook.callbackToken>"}`; the CLI polls
 * `statusUrl` (a signed GET) for `{"result":"pass"|"fail"|"pending","message"?}`.
 */
import { z } from 'zod';

const Message = z
  .string()
  .max(10_000)
  .transform((m) => m.replace(/\s+/g, ' ').trim().slice(0, 500));

export const HookAnswer = z
  .object({
    result: z.enum(['pass', 'fail', 'pending']),
    message: Message.optional(),
    id: z.string().min(1).max(200).optional(),
    statusUrl: z.string().min(1).max(2000).optional(),
  })
  .loose();
export type HookAnswer = z.infer<typeof HookAnswer>;

/** A status URL's answer while the CLI polls a pending hook. */
export const HookStatusAnswer = z
  .object({ result: z.enum(['pass', 'fail', 'pending']), message: Message.optional() })
  .loose();

/** The body of `POST /v1/hooks/:id/result`. */
export const HookCallbackBody = z
  .object({
    result: z.enum(['pass', 'fail']),
    message: Message.optional(),
    token: z.string().min(16).max(200),
  })
  .strict();
export type HookCallbackBody = z.infer<typeof HookCallbackBody>;

/** The verdict of one hook at one point, as recorded in events, trailers and history. */
export type HookResultKind = 'pass' | 'fail' | 'timeout-pass' | 'timeout-fail' | 'skipped';

export interface HookResult {
  point: string;
  name: string;
  result: HookResultKind;
  message?: string;
  executionId: string;
  durationMs: number;
  /** It answered pending first (and its verdict came later). */
  deferred?: boolean;
}

export function passed(result: HookResult): boolean {
  return (
    result.result === 'pass' || result.result === 'timeout-pass' || result.result === 'skipped'
  );
}

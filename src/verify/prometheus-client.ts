/**
 * Instant queries against the Prometheus HTTP API (`/api/v1/query`). One query must give one
 * number: an empty vector or NaN is "no data" (inconclusive by default, never a silent pass),
 * several series is an error naming them, and Prometheus down, 4xx or 5xx is an error (the gate
 * fails closed and says so).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { z } from 'zod';

const Sample = z.tuple([z.number(), z.string()]);
const QueryAnswer = z.discriminatedUnion('status', [
  z
    .object({
      status: z.literal('success'),
      data: z.discriminatedUnion('resultType', [
        z.object({
          resultType: z.literal('vector'),
          result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: Sample })),
        }),
        z.object({ resultType: z.literal('scalar'), result: Sample }),
        z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
        z.object({ resultType: z.literal('string'), result: z.unknown() }),
      ]),
      warnings: z.array(z.string()).optional(),
    })
    .loose(),
  z.object({ status: z.literal('error'), errorType: z.string(), error: z.string() }).loose(),
]);

export type QueryOutcome =
  | { kind: 'value'; value: number; warnings?: string[] }
  | { kind: 'no-data'; why: string }
  | { kind: 'error'; message: string };

export interface PrometheusClient {
  readonly url: string;
  query(promql: string, options?: { signal?: AbortSignal }): Promise<QueryOutcome>;
  close(): Promise<void>;
}

const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export function prometheusClient(
  baseUrl: string,
  options: { timeoutMs: number },
): PrometheusClient {
  const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  const dispatcher: Dispatcher = new Agent({ connections: 4 });
  const where = `Prometheus at ${base.origin}`;
  return {
    url: base.href,
    async query(promql, { signal } = {}) {
      const url = new URL('api/v1/query', base);
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let status: number;
      let text: string;
      try {
        const response = await request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ query: promql }).toString(),
          dispatcher,
          signal: both,
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        });
        status = response.statusCode;
        text = await readCapped(response.body);
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        if (timeout.aborted) {
          return {
            kind: 'error',
            message: `${where} did not answer within ${options.timeoutMs} ms`,
          };
        }
        return { kind: 'error', message: `${where} is unreachable: ${describe(e)}` };
      }
      let parsed: z.infer<typeof QueryAnswer> | undefined;
      try {
        const result = QueryAnswer.safeParse(JSON.parse(text));
        if (result.success) parsed = result.data;
      } catch {
        // not JSON: reported below with the status
      }
      if (!parsed) {
        return {
          kind: 'error',
          message: `${where} answered ${status} with ${text.length === 0 ? 'an empty body' : 'something other than a query result'}`,
        };
      }
      if (parsed.status === 'error') {
        return {
          kind: 'error',
          message: `${where} answered ${status}: ${parsed.errorType}: ${parsed.error}`,
        };
      }
      if (status < 200 || status > 299) {
        return { kind: 'error', message: `${where} answered ${status}` };
      }
      const warnings = parsed.warnings;
      const data = parsed.data;
      let raw: string;
      if (data.resultType === 'scalar') {
        raw = data.result[1];
      } else if (data.resultType === 'vector') {
        if (data.result.length === 0)
          return { kind: 'no-data', why: 'the query returned no series' };
        if (data.result.length > 1) {
          const shown = data.result.slice(0, 3).map((s) => labels(s.metric));
          return {
            kind: 'error',
            message: `the query returned ${data.result.length} series where one number is expected (${shown.join(', ')}${data.result.length > 3 ? ', ...' : ''}); aggregate it, e.g. with sum(...)`,
          };
        }
        raw = data.result[0]!.value[1];
      } else {
        return {
          kind: 'error',
          message: `the query returned a ${data.resultType}, not one number (an instant vector or scalar)`,
        };
      }
      const value = Number(raw);
      if (Number.isNaN(value))
        return { kind: 'no-data', why: 'the query returned NaN (no traffic: 0/0?)' };
      return { kind: 'value', value, ...(warnings?.length ? { warnings } : {}) };
    },
    close: () => dispatcher.close(),
  };
}

function labels(metric: Record<string, string>): string {
  return `{${Object.entries(metric)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

async function readCapped(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) throw new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  return `${err.message ?? String(e)}${code && !err.message?.includes(code) ? ` (${code})` : ''}`;
}

/**
 * The `verification` block of a stack in `stackswap.yaml`: what must hold before, during and
 * after a swap. This file is only the shape (zod); the meaning of each field is checked by
 * src/verify (PromQL grammar, CEL conditions, template variables, allowed hosts) when the
 * config is loaded, so a typo fails at `plan validate`, not during a release.
 *
 * Vocabulary follows Argo Rollouts' AnalysisTemplate (interval, count, failureLimit,
 * inconclusiveLimit, consecutiveErrorLimit) with deliberate changes: a metric needs a
 * condition, no data is an explicit per-metric policy (default inconclusive, never a pass),
 * and an interrupted gate is never reported as passed.
 */
import { z } from 'zod';
import { ResourceName } from './names.ts';

const DURATION = /^(\d+)(ms|s|m|h)$/;
const Duration = z
  .string()
  .regex(DURATION, 'a duration like "500ms", "10s" or "2m"')
  .transform((text) => {
    const [, n, unit] = DURATION.exec(text)!;
    return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
  });

const Name = ResourceName;

/** An HTTP check against one colour (smoke test, deep readiness check). */
const Check = z
  .object({
    name: Name,
    /**
     * `ingress`: through the stack's ingress with the preview header, as a user would
     * (`path` is appended to `ingress.url`). `direct`: `url`, templated with {namespace},
     * {colour}, {stack}, {component}, e.g. http://{component}.{namespace}.svc.cluster.local/health.
     */
    via: z.enum(['ingress', 'direct']).default('ingress'),
    path: z.string().startsWith('/', 'path must start with "/"').optional(),
    url: z.string().min(1).optional(),
    /** For {component} in `url`; default the stack's first component. */
    component: Name.optional(),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT']).default('GET'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}),
    /** A JSON body sent with POST/PUT (e.g. a tRPC call). */
    body: z.unknown().optional(),
    expectStatus: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
    /** CEL conditions on the answer: `body` (parsed JSON) and `status`, e.g. body.status == "ready". */
    assert: z.array(z.string().min(1)).default([]),
    timeout: Duration.default(5000),
    interval: Duration.default(1000),
    /** Consecutive successes needed. */
    successes: z.number().int().min(1).max(100).default(1),
    /** Attempts before the check fails. */
    attempts: z.number().int().min(1).max(1000).default(10),
    /** Largest answer body read (bytes); a larger one fails the attempt. */
    maxBodyBytes: z.number().int().min(1).max(16_777_216).default(1_048_576),
  })
  .strict()
  .superRefine((check, ctx) => {
    if (check.via === 'ingress' && check.path === undefined) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'a check via ingress needs a path' });
    }
    if (check.via === 'direct' && check.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'a direct check needs a url' });
    }
  });

export type CheckConfig = z.infer<typeof Check>;

/** A Prometheus query judged by conditions (CEL over `result`, and `live` in comparisons). */
const Analysis = z
  .object({
    name: Name,
    /**
     * PromQL, templated with {namespace}, {colour}, {stack}, {component} and {version} (the
     * image tag of {component} in the colour measured); must return one number.
     */
    query: z.string().min(1),
    /** For {component} and {version} in `query`; default the stack's first component. */
    component: Name.optional(),
    /** CEL over `result` (a double), e.g. result < 0.02. */
    successCondition: z.string().min(1).optional(),
    failureCondition: z.string().min(1).optional(),
    /**
     * During weighted steps only: CEL over `result` (preview) and `live` (the same query on the
     * live colour), e.g. result <= 2.0 * live. Skipped when live has no data.
     */
    compare: z.string().min(1).optional(),
    interval: Duration.default(5000),
    count: z.number().int().min(1).max(10_000).default(3),
    /** Failed measurements tolerated: the metric fails when failed > failureLimit. */
    failureLimit: z.number().int().min(0).default(0),
    inconclusiveLimit: z.number().int().min(0).default(0),
    /** Prometheus errors in a row tolerated before failing closed. */
    consecutiveErrorLimit: z.number().int().min(0).max(100).default(2),
    /** An empty result or NaN: inconclusive (default), fail, or pass. */
    onNoData: z.enum(['inconclusive', 'fail', 'pass']).default('inconclusive'),
    /**
     * Evidence needed before a measurement is judged (Kayenta's minimum data points, Flagger's
     * request-count guard): `query` (PromQL, templated like `query`) counts the requests the
     * colour answered in the window; fewer than `count` (or no data) makes the measurement
     * inconclusive, neither passed nor failed, so an idle preview cannot pass by accident.
     */
    minRequests: z
      .object({
        count: z.number().int().min(1).max(1_000_000_000),
        query: z.string().min(1),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((a) => a.successCondition !== undefined || a.failureCondition !== undefined, {
    message: 'an analysis needs successCondition or failureCondition',
    path: ['successCondition'],
  });

export type AnalysisConfig = z.infer<typeof Analysis>;

const Selection = z.array(Name).optional();

export const VerificationConfig = z
  .object({
    prometheus: z
      .object({
        /** Base URL; STACKSWAP_PROMETHEUS_URL overrides it. */
        url: z.string().url().optional(),
        timeout: Duration.default(5000),
      })
      .strict()
      .default({ timeout: 5000 }),
    ingress: z
      .object({
        /** Base URL of the ingress; STACKSWAP_INGRESS_URL overrides it. */
        url: z.string().url().optional(),
        /** Host header sent (the VirtualService host); default the URL's host. */
        host: z.string().min(1).optional(),
        previewHeader: z.string().default('x-stackswap-preview'),
      })
      .strict()
      .default({ previewHeader: 'x-stackswap-preview' }),
    /**
     * Hosts checks may reach after templating: exact names, `*.suffix`, optionally `:port`.
     * The ingress URL's host is always allowed. Only http and https.
     */
    allowedHosts: z.array(z.string().min(1)).default([]),
    /** The key (in the live file) holding the preview's share of traffic in percent. */
    weightKey: z.string().min(1).default('global.previewWeight'),
    checks: z.array(Check).default([]),
    analysis: z.array(Analysis).default([]),
    preSwap: z.object({ checks: Selection, analysis: Selection }).strict().default({}),
    /** Weights of the preview, e.g. [10, 50, 100]; `swap --steps` overrides; [] or [100]: one flip. */
    steps: z
      .object({
        weights: z.array(z.number().int().min(1).max(100)).default([]),
        analysis: Selection,
        checks: Selection,
      })
      .strict()
      .default({ weights: [] }),
    postSwap: z
      .object({
        /** How long the new live colour is watched after 100 %; 0 disables the window. */
        window: Duration.default(0),
        analysis: Selection,
        checks: Selection,
        onFailure: z.enum(['revert', 'report']).default('revert'),
      })
      .strict()
      .default({ window: 0, onFailure: 'revert' }),
    /**
     * A verdict without evidence: `hold` (default) measures again until a verdict or the
     * operation's timeout, then stops the release as a failure; `fail` stops at once; `pass`
     * continues (said so in the output and trailers).
     */
    onInconclusive: z.enum(['hold', 'fail', 'pass']).default('hold'),
  })
  .strict();

export type VerificationConfigFile = z.infer<typeof VerificationConfig>;

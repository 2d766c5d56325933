/**
 * The HTTP contract as zod schemas: they validate requests (unknown fields refused), shape
 * responses, and are the single source of the OpenAPI document served at /docs.
 */
import { z } from 'zod';
import { Colour, ImageTag, RESERVED_KEYS, ResourceName } from '../config/names.ts';

/** component -> version; keys checked here so that the issue names the key and says why. */
export const Versions = z
  .record(z.string(), ImageTag)
  .superRefine((record, ctx) => {
    for (const key of Object.keys(record)) {
      const name = ResourceName.safeParse(key);
      if (RESERVED_KEYS.has(key) || !name.success) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: RESERVED_KEYS.has(key)
            ? 'component name not allowed'
            : `component name ${name.error?.issues[0]?.message ?? 'invalid'}`,
        });
      }
    }
  })
  .describe('component -> version (image tag)');

const Reason = z
  .string()
  .min(1)
  .max(500)
  .regex(/^[^\0-\x08\x0b-\x1f\x7f]*$/, 'no control characters')
  .describe('why: recorded in the commit message and its trailers');

const DryRun = z
  .boolean()
  .default(false)
  .describe('plan only: answer the exact values diff, commit nothing (200 instead of 202)');

const Force = z
  .boolean()
  .optional()
  .describe(
    'true: go ahead with a version set recorded as rejected (reverted or stopped by verification); without it such a set is refused with 412 release-rejected',
  );

export const StackParams = z.object({ stack: ResourceName });

export const DeployBody = z
  .object({
    versions: Versions.optional().describe(
      'the complete release plan (every component); default: the release plan in the config repo',
    ),
    overrides: Versions.optional().describe('versions on top of the plan (like --set)'),
    force: Force,
    hooks: z
      .literal(false)
      .optional()
      .describe(
        "false: skip the stack's lifecycle hooks (admin tokens only; recorded in the commit trailers)",
      ),
    dryRun: DryRun,
    reason: Reason.optional(),
  })
  .strict();
export type DeployBody = z.infer<typeof DeployBody>;

export const SwapBody = z
  .object({
    to: Colour.optional().describe('the colour to make live; default: the preview colour'),
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .refine((w) => w.every((x, i) => i === 0 || x > w[i - 1]!) && w.at(-1) === 100, {
        message: 'increasing whole percentages ending at 100',
      })
      .optional()
      .describe("weighted steps, e.g. [10, 50, 100]; default the stack's verification.steps"),
    verify: z
      .boolean()
      .optional()
      .describe("false: flip at once without the stack's verification gates"),
    force: Force,
    hooks: z
      .literal(false)
      .optional()
      .describe(
        "false: skip the stack's lifecycle hooks (admin tokens only; recorded in the commit trailers)",
      ),
    dryRun: DryRun,
    reason: Reason.optional(),
  })
  .strict();
export type SwapBody = z.infer<typeof SwapBody>;

export const RevertBody = z.object({ dryRun: DryRun, reason: Reason.optional() }).strict();
export type RevertBody = z.infer<typeof RevertBody>;

export const ScaleDownBody = z
  .object({
    force: z.boolean().default(false).describe('skip the retention window'),
    hooks: z
      .literal(false)
      .optional()
      .describe(
        "false: skip the stack's lifecycle hooks (admin tokens only; recorded in the commit trailers)",
      ),
    dryRun: DryRun,
    reason: Reason.optional(),
  })
  .strict();
export type ScaleDownBody = z.infer<typeof ScaleDownBody>;

export const IdempotencyHeaders = z
  .object({
    'idempotency-key': z
      .string()
      .regex(/^[\x21-\x7e]{1,255}$/, '1-255 printable ASCII characters')
      .optional()
      .describe('a retry with the same key returns the same operation instead of a new one'),
  })
  .loose();

/** A review operation's request (journaled; started by a webhook, never by a route). */
export const ReviewBody = z
  .object({
    forge: z.enum(['gitlab', 'github']),
    project: z.string().min(1),
    number: z.number().int().positive(),
    headSha: z.string().regex(/^[0-9a-f]{7,64}$/i),
    sourceBranch: z.string().min(1),
    targetBranch: z.string().min(1),
    deliveryId: z.string().min(1),
    reason: Reason.optional(),
  })
  .strict();
export type ReviewBody = z.infer<typeof ReviewBody>;

/** `review`: a merge request's plan review, started by a forge webhook only (no route). */
export const OPERATION_KINDS = ['deploy', 'swap', 'revert', 'scale-down', 'review'] as const;
export const OperationKind = z.enum(OPERATION_KINDS);
export type OperationKind = z.infer<typeof OperationKind>;

export const OPERATION_STATES = ['running', 'succeeded', 'failed', 'interrupted'] as const;
export const OperationState = z.enum(OPERATION_STATES);
export type OperationState = z.infer<typeof OperationState>;

export const ErrorJson = z
  .object({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    where: z
      .object({
        file: z.string().optional(),
        key: z.string().optional(),
        line: z.number().optional(),
      })
      .optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
export type ErrorJson = z.infer<typeof ErrorJson>;

export const ErrorResponse = z
  .object({ error: ErrorJson })
  .describe('every error: a stable code, a message, and sometimes where/hint/details');

export const StepTiming = z.object({
  step: z.string(),
  title: z.string(),
  durationMs: z.number(),
  ok: z.boolean(),
  detail: z.string().optional(),
});

export const AppStatus = z.object({
  app: z.string(),
  syncStatus: z.string(),
  revision: z.string().optional(),
  health: z.string(),
  operationPhase: z.string().optional(),
  message: z.string().optional(),
});

export const OperationOutcome = z.object({
  committed: z.boolean(),
  sha: z.string(),
  attempts: z.number(),
  summary: z.string(),
  live: Colour,
  preview: Colour,
  apps: z.array(AppStatus),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type OperationOutcome = z.infer<typeof OperationOutcome>;

export const Interruption = z.object({
  reason: z.string(),
  /** The last step that finished before the interruption, e.g. the commit with its sha. */
  lastCompletedStep: StepTiming.optional(),
  resume: z.string(),
});
export type Interruption = z.infer<typeof Interruption>;

export const OperationRequest = z.object({
  method: z.literal('POST'),
  path: z.string(),
  body: z.record(z.string(), z.unknown()),
});
export type OperationRequest = z.infer<typeof OperationRequest>;

export const NotificationDelivery = z.object({
  eventId: z.string(),
  eventType: z.string(),
  target: z.string().describe('the name of the notification in stackswap.yaml'),
  kind: z.enum(['slack', 'webhook']),
  state: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  lastError: z
    .string()
    .optional()
    .describe('why the last attempt failed (failed: why it was given up)'),
});

export const Operation = z.object({
  id: z.string(),
  stack: z.string(),
  kind: OperationKind,
  state: OperationState,
  requestedBy: z.string(),
  createdAt: z.string(),
  finishedAt: z.string().optional(),
  request: OperationRequest.describe('what to POST again to resume an interrupted operation'),
  steps: z.array(StepTiming),
  result: OperationOutcome.optional(),
  error: ErrorJson.optional(),
  interrupted: Interruption.optional(),
  /** Notifications of the operation's events (issue 13): one per event and destination. */
  notifications: z.array(NotificationDelivery).optional(),
  links: z.object({ self: z.string(), events: z.string() }),
});
export type OperationView = z.infer<typeof Operation>;

export const OperationAccepted = z.object({ operation: Operation });

export const OperationList = z.object({ operations: z.array(Operation) });

export const OperationListQuery = z
  .object({
    stack: ResourceName.optional(),
    state: OperationState.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

export const OperationParams = z.object({ id: z.string().uuid() });

export const FileDiff = z.object({
  file: z.string(),
  created: z.boolean(),
  diff: z.string().describe('unified diff of the file'),
});

export const DryRunResult = z.object({
  dryRun: z.literal(true),
  stack: z.string(),
  kind: OperationKind,
  baseSha: z.string().describe('the commit the change was planned on'),
  wouldCommit: z.boolean(),
  subject: z.string().optional(),
  trailers: z.record(z.string(), z.string()).optional(),
  files: z.array(FileDiff),
  steps: z
    .array(
      z.object({
        subject: z.string(),
        trailers: z.record(z.string(), z.string()),
        files: z.array(FileDiff),
      }),
    )
    .optional()
    .describe(
      'a swap with weighted steps: each commit in order, its diff against the one before (files above: the net change; subject and trailers: the last commit)',
    ),
});
export type DryRunResult = z.infer<typeof DryRunResult>;

const ColourView = z.object({
  role: z.enum(['live', 'preview']),
  namespace: z.string(),
  app: z.string(),
  valuesFile: z.string(),
  replicas: z.number(),
  versions: z.record(z.string(), z.string().nullable()),
});

const HistoryEntry = z.object({
  sha: z.string(),
  date: z.string(),
  operation: z.string(),
  stack: z.string(),
  subject: z.string(),
  requestedBy: z.string().optional(),
  operationId: z.string().optional(),
  colour: Colour.optional(),
  from: Colour.optional(),
  to: Colour.optional(),
  versions: z.record(z.string(), z.string()).optional(),
  reason: z.string().optional(),
  rejected: z
    .record(z.string(), z.string())
    .optional()
    .describe('the version set this commit recorded as rejected'),
  // verification (issue 11): a weighted step's weight; why a release was stopped or reverted
  weight: z.number().optional(),
  verification: z
    .object({
      result: z.string(),
      phase: z.string().optional(),
      metric: z.string().optional(),
      value: z.string().optional(),
      condition: z.string().optional(),
      reason: z.string().optional(),
    })
    .optional(),
});

export const StackStatus = z.object({
  stack: z.string(),
  headSha: z.string(),
  live: Colour,
  preview: Colour,
  colours: z.object({ blue: ColourView, green: ColourView }),
  traffic: z
    .object({ blue: z.number(), green: z.number() })
    .describe('percent of the default route per colour'),
  apps: z.array(z.union([AppStatus, z.object({ app: z.string(), error: z.string() })])),
  lastPromotions: z.array(HistoryEntry),
  rejected: z
    .array(
      z.object({
        versions: z.record(z.string(), z.string()),
        at: z.string(),
        operation: z.string(),
        by: z.string(),
        reason: z.string(),
        date: z.string(),
      }),
    )
    .optional()
    .describe('version sets deploy and swap refuse without force: true (oldest first)'),
  runningOperation: z.string().optional().describe('id of the operation running on this stack'),
  observedAt: z.string().describe('when git and Argo CD were read (the state is cached briefly)'),
});
export type StackStatus = z.infer<typeof StackStatus>;

export const StackList = z.object({ stacks: z.array(StackStatus) });

export const HealthResponse = z.object({ status: z.literal('ok') });

export const ReadyResponse = z.object({
  status: z.enum(['ready', 'not-ready']),
  checks: z.object({
    configRepo: z.object({ ok: z.boolean(), reason: z.string().optional() }),
    argocd: z.object({ ok: z.boolean(), reason: z.string().optional() }),
    database: z.object({ ok: z.boolean(), reason: z.string().optional() }),
  }),
});
export type ReadyResponse = z.infer<typeof ReadyResponse>;

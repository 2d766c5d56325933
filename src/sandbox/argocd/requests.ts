/**
 * Request bodies, checked with zod the way Go's `encoding/json` decodes them into the gateway's
 * request structs: unknown fields are ignored, a wrong JSON type is a 400 InvalidArgument with
 * Go's message ("json: cannot unmarshal string into Go struct field ... of type bool"), and
 * `null` means "not set". int64 fields must be JSON numbers (swagger says string; §1.3).
 */
import { z } from 'zod';
import { ApiError, GrpcCode } from './grpc-errors.ts';

const opt = <T extends z.ZodType>(schema: T) => schema.nullish().transform((v) => v ?? undefined);

const Int64 = z.number().int();

export const SyncRequestBody = z
  .object({
    name: opt(z.string()),
    appNamespace: opt(z.string()),
    project: opt(z.string()),
    revision: opt(z.string()),
    revisions: opt(z.array(z.string())),
    sourcePositions: opt(z.array(Int64)),
    prune: opt(z.boolean()),
    dryRun: opt(z.boolean()),
    strategy: opt(
      z
        .object({
          hook: opt(z.object({ force: opt(z.boolean()) }).loose()),
          apply: opt(z.object({ force: opt(z.boolean()) }).loose()),
        })
        .loose(),
    ),
    resources: opt(
      z.array(
        z
          .object({
            group: opt(z.string()),
            kind: opt(z.string()),
            name: opt(z.string()),
            namespace: opt(z.string()),
          })
          .loose(),
      ),
    ),
    syncOptions: opt(z.object({ items: opt(z.array(z.string())) }).loose()),
    retryStrategy: opt(
      z
        .object({
          limit: opt(Int64),
          backoff: opt(
            z
              .object({
                duration: opt(z.string()),
                factor: opt(Int64),
                maxDuration: opt(z.string()),
              })
              .loose(),
          ),
          refresh: opt(z.boolean()),
        })
        .loose(),
    ),
    infos: opt(z.array(z.object({ name: opt(z.string()), value: opt(z.string()) }).loose())),
    manifests: opt(z.array(z.string())),
  })
  .loose();
export type SyncRequestBody = z.infer<typeof SyncRequestBody>;

export const SessionCreateBody = z
  .object({
    username: opt(z.string()),
    password: opt(z.string()),
    token: opt(z.string()),
  })
  .loose();
export type SessionCreateBody = z.infer<typeof SessionCreateBody>;

/** Parses a JSON body into `schema`; an empty body is `{}` (the gateway ignores io.EOF). */
export function decodeBody<T extends z.ZodType>(
  text: string,
  schema: T,
  goStruct: string,
): z.infer<T> {
  let raw: unknown = {};
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new ApiError(GrpcCode.invalidArgument, goJsonSyntaxMessage(text, error));
    }
  }
  if (raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ApiError(
      GrpcCode.invalidArgument,
      `json: cannot unmarshal ${jsonType(raw)} into Go value of type ${goStruct}`,
    );
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = (issue?.path ?? []).filter((p): p is string => typeof p === 'string');
  const value = valueAt(raw, issue?.path ?? []);
  throw new ApiError(
    GrpcCode.invalidArgument,
    `json: cannot unmarshal ${jsonType(value)} into Go struct field ${goStruct}.${path.join('.')} of type ${goType(issue?.message ?? '')}`,
  );
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return node;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function jsonType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'object';
  return typeof value;
}

/** Maps zod's "expected X" to the Go type name the decoder would report. */
function goType(zodMessage: string): string {
  const expected = /expected (\w+)/.exec(zodMessage)?.[1] ?? '';
  return (
    {
      string: 'string',
      boolean: 'bool',
      number: 'int64',
      int: 'int64',
      array: '[]string',
      object: 'struct',
    }[expected] ?? expected
  );
}

function goJsonSyntaxMessage(text: string, error: unknown): string {
  const first = text.trim()[0] ?? '';
  if (first && !'{["tfn-0123456789'.includes(first)) {
    return `invalid character '${first}' looking for beginning of value`;
  }
  return error instanceof SyntaxError ? 'unexpected end of JSON input' : String(error);
}

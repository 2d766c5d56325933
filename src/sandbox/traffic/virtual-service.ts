/**
 * Reads applied Istio VirtualServices into a routing table the sandbox gateway can evaluate.
 *
 * Supported: `spec.hosts` (exact, `*.suffix`, `*`), `spec.http[]` in order with `match[]`
 * (any entry may match; within one entry every condition must hold) on `uri`, `method`,
 * `authority`, `headers`, `queryParams`, `withoutHeaders` (string matches `exact`, `prefix`,
 * `regex` as a full-string RE2-style match, and `{}` meaning "present"), `ignoreUriCase`;
 * weighted `route[]` destinations; `headers.request`/`headers.response` `set`/`add`/`remove`
 * on the route and on each destination. Ignored (reported once): `gateways` binding,
 * `match[].port`/`sourceLabels`/`gateways`, `rewrite`, `retries`, `timeout`, `fault`, `mirror`,
 * `corsPolicy`. Routes that answer by themselves (`redirect`, `directResponse`, `delegate`) are
 * kept as unsupported, so a request reaching one fails loudly instead of going elsewhere.
 */
import { z } from 'zod';
import type { RenderedObject } from '../../helm/render.ts';

const StringMatch = z
  .object({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: z.string().optional(),
  })
  .loose();
type StringMatch = z.infer<typeof StringMatch>;

const HeaderOperations = z
  .object({
    set: z.record(z.string(), z.string()).optional(),
    add: z.record(z.string(), z.string()).optional(),
    remove: z.array(z.string()).optional(),
  })
  .loose();
const Headers = z
  .object({ request: HeaderOperations.optional(), response: HeaderOperations.optional() })
  .loose();

const MatchRequest = z
  .object({
    name: z.string().optional(),
    uri: StringMatch.optional(),
    method: StringMatch.optional(),
    authority: StringMatch.optional(),
    headers: z.record(z.string(), StringMatch).optional(),
    queryParams: z.record(z.string(), StringMatch).optional(),
    withoutHeaders: z.record(z.string(), StringMatch).optional(),
    ignoreUriCase: z.boolean().optional(),
  })
  .loose();

const RouteDestination = z
  .object({
    destination: z
      .object({
        host: z.string().min(1),
        subset: z.string().optional(),
        port: z.object({ number: z.number().int().positive() }).loose().optional(),
      })
      .loose(),
    weight: z.number().int().min(0).optional(),
    headers: Headers.optional(),
  })
  .loose();

const HttpRoute = z
  .object({
    name: z.string().optional(),
    match: z.array(MatchRequest).nullish(),
    route: z.array(RouteDestination).nullish(),
    headers: Headers.optional(),
  })
  .loose();

const VirtualServiceObject = z
  .object({
    metadata: z.object({ name: z.string(), namespace: z.string().optional() }).loose(),
    spec: z
      .object({
        hosts: z.array(z.string().min(1)).min(1),
        http: z.array(HttpRoute).nullish(),
      })
      .loose(),
  })
  .loose();

export interface HeaderOps {
  set: Readonly<Record<string, string>>;
  add: Readonly<Record<string, string>>;
  remove: readonly string[];
}

export interface HeaderRules {
  request: HeaderOps;
  response: HeaderOps;
}

/** Matches one value; `undefined` is an absent header or query parameter. */
export type ValueMatcher = (value: string | undefined) => boolean;

export interface CompiledMatch {
  uri?: ValueMatcher;
  method?: ValueMatcher;
  authority?: ValueMatcher;
  headers: ReadonlyArray<readonly [string, ValueMatcher]>;
  withoutHeaders: ReadonlyArray<readonly [string, ValueMatcher]>;
  queryParams: ReadonlyArray<readonly [string, ValueMatcher]>;
}

export interface CompiledDestination {
  host: string;
  port: number | undefined;
  weight: number;
  headers: HeaderRules;
}

export interface CompiledRoute {
  /** `spec.http[i].name`, or `#i` when unnamed. */
  name: string;
  /** Empty: matches every request. */
  matches: readonly CompiledMatch[];
  destinations: readonly CompiledDestination[];
  headers: HeaderRules;
  /** Set when the route answers in a way the sandbox cannot (redirect, directResponse, ...). */
  unsupported: string | undefined;
}

export interface CompiledVirtualService {
  /** `<namespace>/<name>` */
  id: string;
  hosts: readonly string[];
  routes: readonly CompiledRoute[];
}

export interface RoutingTable {
  virtualServices: readonly CompiledVirtualService[];
  problems: readonly string[];
}

const SELF_ANSWERING = ['redirect', 'directResponse', 'delegate'] as const;
const IGNORED_ROUTE_FIELDS = ['rewrite', 'retries', 'timeout', 'fault', 'mirror', 'corsPolicy'];
const IGNORED_MATCH_FIELDS = ['port', 'sourceLabels', 'gateways', 'sourceNamespace', 'scheme'];

export function buildRoutingTable(objects: readonly RenderedObject[]): RoutingTable {
  const virtualServices: CompiledVirtualService[] = [];
  const problems: string[] = [];
  for (const object of objects) {
    if (object.kind !== 'VirtualService' || !object.apiVersion.startsWith('networking.istio.io/')) {
      continue;
    }
    const id = `${object.metadata.namespace ?? 'default'}/${object.metadata.name}`;
    const parsed = VirtualServiceObject.safeParse(object);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      problems.push(`VirtualService ${id} skipped: ${issue?.path.join('.')}: ${issue?.message}`);
      continue;
    }
    try {
      virtualServices.push(compile(id, parsed.data.spec, problems));
    } catch (error) {
      problems.push(`VirtualService ${id} skipped: ${(error as Error).message}`);
    }
  }
  return { virtualServices, problems };
}

type Spec = z.infer<typeof VirtualServiceObject>['spec'];

function compile(id: string, spec: Spec, problems: string[]): CompiledVirtualService {
  const routes = (spec.http ?? []).map((route, index): CompiledRoute => {
    const name = route.name ?? `#${index}`;
    const raw = route as Record<string, unknown>;
    for (const field of IGNORED_ROUTE_FIELDS) {
      if (raw[field] !== undefined)
        problems.push(`VirtualService ${id} route ${name}: ${field} is ignored`);
    }
    for (const match of route.match ?? []) {
      for (const field of IGNORED_MATCH_FIELDS) {
        if ((match as Record<string, unknown>)[field] !== undefined) {
          problems.push(`VirtualService ${id} route ${name}: match.${field} is ignored`);
        }
      }
    }
    const selfAnswering = SELF_ANSWERING.find((field) => raw[field] !== undefined);
    const destinations = route.route ?? [];
    return {
      name,
      matches: (route.match ?? []).map((m) => compileMatch(m)),
      destinations: destinations.map((d) => ({
        host: d.destination.host.toLowerCase(),
        port: d.destination.port?.number,
        // Istio: a lone destination gets all traffic whatever its weight says.
        weight: destinations.length === 1 ? 100 : (d.weight ?? 0),
        headers: headerRules(d.headers),
      })),
      headers: headerRules(route.headers),
      unsupported: selfAnswering
        ? `route ${name} uses ${selfAnswering}, which the sandbox gateway does not support`
        : destinations.length === 0
          ? `route ${name} has no destination`
          : undefined,
    };
  });
  return { id, hosts: spec.hosts.map((h) => h.toLowerCase()), routes };
}

function compileMatch(match: z.infer<typeof MatchRequest>): CompiledMatch {
  const pairs = (record: Record<string, StringMatch> | undefined, emptyMeansPresent: boolean) =>
    Object.entries(record ?? {}).map(
      ([name, m]) => [name.toLowerCase(), stringMatcher(m, { emptyMeansPresent })] as const,
    );
  return {
    ...(match.uri && {
      uri: stringMatcher(match.uri, { ignoreCase: match.ignoreUriCase === true }),
    }),
    ...(match.method && { method: stringMatcher(match.method) }),
    ...(match.authority && { authority: stringMatcher(match.authority) }),
    headers: pairs(match.headers, true),
    withoutHeaders: pairs(match.withoutHeaders, true),
    queryParams: pairs(match.queryParams, true),
  };
}

/** Istio StringMatch: exact, prefix or regex (Envoy matches a regex against the whole value). */
export function stringMatcher(
  match: StringMatch,
  options: { ignoreCase?: boolean; emptyMeansPresent?: boolean } = {},
): ValueMatcher {
  const fold = (s: string) => (options.ignoreCase ? s.toLowerCase() : s);
  if (match.exact !== undefined) {
    const expected = fold(match.exact);
    return (v) => v !== undefined && fold(v) === expected;
  }
  if (match.prefix !== undefined) {
    const expected = fold(match.prefix);
    return (v) => v !== undefined && fold(v).startsWith(expected);
  }
  if (match.regex !== undefined) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(`^(?:${match.regex})$`, options.ignoreCase ? 'i' : '');
    } catch {
      throw new Error(`invalid regex ${JSON.stringify(match.regex)}`);
    }
    return (v) => v !== undefined && pattern.test(v);
  }
  return options.emptyMeansPresent ? (v) => v !== undefined : () => true;
}

function headerRules(headers: z.infer<typeof Headers> | undefined): HeaderRules {
  const ops = (o: z.infer<typeof HeaderOperations> | undefined): HeaderOps => ({
    set: lowerKeys(o?.set),
    add: lowerKeys(o?.add),
    remove: (o?.remove ?? []).map((n) => n.toLowerCase()),
  });
  return { request: ops(headers?.request), response: ops(headers?.response) };
}

function lowerKeys(record: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(record ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

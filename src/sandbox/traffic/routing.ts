/**
 * Evaluates a routing table for one request, as Istio's ingress gateway (Envoy) would: the
 * VirtualService whose hosts match the Host header, its first route whose match holds, and a
 * weighted random destination of that route.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type {
  CompiledDestination,
  CompiledMatch,
  CompiledRoute,
  CompiledVirtualService,
  HeaderOps,
} from './virtual-service.ts';

export interface RequestFacts {
  method: string;
  /** Path and query, as in the request line. */
  url: string;
  /** The Host header without its port, lower case. */
  host: string;
  headers: IncomingHttpHeaders;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * The VirtualService for a host: an exact host first, then the longest `*.suffix`, then `*`.
 * Sandbox convenience: a request to the gateway's own loopback address (no real Host header)
 * goes to the only VirtualService when exactly one is applied.
 */
export function selectVirtualService(
  table: readonly CompiledVirtualService[],
  host: string,
): CompiledVirtualService | undefined {
  let best: { vs: CompiledVirtualService; score: number } | undefined;
  for (const vs of table) {
    for (const pattern of vs.hosts) {
      const score = hostScore(pattern, host);
      if (score > 0 && (!best || score > best.score)) best = { vs, score };
    }
  }
  if (best) return best.vs;
  return LOOPBACK_HOSTS.has(host) && table.length === 1 ? table[0] : undefined;
}

/** 0: no match; exact beats any wildcard; a longer suffix beats a shorter one. */
function hostScore(pattern: string, host: string): number {
  if (pattern === host) return Number.MAX_SAFE_INTEGER;
  if (pattern === '*') return 1;
  if (pattern.startsWith('*.') && host.endsWith(pattern.slice(1))) return 1 + pattern.length;
  return 0;
}

/** The first route whose match list is empty or has an entry that holds. */
export function matchRoute(
  vs: CompiledVirtualService,
  request: RequestFacts,
): CompiledRoute | undefined {
  return vs.routes.find(
    (route) => route.matches.length === 0 || route.matches.some((m) => holds(m, request)),
  );
}

function holds(match: CompiledMatch, request: RequestFacts): boolean {
  const url = new URL(request.url, 'http://sandbox.invalid');
  // Envoy matches the path without its query string.
  if (match.uri && !match.uri(url.pathname)) return false;
  if (match.method && !match.method(request.method)) return false;
  if (match.authority && !match.authority(request.host)) return false;
  const header = (name: string) => headerValue(request.headers, name);
  if (!match.headers.every(([name, matcher]) => matcher(header(name)))) return false;
  if (match.withoutHeaders.some(([name, matcher]) => matcher(header(name)))) return false;
  return match.queryParams.every(([name, matcher]) =>
    matcher(url.searchParams.get(name) ?? undefined),
  );
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * A destination chosen in proportion to the weights; `random` returns [0, 1). Undefined when
 * every weight is 0.
 */
export function chooseDestination(
  route: CompiledRoute,
  random: () => number,
): CompiledDestination | undefined {
  const total = route.destinations.reduce((sum, d) => sum + d.weight, 0);
  if (total <= 0) return undefined;
  let point = random() * total;
  for (const destination of route.destinations) {
    if (destination.weight <= 0) continue;
    if (point < destination.weight) return destination;
    point -= destination.weight;
  }
  // random() returned 1 or rounding left a remainder: the last weighted destination.
  return route.destinations.findLast((d) => d.weight > 0);
}

/** Applies remove, then set, then add (appending to what is there) to a header record. */
export function applyHeaderOps(
  headers: Record<string, string | string[] | number | undefined>,
  ops: HeaderOps,
): void {
  for (const name of ops.remove) delete headers[name];
  for (const [name, value] of Object.entries(ops.set)) headers[name] = value;
  for (const [name, value] of Object.entries(ops.add)) {
    const existing = headers[name];
    headers[name] =
      existing === undefined
        ? value
        : [...(Array.isArray(existing) ? existing : [String(existing)]), value];
  }
}

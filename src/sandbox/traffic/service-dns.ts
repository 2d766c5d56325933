/**
 * Cluster DNS names of Services, resolved the way a pod's resolver does with the search path
 * `<ns>.svc.cluster.local svc.cluster.local cluster.local`: `my-backend` (from a pod in the
 * namespace), `my-backend.ns`, `my-backend.ns.svc` and `my-backend.ns.svc.cluster.local`.
 */

export interface ServiceName {
  service: string;
  namespace: string;
}

const CLUSTER_DOMAIN = 'svc.cluster.local';

/**
 * The Service a host name (an optional `:port` is ignored) stands for, or undefined when it is
 * not a cluster Service name; a single label needs the caller's namespace.
 */
export function parseServiceHost(host: string, fromNamespace?: string): ServiceName | undefined {
  const name = stripPort(host).toLowerCase().replace(/\.$/, '');
  let labels = name.split('.');
  if (labels.some((l) => l.length === 0)) return undefined;
  if (name.endsWith(`.${CLUSTER_DOMAIN}`)) labels = labels.slice(0, -3);
  else if (labels.at(-1) === 'svc') labels = labels.slice(0, -1);
  if (labels.length === 1 && fromNamespace)
    return { service: labels[0]!, namespace: fromNamespace };
  if (labels.length === 2) return { service: labels[0]!, namespace: labels[1]! };
  return undefined;
}

export function serviceHost(name: ServiceName): string {
  return `${name.service}.${name.namespace}.${CLUSTER_DOMAIN}`;
}

/** `host:port` -> `host`, `[::1]:80` -> `::1`. */
export function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

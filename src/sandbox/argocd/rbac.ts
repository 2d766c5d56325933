/**
 * A subset of Argo CD's RBAC (`argocd-rbac-cm`): `policy.csv` lines
 * `p, <subject>, applications, <action>, <project>/<app>, allow|deny` and `g, <user>, <role>`,
 * `policy.default`, the built-in `role:admin` (everything) and `role:readonly` (get), and
 * `g, admin, role:admin` as in the built-in policy. Objects and actions take `*` globs; a
 * matching deny wins over allows (casbin's allow-and-deny effect, as Argo CD uses).
 */
import type { AccessRequest, Authorizer } from './service.ts';

export interface RbacSettings {
  /** `policy.csv` text. */
  policy?: string;
  /** `policy.default`, e.g. `role:readonly`; default none (deny). */
  defaultRole?: string;
}

interface Rule {
  subject: string;
  resource: string;
  action: string;
  object: string;
  effect: 'allow' | 'deny';
}

const BUILTIN = `
p, role:readonly, applications, get, */*, allow
p, role:admin, applications, *, */*, allow
g, admin, role:admin
`;

export function rbacAuthorizer(settings: RbacSettings): Authorizer {
  const rules: Rule[] = [];
  const groups = new Map<string, Set<string>>();
  for (const raw of `${BUILTIN}\n${settings.policy ?? ''}`.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(',').map((f) => f.trim());
    if (fields[0] === 'p' && fields.length >= 5) {
      rules.push({
        subject: fields[1]!,
        resource: fields[2]!,
        action: fields[3]!,
        object: fields[4]!,
        effect: fields[5] === 'deny' ? 'deny' : 'allow',
      });
    } else if (fields[0] === 'g' && fields.length >= 3) {
      const set = groups.get(fields[1]!) ?? new Set<string>();
      set.add(fields[2]!);
      groups.set(fields[1]!, set);
    }
  }
  const subjectsOf = (user: string): Set<string> => {
    const all = new Set<string>([user]);
    if (settings.defaultRole) all.add(settings.defaultRole);
    const queue = [...all];
    while (queue.length > 0) {
      for (const role of groups.get(queue.shift()!) ?? []) {
        if (!all.has(role)) {
          all.add(role);
          queue.push(role);
        }
      }
    }
    return all;
  };
  return (request: AccessRequest) => {
    const subjects = subjectsOf(request.username);
    const object = `${request.project}/${request.app}`;
    const matching = rules.filter(
      (r) =>
        subjects.has(r.subject) &&
        glob(r.resource, 'applications') &&
        glob(r.action, request.action) &&
        glob(r.object, object),
    );
    return matching.length > 0 && matching.every((r) => r.effect === 'allow');
  };
}

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return re.test(value);
}

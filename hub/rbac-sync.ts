/**
 * Applies the RBAC part of the configuration at start: default roles, custom roles (which may
 * redefine `user` etc.), groups with members and properties, and role assignments. Unknown scopes
 * stop the hub with a clear message rather than silently granting nothing.
 */
import type { Config } from '../config/schema.js';
import type { GroupRepo } from './db/groups.js';
import type { RoleRepo } from './db/roles.js';
import type { ServiceRepo } from './db/services.js';
import type { UserRepo } from './db/users.js';
import { HubError } from './errors.js';
import { DEFAULT_ROLES, isKnownScope } from './scopes.js';

export interface RbacRepos {
  roles: RoleRepo;
  groups: GroupRepo;
  users: UserRepo;
  services: ServiceRepo;
}

export function applyRbacConfig(config: Config, r: RbacRepos, now: string): void {
  const custom = new Set(Object.keys(config.customScopes));
  const check = (role: string, scope: string) => {
    const base = scope.split('!')[0];
    if (scope === 'self' || scope === 'inherit') return;
    if (base.startsWith('custom:') ? !custom.has(base) : !isKnownScope(scope)) throw new HubError(500, `role '${role}': unknown scope '${scope}'${base.startsWith('custom:') ? ' (declare it in customScopes)' : ''}`);
  };
  for (const [name, def] of Object.entries(DEFAULT_ROLES)) if (!config.roles.some((x) => x.name === name)) r.roles.upsert(name, def.description, def.scopes);
  for (const [name, g] of Object.entries(config.groups)) {
    const group = r.groups.byName(name) ?? r.groups.create(name, g.properties);
    r.groups.setProperties(group.id, g.properties);
    for (const member of g.users) r.groups.addMember(group.id, (r.users.byName(member) ?? r.users.create(member, { now })).id);
  }
  for (const role of config.roles) {
    // as JupyterHub merges a partial default-role spec over the default: what is left out stays default
    const base = Object.hasOwn(DEFAULT_ROLES, role.name) ? DEFAULT_ROLES[role.name] : undefined;
    const scopes = role.scopes ?? base?.scopes ?? [];
    for (const scope of scopes) check(role.name, scope);
    const row = r.roles.upsert(role.name, role.description ?? base?.description ?? '', scopes);
    if (['user', 'admin'].includes(role.name) && role.users.length + role.groups.length + role.services.length === 0) continue;
    const userIds = role.users.map((n) => (r.users.byName(n) ?? r.users.create(n, { now })).id);
    const groupIds = role.groups.map((n) => (r.groups.byName(n) ?? r.groups.create(n)).id);
    const serviceIds = role.services.map((n) => {
      const s = r.services.byName(n);
      if (!s) throw new HubError(500, `role '${role.name}': unknown service '${n}'`);
      return s.id;
    });
    r.roles.setAssignments(row.id, { userIds, groupIds, serviceIds });
  }
}

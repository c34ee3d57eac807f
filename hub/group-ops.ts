/**
 * Joining a group can hand out power: the roles assigned to a group (config `roles[].groups`) apply to
 * every member. So, like a token that never gets more than its creator holds, a caller who is not an
 * admin may add users to a group only when the group's roles grant nothing the caller lacks — otherwise
 * the `groups` scope of a course assistant would be a path to whatever the group carries. JupyterHub has
 * no such check; LabHub adds it (README → REST API).
 */
import type { Identity } from './access.js';
import type { HubDeps } from './deps.js';
import type { GroupRow } from './db/groups.js';
import type { UserRow } from './db/users.js';
import { HubError } from './errors.js';
import { expandScopes, intersectScopes } from './scopes.js';

export function checkMayAddMembers(d: HubDeps, caller: Identity, group: GroupRow, members: readonly UserRow[]): void {
  if (members.length === 0 || d.access.isAdmin(caller)) return;
  const roles = d.roles.forGroup(group.id);
  if (roles.length === 0) return;
  const granted = roles.flatMap((role) => d.roles.scopesOf(role));
  for (const member of members) {
    const gains = expandScopes(granted, { user: member.name });
    const held = intersectScopes(gains, caller.scopes);
    const beyond = [...gains].filter((s) => !held.has(s));
    if (beyond.length) throw new HubError(403, `Group ${group.name} grants roles (${roles.join(', ')}) with scopes you don't hold (${beyond.slice(0, 5).join(', ')}${beyond.length > 5 ? ', …' : ''}); only an admin can add members to it`);
  }
}

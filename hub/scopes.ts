/**
 * RBAC scopes as JupyterHub defines them (scopes.py scope_definitions): one table of scopes and
 * subscopes, expansion of metascopes (`self`) and self-referencing filters (`!user`, `!server`),
 * and the access check with horizontal filters (`!user=`, `!server=`, `!group=`).
 */
export interface ScopeDefinition {
  description: string;
  subscopes?: string[];
}

export const SCOPE_DEFINITIONS: Record<string, ScopeDefinition> = {
  self: { description: 'Your own resources' },
  inherit: { description: "Everything the token's owner can do" },
  'admin-ui': { description: 'Access the admin page.' },
  'admin:users': { description: 'Read, modify, create and delete users and their authentication state.', subscopes: ['admin:auth_state', 'users', 'read:roles:users', 'delete:users'] },
  'admin:auth_state': { description: "Read a user's authentication state." },
  users: { description: 'Read and update user models.', subscopes: ['read:users', 'list:users', 'users:activity'] },
  'delete:users': { description: 'Delete users.' },
  'list:users': { description: 'List users, including at least their names.', subscopes: ['read:users:name'] },
  'read:users': { description: 'Read user models (including servers, tokens, auth state when permitted).', subscopes: ['read:users:name', 'read:users:groups', 'read:users:activity'] },
  'read:users:name': { description: 'Read names of users.' },
  'read:users:groups': { description: "Read users' group membership." },
  'read:users:activity': { description: 'Read time of last user activity.' },
  'users:activity': { description: 'Update time of last user activity.', subscopes: ['read:users:activity'] },
  'read:roles': { description: 'Read role assignments.', subscopes: ['read:roles:users', 'read:roles:services', 'read:roles:groups'] },
  'read:roles:users': { description: 'Read user role assignments.' },
  'read:roles:services': { description: 'Read service role assignments.' },
  'read:roles:groups': { description: 'Read group role assignments.' },
  'admin:servers': { description: "Read, start, stop, create and delete user servers and their state.", subscopes: ['admin:server_state', 'servers', 'terminal'] },
  'admin:server_state': { description: 'Read and write users’ server state.' },
  terminal: { description: 'Open a web terminal in users’ servers (LabHub).' },
  servers: { description: 'Start and stop user servers.', subscopes: ['read:servers', 'delete:servers'] },
  'read:servers': { description: 'Read users’ names and their server models (excluding the server state).', subscopes: ['read:users:name'] },
  'delete:servers': { description: 'Stop and delete users’ servers.' },
  tokens: { description: 'Manage all of your tokens.', subscopes: ['read:tokens'] },
  'read:tokens': { description: 'Read user tokens.' },
  'admin:groups': { description: 'Read and write group information, create and delete groups.', subscopes: ['groups', 'read:roles:groups', 'delete:groups'] },
  groups: { description: 'Read and write group information, including adding/removing users to/from groups.', subscopes: ['read:groups', 'list:groups'] },
  'list:groups': { description: 'List groups, including at least their names.', subscopes: ['read:groups:name'] },
  'read:groups': { description: 'Read group models.', subscopes: ['read:groups:name'] },
  'read:groups:name': { description: 'Read group names.' },
  'delete:groups': { description: 'Delete groups.' },
  'admin:services': { description: 'Create, read, update, delete services, not including services defined from config files.', subscopes: ['list:services', 'read:services', 'read:roles:services'] },
  'list:services': { description: 'List services, including at least their names.', subscopes: ['read:services:name'] },
  'read:services': { description: 'Read service models.', subscopes: ['read:services:name'] },
  'read:services:name': { description: 'Read service names.' },
  'read:hub': { description: 'Read detailed information about the Hub.' },
  'access:servers': { description: 'Access user servers via API or browser.' },
  'access:services': { description: 'Access services via API or browser.' },
  proxy: { description: 'Read information about the proxy’s routing table, sync the Hub with the proxy and notify the Hub about a new proxy.' },
  shutdown: { description: 'Shutdown the hub.' },
  'read:metrics': { description: 'Read prometheus metrics.' },
  'read:audit': { description: 'Read the audit log (who did what).' },
  shares: { description: 'Manage access to shared servers.', subscopes: ['access:servers', 'read:shares', 'users:shares', 'groups:shares'] },
  'read:shares': { description: 'Read information about shared access to servers.' },
  'users:shares': { description: "Read and revoke a user's access to shared servers.", subscopes: ['read:users:shares'] },
  'read:users:shares': { description: "Read servers shared with a user." },
  'groups:shares': { description: "Read and revoke a group's access to shared servers.", subscopes: ['read:groups:shares'] },
  'read:groups:shares': { description: 'Read servers shared with a group.' },
};

/** Scopes `self` stands for, filtered to the user (JupyterHub _expand_self_scope). */
const SELF_SCOPES = [
  'read:users', 'read:users:name', 'read:users:groups', 'users:activity', 'read:users:activity',
  'servers', 'delete:servers', 'read:servers', 'tokens', 'read:tokens', 'access:servers', 'terminal',
  'users:shares', 'read:users:shares',
];

export const DEFAULT_ROLES: Record<string, { description: string; scopes: string[] }> = {
  user: { description: 'Standard user privileges', scopes: ['self'] },
  admin: {
    description: 'Elevated privileges (can do anything)',
    scopes: ['admin-ui', 'admin:users', 'admin:servers', 'admin:services', 'tokens', 'admin:groups', 'list:services', 'read:services', 'read:hub', 'proxy', 'shutdown', 'access:services', 'access:servers', 'read:roles', 'read:metrics', 'shares', 'read:audit'],
  },
  server: { description: 'Post activity only', scopes: ['users:activity!user', 'access:servers!server'] },
  token: { description: 'Token with same permissions as its owner', scopes: ['inherit'] },
};

export interface ScopeOwner {
  /** User name, for `self` and `!user`. */
  user?: string;
  /** "user/servername" for `!server` (default server: "user/"). */
  server?: string;
  /** Service name, for `!service`. */
  service?: string;
}

export function isKnownScope(scope: string): boolean {
  const base = scope.split('!')[0];
  return base in SCOPE_DEFINITIONS || base.startsWith('custom:');
}

/** Expands metascopes, self-referencing filters and subscopes into a flat set. */
export function expandScopes(scopes: Iterable<string>, owner: ScopeOwner = {}): Set<string> {
  const out = new Set<string>();
  const add = (base: string, filter: string) => {
    const key = base + filter;
    if (out.has(key)) return;
    out.add(key);
    for (const sub of SCOPE_DEFINITIONS[base]?.subscopes ?? []) add(sub, filter);
  };
  for (const raw of scopes) {
    if (raw === 'self') {
      if (owner.user) for (const s of SELF_SCOPES) add(s, `!user=${owner.user}`);
      continue;
    }
    if (raw === 'inherit') continue; // resolved by the caller against the owner's scopes
    const [base, filterPart] = splitScope(raw);
    let filter = filterPart ? `!${filterPart}` : '';
    if (filter === '!user') {
      if (!owner.user) continue;
      filter = `!user=${owner.user}`;
    } else if (filter === '!server') {
      if (!owner.server) continue;
      filter = `!server=${owner.server}`;
    } else if (filter === '!service') {
      if (!owner.service) continue;
      filter = `!service=${owner.service}`;
    }
    if (!(base in SCOPE_DEFINITIONS) && !base.startsWith('custom:')) continue;
    add(base, filter);
  }
  return out;
}

function splitScope(scope: string): [string, string | undefined] {
  const i = scope.indexOf('!');
  return i < 0 ? [scope, undefined] : [scope.slice(0, i), scope.slice(i + 1)];
}

export interface ScopeTarget {
  user?: string;
  /** "user/servername" */
  server?: string;
  group?: string;
  service?: string;
  /** Groups of the target user, so `!group=` filters reach members. */
  userGroups?: readonly string[];
}

/** True when `scopes` grant `needed` on `target` (unfiltered or through a matching filter). */
export function hasScope(scopes: ReadonlySet<string>, needed: string, target: ScopeTarget = {}): boolean {
  if (scopes.has(needed)) return true;
  if (target.user && scopes.has(`${needed}!user=${target.user}`)) return true;
  if (target.server && scopes.has(`${needed}!server=${target.server}`)) return true;
  if (target.group && scopes.has(`${needed}!group=${target.group}`)) return true;
  if (target.service && scopes.has(`${needed}!service=${target.service}`)) return true;
  for (const g of target.userGroups ?? []) if (scopes.has(`${needed}!group=${g}`)) return true;
  return false;
}

const groupFiltered = new WeakMap<ReadonlySet<string>, boolean>();

/** True when some scope is filtered by group (then targets need the user's groups); cached per set. */
export function hasGroupFilter(scopes: ReadonlySet<string>): boolean {
  let v = groupFiltered.get(scopes);
  if (v === undefined) {
    v = false;
    for (const s of scopes) if (s.includes('!group=')) v = true;
    groupFiltered.set(scopes, v);
  }
  return v;
}

/** True when `scopes` grant `needed` on at least something (for "may call this endpoint at all"). */
export function hasAnyScope(scopes: ReadonlySet<string>, needed: string): boolean {
  if (scopes.has(needed)) return true;
  for (const s of scopes) if (s.startsWith(`${needed}!`)) return true;
  return false;
}

/**
 * What a token may do: its own scopes, but never more than its owner (JupyterHub intersects them).
 * Filtered scopes survive when the owner holds the same scope unfiltered or on a wider filter.
 */
export function intersectScopes(tokenScopes: ReadonlySet<string>, ownerScopes: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const s of tokenScopes) {
    if (ownerScopes.has(s)) {
      out.add(s);
      continue;
    }
    const [base, filter] = splitScope(s);
    if (!filter) {
      // token asks unfiltered; owner only has filtered versions: keep those
      for (const o of ownerScopes) if (o.startsWith(`${base}!`)) out.add(o);
      continue;
    }
    if (ownerScopes.has(base)) {
      out.add(s);
      continue;
    }
    if (filter.startsWith('server=')) {
      const user = filter.slice('server='.length).split('/')[0];
      if (ownerScopes.has(`${base}!user=${user}`)) out.add(s);
    }
  }
  return out;
}

export function rolesToScopes(roles: Iterable<string>, customRoles: Record<string, string[]> = {}): string[] {
  const out: string[] = [];
  for (const r of roles) out.push(...(customRoles[r] ?? DEFAULT_ROLES[r]?.scopes ?? []));
  return out;
}

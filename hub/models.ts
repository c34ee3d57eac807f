/**
 * JupyterHub JSON models (rest-api.yml), filtered by the caller's scopes as JupyterHub's
 * user_model/server_model do: each field is shown only under a scope that grants it.
 */
import type { ServerRow } from './db/servers.js';
import type { UserRow } from './db/users.js';
import { serverPrefix } from './env.js';
import { hasScope } from './scopes.js';
import type { ServerStatus } from './servers.js';

export interface ServerView {
  row: ServerRow;
  status: ServerStatus;
  /** with subdomains: the server's full URL on its user's host, and the hub's public origin */
  publicUrl?: string;
  hubOrigin?: string;
}

export function serverModel(userName: string, v: ServerView, opts: { includeState: boolean }): Record<string, unknown> {
  // JupyterHub 5: `url` is the full URL when subdomains are on; full_url/full_progress_url only when the public host is known
  const url = v.publicUrl ?? serverPrefix(userName, v.row.name);
  const progressUrl = `/hub/api/users/${encodeURIComponent(userName)}/${v.row.name ? `servers/${encodeURIComponent(v.row.name)}/` : 'server/'}progress`;
  const ready = v.status === 'running';
  const pending = v.status === 'spawn' || v.status === 'stop' ? v.status : null;
  const model: Record<string, unknown> = {
    name: v.row.name,
    full_name: `${userName}/${v.row.name}`,
    last_activity: v.row.last_activity,
    started: v.row.started,
    pending,
    ready,
    stopped: !ready && pending === null,
    url,
    user_options: JSON.parse(v.row.user_options),
    progress_url: progressUrl,
    full_url: v.publicUrl ?? null,
    full_progress_url: v.hubOrigin ? `${v.hubOrigin}${progressUrl}` : null,
  };
  if (opts.includeState) model.state = JSON.parse(v.row.state);
  return model;
}

const FIELD_SCOPES: Record<string, string[]> = {
  'read:users': ['kind', 'name', 'admin', 'roles', 'groups', 'server', 'pending', 'created', 'last_activity'],
  'read:users:name': ['kind', 'name', 'admin'],
  'read:users:groups': ['kind', 'name', 'groups'],
  'read:users:activity': ['kind', 'name', 'last_activity'],
  'read:servers': ['kind', 'name', 'servers'],
  'read:roles:users': ['kind', 'name', 'roles', 'admin'],
  'admin:auth_state': ['kind', 'name', 'auth_state'],
};

export interface UserModelInput {
  user: UserRow;
  groups: string[];
  roles: string[];
  servers: ServerView[];
  authState?: unknown;
}

export function userModel(i: UserModelInput, callerScopes: ReadonlySet<string>, opts: { includeStoppedServers?: boolean } = {}): Record<string, unknown> {
  const target = { user: i.user.name, userGroups: i.groups };
  const allowed = new Set<string>();
  for (const [scope, fields] of Object.entries(FIELD_SCOPES)) if (hasScope(callerScopes, scope, target)) for (const f of fields) allowed.add(f);
  const def = i.servers.find((s) => s.row.name === '');
  const defPending = def && (def.status === 'spawn' || def.status === 'stop') ? def.status : null;
  const full: Record<string, unknown> = {
    kind: 'user',
    name: i.user.name,
    admin: i.user.admin === 1,
    roles: i.roles,
    groups: i.groups,
    server: def?.status === 'running' ? (def.publicUrl ?? serverPrefix(i.user.name, '')) : null,
    pending: defPending,
    created: i.user.created,
    last_activity: i.user.last_activity,
  };
  const model: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(full)) if (allowed.has(k)) model[k] = v;
  if (allowed.has('servers')) {
    const servers: Record<string, unknown> = {};
    const includeState = hasScope(callerScopes, 'admin:server_state', target);
    for (const s of i.servers) {
      if (s.status === 'stopped' && !opts.includeStoppedServers) continue;
      servers[s.row.name] = serverModel(i.user.name, s, { includeState });
    }
    model.servers = servers;
  }
  if (allowed.has('auth_state')) model.auth_state = i.authState ?? null;
  return model;
}

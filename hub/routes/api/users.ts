/**
 * /hub/api/users…: list, create (single and bulk), read, delete, and activity reports.
 * Route table: GET /users (list:users) · POST /users (admin:users) · GET|POST|DELETE /users/:name
 * (read:users | admin:users | delete:users) · POST /users/:name/activity (users:activity).
 */
import type { ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import type { UserRow } from '../../db/users.js';
import { HubError } from '../../errors.js';
import { userModel, type UserModelInput } from '../../models.js';
import { hasScope } from '../../scopes.js';
import { createUsers, deleteUser, updateUser, validatedNames } from '../../user-ops.js';
import { jsonBody, loadUser, param, userTarget } from '../params.js';
import { parsePaging, sendJsonPage } from '../paging.js';
import type { UserSort } from '../../user-models.js';

/** One user's model input, with the auth state where the caller may see it (UserModels does the reading). */
export function buildUserModelInput(d: HubDeps, user: UserRow, callerScopes?: ReadonlySet<string>): UserModelInput {
  const [input] = d.userModels.inputsOf([user], callerScopes);
  if (!input) throw new HubError(404, `No such user: ${user.name}`);
  return input;
}

export function usersRoutes(api: ApiRouter, d: HubDeps): void {
  const target = userTarget(d);

  api.get('/hub/api/users', { scope: 'list:users' }, (req, res) => {
    const id = req.identity!;
    const state = req.query.state;
    if (state !== undefined && !['active', 'ready', 'inactive'].includes(String(state))) throw new HubError(400, `Invalid state: ${String(state)}; must be one of active, ready, inactive`);
    const sort = req.query.sort === undefined ? 'id' : String(req.query.sort);
    const sortKey = sort.replace(/^-/, '') as UserSort;
    if (!['id', 'name', 'last_activity'].includes(sortKey)) throw new HubError(400, `Invalid sort: ${sort}; must be one of id, name, last_activity (prefix - for descending)`);
    const nameFilter = typeof req.query.name_filter === 'string' ? req.query.name_filter : '';
    const includeStopped = req.query.include_stopped_servers !== undefined && req.query.include_stopped_servers !== 'false';
    const descending = sort.startsWith('-');
    const paging = parsePaging(req, 0);
    const modelOpts = { includeStoppedServers: includeStopped };
    // Callers who may list everyone, without a state filter: the database pages (the common case).
    if (!state && id.scopes.has('list:users')) {
      const { items, total } = d.userModels.page(sortKey, descending, paging.offset, paging.limit, nameFilter, id.scopes, modelOpts);
      return sendJsonPage(req, res, paging, total, items);
    }
    let rows = d.users.list();
    if (nameFilter) rows = rows.filter((u) => u.name.startsWith(nameFilter));
    if (!id.scopes.has('list:users')) rows = rows.filter((u) => hasScope(id.scopes, 'list:users', { user: u.name, userGroups: d.users.groupNames(u.id) }));
    if (state) {
      rows = rows.filter((u) => {
        const statuses = d.servers.forUser(u.id).map((s) => d.serverManager.status(u.name, s.name));
        const active = statuses.some((s) => s !== 'stopped');
        const ready = statuses.some((s) => s === 'running');
        return state === 'active' ? active : state === 'ready' ? ready : !active;
      });
    }
    const dir = descending ? -1 : 1;
    const keyOf = (u: UserRow): string | number => (sortKey === 'id' ? u.id : sortKey === 'name' ? u.name : (u.last_activity ?? ''));
    rows = [...rows].sort((a, b) => (keyOf(a) < keyOf(b) ? -dir : keyOf(a) > keyOf(b) ? dir : a.id - b.id));
    const ids = rows.slice(paging.offset, paging.offset + paging.limit).map((u) => u.id);
    sendJsonPage(req, res, paging, rows.length, d.userModels.jsonOf(ids, id.scopes, modelOpts));
  });

  api.post('/hub/api/users', { scope: 'admin:users', bodyLimit: 1048576 }, (req, res) => {
    const b = jsonBody(req);
    const names = validatedNames(b.usernames);
    if (b.admin !== undefined && typeof b.admin !== 'boolean') throw new HubError(400, "'admin' must be true or false");
    const created = createUsers(d, names, { admin: b.admin === true, caller: req.identity! });
    res.status(201).json(d.userModels.inputsOf(created).map((input) => userModel(input, req.identity!.scopes)));
  });

  api.get('/hub/api/users/:name', { scope: 'read:users', target: target }, (req, res) => {
    const name = param(req, 'name');
    const model = d.userModels.one(name, req.identity!.scopes, { includeStoppedServers: req.query.include_stopped_servers !== undefined, withAuthState: true, callerNotAdmin: !d.access.isAdmin(req.identity!) });
    if (model === undefined) throw new HubError(404, `No such user: ${name}`);
    res.jsonText(model);
  });

  api.post('/hub/api/users/:name', { scope: 'admin:users', target: target, bodyLimit: 1048576 }, (req, res) => {
    const names = validatedNames([param(req, 'name')]);
    // as JupyterHub: an existing user is a 409 whatever the body
    if (d.users.byName(names[0])) throw new HubError(409, `User ${names[0]} already exists`);
    const b = jsonBody(req);
    if (b.admin !== undefined && typeof b.admin !== 'boolean') throw new HubError(400, "'admin' must be true or false");
    const [user] = createUsers(d, names, { admin: b.admin === true, caller: req.identity! });
    res.status(201).json(userModel(buildUserModelInput(d, user), req.identity!.scopes));
  });

  api.patch('/hub/api/users/:name', { scope: 'admin:users', target: target, bodyLimit: 1048576 }, (req, res) => {
    const user = loadUser(d, param(req, 'name'));
    const b = jsonBody(req, { required: '{name?, admin?, auth_state?}' });
    const unknown = Object.keys(b).filter((k) => !['name', 'admin', 'auth_state'].includes(k));
    if (unknown.length) throw new HubError(400, `Unknown fields: ${unknown.join(', ')}`);
    const caller = req.identity!;
    // admin:users, which this route requires, includes admin:auth_state for the same users
    if (b.auth_state !== undefined && b.auth_state !== null && (typeof b.auth_state !== 'object' || Array.isArray(b.auth_state))) throw new HubError(400, "'auth_state' must be an object or null");
    const updated = updateUser(d, user, b as { name?: unknown; admin?: unknown; auth_state?: Record<string, unknown> | null }, caller);
    res.json(userModel(buildUserModelInput(d, updated, caller.scopes), caller.scopes));
  });

  api.delete('/hub/api/users/:name', { scope: 'delete:users', target: target }, async (req, res) => {
    await deleteUser(d, loadUser(d, param(req, 'name')), req.identity!);
    res.status(204).end();
  });

  api.post('/hub/api/users/:name/activity', { scope: 'users:activity', target: target, bodyLimit: 1048576 }, (req, res) => {
    const user = loadUser(d, param(req, 'name'));
    const b = jsonBody(req);
    const parse = (v: unknown, what: string): string => {
      if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw new HubError(400, `Invalid timestamp for ${what}: ${JSON.stringify(v)}`);
      return new Date(v).toISOString();
    };
    if (b.last_activity === undefined && b.servers === undefined) throw new HubError(400, 'body has no info for last_activity or servers');
    const updates: Array<{ id: number; when: string }> = [];
    if (b.servers !== undefined) {
      if (typeof b.servers !== 'object' || b.servers === null || Array.isArray(b.servers)) throw new HubError(400, "'servers' must be an object");
      for (const [name, info] of Object.entries(b.servers as Record<string, unknown>)) {
        const row = d.servers.get(user.id, name);
        if (!row) throw new HubError(400, `No such server '${name}' for user ${user.name}`);
        const when = parse((info as Record<string, unknown> | null)?.last_activity, `server '${name}'`);
        updates.push({ id: row.id, when });
      }
    }
    const userWhen = b.last_activity !== undefined ? parse(b.last_activity, 'user') : undefined;
    d.db.transaction(() => {
      for (const u of updates) d.servers.touch(u.id, u.when);
      if (userWhen) d.users.touch(user.id, userWhen);
    })();
    res.status(200).end();
  });

}

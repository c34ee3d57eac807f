/**
 * /hub/api/groups…: GET /groups (list:groups) · GET|POST|DELETE /groups/:name (read:groups |
 * admin:groups | delete:groups) · POST|DELETE /groups/:name/users (groups) ·
 * PUT /groups/:name/properties (groups) · POST /groups (admin:groups, bulk {groups:[…]}).
 */
import type { ApiRequest, ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import type { GroupRow } from '../../db/groups.js';
import type { UserRow } from '../../db/users.js';
import { HubError } from '../../errors.js';
import { checkMayAddMembers } from '../../group-ops.js';
import { hasScope } from '../../scopes.js';
import { jsonBody, param } from '../params.js';
import { sendPage } from '../paging.js';

const GROUP_RE = /^[A-Za-z0-9][A-Za-z0-9._@ -]{0,63}$/;

export function groupModel(d: HubDeps, g: GroupRow, scopes: ReadonlySet<string>): Record<string, unknown> {
  const model: Record<string, unknown> = { kind: 'group', name: g.name };
  if (hasScope(scopes, 'read:groups', { group: g.name })) {
    model.users = d.groups.members(g.id);
    model.properties = JSON.parse(g.properties);
  }
  if (hasScope(scopes, 'read:roles:groups', { group: g.name })) model.roles = d.roles.forGroup(g.id);
  return model;
}

function validName(raw: unknown): string {
  if (typeof raw !== 'string' || !GROUP_RE.test(raw)) throw new HubError(400, `Invalid group name ${JSON.stringify(raw)}`);
  return raw;
}

function loadGroup(d: HubDeps, name: string): GroupRow {
  const g = d.groups.byName(name);
  if (!g) throw new HubError(404, `No such group: ${name}`);
  return g;
}

function usersFromBody(d: HubDeps, b: Record<string, unknown>): UserRow[] {
  const list = b.users ?? [];
  if (!Array.isArray(list) || list.some((u) => typeof u !== 'string')) throw new HubError(400, "'users' must be a list of user names");
  const missing = (list as string[]).filter((n) => !d.users.byName(n));
  if (missing.length) throw new HubError(400, `No such users: ${missing.join(', ')}`);
  return (list as string[]).map((n) => d.users.byName(n)!);
}

export function groupsRoutes(api: ApiRouter, d: HubDeps): void {
  const target = (req: ApiRequest) => ({ group: param(req, 'name') });

  api.get('/hub/api/groups', { scope: 'list:groups' }, (req, res) => {
    const scopes = req.identity!.scopes;
    const all = d.groups.list().filter((g) => hasScope(scopes, 'list:groups', { group: g.name }));
    sendPage(req, res, all, (g) => groupModel(d, g, scopes));
  });

  api.post('/hub/api/groups', { scope: 'admin:groups', bodyLimit: 1048576 }, (req, res) => {
    const b = jsonBody(req);
    if (!Array.isArray(b.groups) || b.groups.length === 0) throw new HubError(400, "Must specify at least one group to create in 'groups'");
    const names = b.groups.map(validName);
    const existing = names.filter((n) => d.groups.byName(n));
    if (existing.length) throw new HubError(409, `Groups already exist: ${existing.join(', ')}`);
    const created = d.db.transaction(() => names.map((n) => d.groups.create(n)))();
    d.log.info({ groups: names, by: req.identity!.name, event: 'groups-created' }, 'groups created');
    res.status(201).json(created.map((g) => groupModel(d, g, req.identity!.scopes)));
  });

  api.get('/hub/api/groups/:name', { scope: 'read:groups', target: target }, (req, res) => {
    res.json(groupModel(d, loadGroup(d, param(req, 'name')), req.identity!.scopes));
  });

  api.post('/hub/api/groups/:name', { scope: 'admin:groups', target: target, bodyLimit: 1048576 }, (req, res) => {
    const name = validName(param(req, 'name'));
    // as JupyterHub: the body's shape is judged before the group's existence
    const b = jsonBody(req);
    if (d.groups.byName(name)) throw new HubError(409, `Group ${name} already exists`);
    const members = usersFromBody(d, b);
    const group = d.db.transaction(() => {
      const g = d.groups.create(name);
      for (const u of members) d.groups.addMember(g.id, u.id);
      return g;
    })();
    d.log.info({ group: name, by: req.identity!.name, event: 'group-created' }, 'group created');
    res.status(201).json(groupModel(d, group, req.identity!.scopes));
  });

  api.delete('/hub/api/groups/:name', { scope: 'delete:groups', target: target }, (req, res) => {
    const g = loadGroup(d, param(req, 'name'));
    d.groups.delete(g.id);
    d.log.info({ group: g.name, by: req.identity!.name, event: 'group-deleted' }, 'group deleted');
    res.status(204).end();
  });

  api.post('/hub/api/groups/:name/users', { scope: 'groups', target: target, bodyLimit: 1048576 }, (req, res) => {
    const g = loadGroup(d, param(req, 'name'));
    const members = usersFromBody(d, jsonBody(req));
    checkMayAddMembers(d, req.identity!, g, members);
    d.db.transaction(() => members.forEach((u) => d.groups.addMember(g.id, u.id)))();
    d.log.info({ group: g.name, added: members.length, by: req.identity!.name, event: 'group-members-added' }, 'group members added');
    res.json(groupModel(d, g, req.identity!.scopes));
  });

  api.delete('/hub/api/groups/:name/users', { scope: 'groups', target: target, bodyLimit: 1048576 }, (req, res) => {
    const g = loadGroup(d, param(req, 'name'));
    const members = usersFromBody(d, jsonBody(req));
    d.db.transaction(() => members.forEach((u) => d.groups.removeMember(g.id, u.id)))();
    d.log.info({ group: g.name, removed: members.length, by: req.identity!.name, event: 'group-members-removed' }, 'group members removed');
    res.json(groupModel(d, g, req.identity!.scopes));
  });

  api.put('/hub/api/groups/:name/properties', { scope: 'groups', target: target, bodyLimit: 1048576 }, (req, res) => {
    const g = loadGroup(d, param(req, 'name'));
    const b = req.body as unknown;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new HubError(400, 'Group properties must be a JSON object');
    d.groups.setProperties(g.id, b as Record<string, unknown>);
    d.log.info({ group: g.name, by: req.identity!.name, event: 'group-properties-changed' }, 'group properties changed');
    res.json(groupModel(d, d.groups.byName(g.name)!, req.identity!.scopes));
  });

}

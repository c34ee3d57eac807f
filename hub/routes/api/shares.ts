/**
 * Server sharing (JupyterHub 5.x sharing.md): owners grant access to one of their servers to users
 * or groups, directly or with an expiring share code exchanged at /hub/accept-share.
 * Route table: GET /shares/:owner[/:server] (read:shares) · POST|PATCH|DELETE /shares/:owner/:server
 * (shares) · GET /users/:name/shared[/:owner/:server] (read:users:shares) · DELETE same (users:shares) ·
 * GET /groups/:name/shared[…] (read:groups:shares) · DELETE same (groups:shares) ·
 * GET|POST|DELETE /share-codes/:owner[/:server] (read:shares | shares).
 */
import { randomBytes } from 'node:crypto';
import type { ApiHandler, ApiRequest, ApiRouter, RouteOptions } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import type { ShareCodeRow, ShareRow } from '../../db/shares.js';
import type { UserRow } from '../../db/users.js';
import { isoNow } from '../../clock.js';
import { HubError } from '../../errors.js';
import { checkMayModify } from '../../user-ops.js';
import { jsonBody, loadUser, param } from '../params.js';
import { sendPage } from '../paging.js';

const DEFAULT_CODE_LIFETIME = 86_400;
const MAX_CODE_LIFETIME = 365 * 86_400;

/** Only scopes on this very server may be shared (never anything wider). */
export function normalizeShareScopes(raw: unknown, owner: string, server: string): string[] {
  const filter = `!server=${owner}/${server}`;
  if (raw === undefined) return [`access:servers${filter}`];
  if (!Array.isArray(raw) || raw.length === 0 || raw.some((s) => typeof s !== 'string')) throw new HubError(400, "'scopes' must be a non-empty list of strings");
  const allowed = new Set(['access:servers', 'read:servers', 'servers', 'delete:servers']);
  return [...new Set((raw as string[]).map((s) => {
    const [base, f] = s.split('!');
    if (!allowed.has(base) || (f !== undefined && `!${f}` !== filter)) throw new HubError(400, `Scope ${s} can't be shared: only ${[...allowed].join(', ')} on ${owner}/${server}`);
    return `${base}${filter}`;
  }))];
}

export function sharesRoutes(api: ApiRouter, d: HubDeps): void {
  const ownerTarget = (req: ApiRequest) => ({ user: param(req, 'owner'), server: `${param(req, 'owner')}/${param(req, 'server')}` });
  const nameTarget = (req: ApiRequest) => {
    const name = param(req, 'name');
    const u = d.users.byName(name);
    return { user: name, group: name, userGroups: u ? d.users.groupNames(u.id) : [] };
  };

  const serverRow = (owner: UserRow, name: string) => {
    const row = d.servers.get(owner.id, name);
    if (!row) throw new HubError(404, `No such server: ${owner.name}/${name}`);
    return row;
  };

  const shareModel = (s: ShareRow) => {
    const owner = d.users.byId(s.owner_id)!;
    const user = s.user_id !== null ? d.users.byId(s.user_id) : undefined;
    const group = s.group_id !== null ? d.groups.list().find((g) => g.id === s.group_id) : undefined;
    return {
      server: { name: s.server_name, user: { name: owner.name }, url: d.serverManager.publicUrl(owner.name, s.server_name), ready: d.serverManager.status(owner.name, s.server_name) === 'running' },
      scopes: JSON.parse(s.scopes) as string[],
      user: user ? { name: user.name } : null,
      group: group ? { name: group.name } : null,
      kind: user ? 'user' : 'group',
      created: s.created,
    };
  };

  const codeModel = (c: ShareCodeRow) => {
    const owner = d.users.byId(c.owner_id)!;
    return {
      id: `sc_${c.id}`,
      server: { name: c.server_name, user: { name: owner.name }, url: d.serverManager.publicUrl(owner.name, c.server_name) },
      scopes: JSON.parse(c.scopes) as string[],
      created_at: c.created,
      expires_at: c.expires_at,
      exchange_count: c.exchange_count,
      last_exchanged_at: c.last_exchanged_at,
    };
  };

  /** {user} or {group} from the body, resolved to an id; exactly one. */
  const grantee = (b: Record<string, unknown>): { userId?: number; groupId?: number; label: string } => {
    if ((b.user === undefined) === (b.group === undefined)) throw new HubError(400, "Specify exactly one of 'user' or 'group'");
    if (b.user !== undefined) {
      const u = typeof b.user === 'string' ? d.users.byName(b.user) : undefined;
      if (!u) throw new HubError(400, `No such user: ${String(b.user)}`);
      return { userId: u.id, label: `user ${u.name}` };
    }
    const g = typeof b.group === 'string' ? d.groups.byName(b.group) : undefined;
    if (!g) throw new HubError(400, `No such group: ${String(b.group)}`);
    return { groupId: g.id, label: `group ${g.name}` };
  };

  // `/shares/alice` lists alice's shares; `/shares/alice/` is her default server (name '').
  const wholeOwner = (req: ApiRequest) => req.params.server === undefined && !req.path.endsWith('/');
  // `…/:owner{/:server}`: one handler for the owner alone and for owner + server
  const ownerOrServer = (method: 'get' | 'post' | 'patch' | 'delete', path: string, opts: RouteOptions, handler: ApiHandler) => {
    api[method](path, opts, handler);
    api[method](`${path}/:server`, opts, handler);
  };
  ownerOrServer('get', '/hub/api/shares/:owner', { scope: 'read:shares', target: (req) => (wholeOwner(req) ? { user: param(req, 'owner') } : ownerTarget(req)) }, (req, res) => {
    const owner = loadUser(d, param(req, 'owner'));
    if (wholeOwner(req)) return sendPage(req, res, d.shares.forServer(owner.id), shareModel);
    serverRow(owner, param(req, 'server'));
    sendPage(req, res, d.shares.forServer(owner.id, param(req, 'server')), shareModel);
  });

  ownerOrServer('post', '/hub/api/shares/:owner', { scope: 'shares', target: ownerTarget, bodyLimit: 65536 }, (req, res) => {
    const owner = loadUser(d, param(req, 'owner'));
    // a share is access to the owner's server: for an admin's, only an admin (the owner included) grants it
    checkMayModify(d, req.identity!, owner);
    const server = serverRow(owner, param(req, 'server')).name;
    const b = jsonBody(req);
    const who = grantee(b);
    if (who.userId === owner.id) throw new HubError(400, "You can't share a server with its owner");
    const scopes = normalizeShareScopes(b.scopes, owner.name, server);
    const share = d.shares.grant(owner.id, server, who, scopes, isoNow(d.clock));
    d.log.info({ owner: owner.name, server, grantee: who.label, scopes, by: req.identity!.name, event: 'share-granted' }, 'server shared');
    res.status(200).json(shareModel(share));
  });

  ownerOrServer('patch', '/hub/api/shares/:owner', { scope: 'shares', target: ownerTarget, bodyLimit: 65536 }, (req, res) => {
    const owner = loadUser(d, param(req, 'owner'));
    const server = serverRow(owner, param(req, 'server')).name;
    const b = jsonBody(req);
    const who = grantee(b);
    const share = d.shares.find(owner.id, server, who);
    if (!share) throw new HubError(404, `No share of ${owner.name}/${server} with ${who.label}`);
    const left = d.shares.revoke(share, normalizeShareScopes(b.scopes, owner.name, server));
    d.log.info({ owner: owner.name, server, grantee: who.label, by: req.identity!.name, event: 'share-revoked' }, 'share changed');
    if (!left) return void res.status(200).json({});
    res.json(shareModel(left));
  });

  ownerOrServer('delete', '/hub/api/shares/:owner', { scope: 'shares', target: ownerTarget }, (req, res) => {
    const owner = loadUser(d, param(req, 'owner'));
    const server = serverRow(owner, param(req, 'server')).name;
    d.shares.deleteForServer(owner.id, server);
    d.log.info({ owner: owner.name, server, by: req.identity!.name, event: 'shares-revoked' }, 'all shares revoked');
    res.status(204).end();
  });

  // what others shared with a user / a group
  const sharedWithUser = (req: ApiRequest) => d.shares.withUser(loadUser(d, param(req, 'name')).id);
  const sharedWithGroup = (req: ApiRequest) => {
    const g = d.groups.byName(param(req, 'name'));
    if (!g) throw new HubError(404, `No such group: ${param(req, 'name')}`);
    return d.shares.withGroup(g.id);
  };
  const findShared = (list: ShareRow[], req: ApiRequest) => {
    const owner = loadUser(d, param(req, 'owner'));
    const s = list.find((x) => x.owner_id === owner.id && x.server_name === param(req, 'server'));
    if (!s) throw new HubError(404, 'No such share');
    return s;
  };
  api.get('/hub/api/users/:name/shared', { scope: 'read:users:shares', target: nameTarget }, (req, res) => sendPage(req, res, sharedWithUser(req), shareModel));
  ownerOrServer('get', '/hub/api/users/:name/shared/:owner', { scope: 'read:users:shares', target: nameTarget }, (req, res) => void res.json(shareModel(findShared(sharedWithUser(req), req))));
  ownerOrServer('delete', '/hub/api/users/:name/shared/:owner', { scope: 'users:shares', target: nameTarget }, (req, res) => {
    d.shares.revoke(findShared(sharedWithUser(req), req), 'all');
    res.status(204).end();
  });
  api.get('/hub/api/groups/:name/shared', { scope: 'read:groups:shares', target: nameTarget }, (req, res) => sendPage(req, res, sharedWithGroup(req), shareModel));
  ownerOrServer('get', '/hub/api/groups/:name/shared/:owner', { scope: 'read:groups:shares', target: nameTarget }, (req, res) => void res.json(shareModel(findShared(sharedWithGroup(req), req))));
  ownerOrServer('delete', '/hub/api/groups/:name/shared/:owner', { scope: 'groups:shares', target: nameTarget }, (req, res) => {
    d.shares.revoke(findShared(sharedWithGroup(req), req), 'all');
    res.status(204).end();
  });

  // share codes
  ownerOrServer('get', '/hub/api/share-codes/:owner', { scope: 'read:shares', target: (req) => (wholeOwner(req) ? { user: param(req, 'owner') } : ownerTarget(req)) }, (req, res) => {
    const owner = loadUser(d, param(req, 'owner'));
    const now = isoNow(d.clock);
    const codes = wholeOwner(req) ? d.shares.codesFor(owner.id) : d.shares.codesFor(owner.id, param(req, 'server'));
    sendPage(req, res, codes.filter((c) => c.expires_at > now), codeModel);
  });
  ownerOrServer('post', '/hub/api/share-codes/:owner', { scope: 'shares', target: ownerTarget, bodyLimit: 65536 }, (req, res) => {
    const owner = loadUser(d, param(req, 'owner'));
    // a share is access to the owner's server: for an admin's, only an admin (the owner included) grants it
    checkMayModify(d, req.identity!, owner);
    const server = serverRow(owner, param(req, 'server')).name;
    const b = jsonBody(req);
    const expiresIn = b.expires_in === undefined ? DEFAULT_CODE_LIFETIME : b.expires_in;
    if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0 || expiresIn > MAX_CODE_LIFETIME) throw new HubError(400, `'expires_in' must be between 1 and ${MAX_CODE_LIFETIME} seconds (share codes always expire)`);
    const scopes = normalizeShareScopes(b.scopes, owner.name, server);
    const code = `sc_${randomBytes(24).toString('base64url')}`;
    const row = d.shares.createCode(code, { ownerId: owner.id, serverName: server, scopes, expiresAt: new Date(d.clock.now() + expiresIn * 1000).toISOString(), now: isoNow(d.clock) });
    d.log.info({ owner: owner.name, server, by: req.identity!.name, event: 'share-code-created' }, 'share code created');
    res.status(201).json({ ...codeModel(row), code, accept_url: `/hub/accept-share?code=${encodeURIComponent(code)}` });
  });
  ownerOrServer('delete', '/hub/api/share-codes/:owner', { scope: 'shares', target: ownerTarget }, (req, res) => {
    const owner = loadUser(d, param(req, 'owner'));
    const server = param(req, 'server');
    if (typeof req.query.code === 'string') {
      const c = d.shares.codeByValue(req.query.code, '0000');
      if (!c || c.owner_id !== owner.id || c.server_name !== server) throw new HubError(404, 'No such share code');
      d.shares.deleteCode(c.id);
    } else if (typeof req.query.id === 'string') {
      const c = d.shares.codeById(Number(req.query.id.replace(/^sc_/, '')));
      if (!c || c.owner_id !== owner.id || c.server_name !== server) throw new HubError(404, 'No such share code');
      d.shares.deleteCode(c.id);
    } else d.shares.deleteCodesFor(owner.id, server);
    res.status(204).end();
  });

}

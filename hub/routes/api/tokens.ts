/**
 * API tokens of a user: GET /users/:name/tokens (read:tokens), POST (tokens), GET|DELETE /tokens/:id.
 * The token value is returned once, at creation; only its hash is kept.
 */
import type { ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import type { TokenRow } from '../../db/tokens.js';
import type { UserRow } from '../../db/users.js';
import type { Identity } from '../../access.js';
import { isoNow } from '../../clock.js';
import { HubError } from '../../errors.js';
import { checkMayModify } from '../../user-ops.js';
import { expandScopes, intersectScopes, isKnownScope, rolesToScopes, DEFAULT_ROLES } from '../../scopes.js';
import { jsonBody, loadUser, param, userTarget } from '../params.js';

export function tokenModel(t: TokenRow, userName: string): Record<string, unknown> {
  return {
    id: `a${t.id}`,
    kind: t.kind === 'oauth' ? 'oauth' : 'api_token',
    user: userName,
    service: null,
    roles: JSON.parse(t.roles),
    scopes: JSON.parse(t.scopes),
    note: t.note,
    created: t.created,
    expires_at: t.expires_at,
    last_activity: t.last_activity,
    session_id: t.session_id,
    oauth_client: t.client_id,
  };
}

function parseTokenId(raw: string): number {
  const m = /^a(\d+)$/.exec(raw);
  if (!m) throw new HubError(404, `No such token: ${raw}`);
  return Number(m[1]);
}

/**
 * Creates an API token for `user` on behalf of `requester` (REST API and token page). A token never
 * gets more than its owner has, nor more than the caller has.
 */
export function createApiToken(d: HubDeps, requester: Identity, user: UserRow, b: Record<string, unknown>): { token: string; row: TokenRow } {
  // a token acts as its owner: for an admin, only an admin (the owner included) may mint one
  checkMayModify(d, requester, user);
  if (b.note !== undefined && typeof b.note !== 'string') throw new HubError(400, "'note' must be a string");
  if (typeof b.note === 'string' && b.note.length > 1000) throw new HubError(400, "'note' is longer than 1000 characters");
  let expiresAt: string | null = null;
  if (b.expires_in !== undefined && b.expires_in !== null) {
    if (typeof b.expires_in !== 'number' || !Number.isFinite(b.expires_in) || b.expires_in <= 0) throw new HubError(400, "'expires_in' must be a positive number of seconds");
    expiresAt = new Date(d.clock.now() + b.expires_in * 1000).toISOString();
  }
  const roles = b.roles === undefined ? [] : b.roles;
  if (!Array.isArray(roles) || roles.some((x) => typeof x !== 'string' || !(x in DEFAULT_ROLES))) throw new HubError(400, `'roles' must be a list of known roles (${Object.keys(DEFAULT_ROLES).join(', ')})`);
  const rawScopes: unknown = b.scopes === undefined ? (roles.length ? rolesToScopes(roles as string[]) : ['inherit']) : b.scopes;
  if (!Array.isArray(rawScopes) || rawScopes.some((x) => typeof x !== 'string')) throw new HubError(400, "'scopes' must be a list of strings");
  let scopes = rawScopes as string[];
  const unknown = scopes.filter((s) => s !== 'inherit' && s !== 'self' && !isKnownScope(s));
  if (unknown.length) throw new HubError(400, `Unknown scopes: ${unknown.join(', ')}`);
  // A token can't be given more than its owner has, nor more than the caller has.
  if (!scopes.includes('inherit')) {
    const requested = expandScopes(scopes, { user: user.name });
    const ownerHas = intersectScopes(requested, d.access.userScopes(user));
    const callerHas = intersectScopes(requested, requester.scopes);
    const missing = [...requested].filter((s) => !ownerHas.has(s) || !callerHas.has(s));
    if (missing.length) throw new HubError(403, `Not assigning requested scopes ${missing.join(', ')} not held by ${user.name}`);
  } else if (requester.token && !requester.token.scopes.includes('inherit') && requester.user?.id === user.id) {
    // a narrowed token may not mint a full-power one
    scopes = [...requester.scopes];
  }
  const { token, row } = d.tokens.create({ kind: 'api', userId: user.id, note: (b.note as string | undefined) ?? (requester.user?.id === user.id ? 'Requested via api' : `Requested via api by ${requester.kind} ${requester.name}`), scopes: scopes as string[], roles: roles as string[], expiresAt, now: isoNow(d.clock) });
  d.log.info({ user: user.name, tokenId: `a${row.id}`, by: requester.name, event: 'token-created' }, 'token created');
  return { token, row };
}

export function tokensRoutes(api: ApiRouter, d: HubDeps): void {
  const target = userTarget(d);

  api.get('/hub/api/users/:name/tokens', { scope: 'read:tokens', target: target }, (req, res) => {
    const user = loadUser(d, param(req, 'name'));
    const now = isoNow(d.clock);
    const live = d.tokens.forUser(user.id).filter((t) => t.kind !== 'server' && (!t.expires_at || t.expires_at > now));
    res.json({ api_tokens: live.filter((t) => t.kind === 'api').map((t) => tokenModel(t, user.name)), oauth_tokens: live.filter((t) => t.kind === 'oauth').map((t) => tokenModel(t, user.name)) });
  });

  api.post('/hub/api/users/:name/tokens', { scope: 'tokens', target: target, bodyLimit: 65536 }, (req, res) => {
    const user = loadUser(d, param(req, 'name'));
    const { token, row } = createApiToken(d, req.identity!, user, jsonBody(req));
    res.status(201).json({ ...tokenModel(row, user.name), token });
  });

  api.get('/hub/api/users/:name/tokens/:id', { scope: 'read:tokens', target: target }, (req, res) => {
    const user = loadUser(d, param(req, 'name'));
    const t = d.tokens.byId(parseTokenId(param(req, 'id')));
    if (!t || t.user_id !== user.id || t.kind === 'server') throw new HubError(404, `No such token: ${param(req, 'id')}`);
    res.json(tokenModel(t, user.name));
  });

  api.delete('/hub/api/users/:name/tokens/:id', { scope: 'tokens', target: target }, (req, res) => {
    const user = loadUser(d, param(req, 'name'));
    const t = d.tokens.byId(parseTokenId(param(req, 'id')));
    if (!t || t.user_id !== user.id || t.kind === 'server') throw new HubError(404, `No such token: ${param(req, 'id')}`);
    d.tokens.delete(t.id);
    d.log.info({ user: user.name, tokenId: `a${t.id}`, by: req.identity!.name, event: 'token-revoked' }, 'token revoked');
    res.status(204).end();
  });

}

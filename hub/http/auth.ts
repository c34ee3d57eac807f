/**
 * Resolves the caller: `Authorization: token|bearer <t>` (case-insensitive, as JupyterHub) or the
 * login session cookie. requireScope() guards handlers the way @needs_scope does.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AccessService } from '../access.js';
import type { UserRepo, UserRow } from '../db/users.js';
import { HubError } from '../errors.js';
import { hasAnyScope, hasScope, isKnownScope, type ScopeTarget } from '../scopes.js';

export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^\s*(token|bearer)\s+(\S+)\s*$/i.exec(header);
  return m?.[2];
}

export function resolveIdentity(access: AccessService, users: UserRepo): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    const token = tokenFromHeader(req.headers.authorization);
    if (token) {
      req.identity = access.forToken(token);
      // An invalid token never falls back to the cookie: the caller meant the token.
      return next();
    }
    const s = req.session;
    if (s?.userId) {
      const user = users.byId(s.userId);
      if (user && user.cookie_id === s.cookieId) req.identity = access.forUser(user, s.hubSessionId);
    }
    next();
  };
}

/** The user behind a request (pages and user-only endpoints); services get a 403. */
export function userOf(req: Request): UserRow {
  const user = req.identity?.user;
  if (!user) throw new HubError(403, req.identity ? 'This action needs a user, not a service' : 'Missing or invalid credentials');
  return user;
}

/** Pages: a logged-in user may pass; anyone else is sent to the login page and back. */
export function requireLoginPage(req: Request, res: Response, next: NextFunction): void {
  if (req.identity?.user) return next();
  res.redirect(302, `/hub/login?next=${encodeURIComponent(req.originalUrl)}`);
}

/** 403 without credentials, like JupyterHub's API (the single-user server treats 403 as "not logged in"). */
export function requireAuth(): RequestHandler {
  return (req, _res, next) => (req.identity ? next() : next(new HubError(403, 'Missing or invalid credentials')));
}

/**
 * Requires `scope` on the target the request names. `target` picks it from the request; when the
 * scope is held only for other resources the answer is 404, so callers can't probe what exists.
 */
export function requireScope(scope: string, target?: (req: Request) => ScopeTarget): RequestHandler {
  if (!isKnownScope(scope)) throw new Error(`unknown scope in handler declaration: ${scope}`);
  return (req, _res, next) => {
    const id = req.identity;
    if (!id) return next(new HubError(403, 'Missing or invalid credentials'));
    if (!target) return hasAnyScope(id.scopes, scope) ? next() : next(new HubError(403, `Action is not authorized with current scopes; requires any of [${scope}]`));
    if (hasScope(id.scopes, scope, target(req))) return next();
    return next(new HubError(hasAnyScope(id.scopes, scope) ? 404 : 403, hasAnyScope(id.scopes, scope) ? 'No access to resources or resources not found' : `Action is not authorized with current scopes; requires any of [${scope}]`));
  };
}

/** Shared request helpers for route modules. */
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity } from '../access.js';
import type { HubDeps } from '../deps.js';
import type { UserRow } from '../db/users.js';
import { HubError } from '../errors.js';
import { hasGroupFilter, type ScopeTarget } from '../scopes.js';

/** The parts of a request (Express's or the API router's) these helpers read. */
export interface RequestLike {
  params: Record<string, string | string[] | undefined>;
  identity?: Identity;
  body?: unknown;
  headers: IncomingHttpHeaders;
}

export function param(req: Pick<RequestLike, 'params'>, name: string): string {
  const v = (req.params as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v.join('/') : (v ?? '');
}

/** The scope target for /users/:name[/servers/:server] routes, with the user's groups. */
export function userTarget(d: HubDeps): (req: Pick<RequestLike, 'params' | 'identity'>) => ScopeTarget {
  return (req) => {
    const name = param(req, 'name');
    // group filters are rare: look up the target's groups only when the caller holds one
    const user = req.identity && hasGroupFilter(req.identity.scopes) ? d.users.byName(name) : undefined;
    return { user: name, server: `${name}/${param(req, 'server')}`, userGroups: user ? d.users.groupNames(user.id) : [] };
  };
}

export function loadUser(d: HubDeps, name: string): UserRow {
  const user = d.users.byName(name);
  if (!user) throw new HubError(404, `No such user: ${name}`);
  return user;
}

/**
 * The request's JSON object body. No body (or JSON `null`) is `{}`, unless the write needs one: JupyterHub
 * answers 400 to a PATCH of a user or of the proxy without a body rather than treating it as a no-op.
 */
export function jsonBody(req: Pick<RequestLike, 'body'> & { bodyEmpty?: boolean }, opts: { required?: string } = {}): Record<string, unknown> {
  const b = req.body as unknown;
  if (req.bodyEmpty || b === undefined || b === null) {
    if (opts.required) throw new HubError(400, `This request needs a JSON object body: ${opts.required}`);
    return {};
  }
  if (typeof b !== 'object' || Array.isArray(b)) throw new HubError(400, 'Request body must be a JSON object');
  return b as Record<string, unknown>;
}

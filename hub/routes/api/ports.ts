/**
 * Shared ports: GET /users/:name/ports (read:servers) · PUT|DELETE /users/:name/ports/:port and
 * /users/:name/servers/:server/ports/:port (servers) with {level, users?, groups?, expires_in?}.
 * Levels: owner (whoever may access the server), users (plus named users/groups), authenticated
 * (any logged-in user), public. The proxy enforces them by asking /hub/api/routes/authorize.
 * Also: GET /hub/api/routes/authorize (the proxy only) and GET /hub/routes/login (browsers).
 */
import { Router } from 'express';
import type { ApiRequest, ApiResponse, ApiRouter } from '../../http/api-router.js';
import type { HubDeps } from '../../deps.js';
import type { PortLevel, PortRow } from '../../db/ports.js';
import { isoNow } from '../../clock.js';
import { HubError } from '../../errors.js';
import { safeNext } from '../../auth/next.js';
import { userOf } from '../../http/auth.js';
import { parseCookies } from '../../http/csrf.js';
import { ROUTE_COOKIE, ROUTE_TOKEN_CLIENT } from '../../route-auth.js';
import { jsonBody, loadUser, param, userTarget } from '../params.js';
import { timingSafeEqual } from 'node:crypto';

const LEVELS: PortLevel[] = ['owner', 'users', 'authenticated', 'public'];
const MAX_SHARE_SECONDS = 365 * 86_400;

export function portsRoutes(api: ApiRouter, d: HubDeps): void {
  const target = userTarget(d);

  const model = (owner: string, p: PortRow) => ({
    server: p.server_name,
    port: p.port,
    level: p.level,
    users: JSON.parse(p.users) as string[],
    groups: JSON.parse(p.groups) as string[],
    url: d.routeAuth.shareUrl(owner, p.server_name, p.port) ?? null,
    created: p.created,
    expires_at: p.expires_at,
  });

  const portParam = (req: ApiRequest): number => {
    const raw = param(req, 'port');
    const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new HubError(400, `Invalid port '${raw}': use 1–65535`);
    return port;
  };

  /** Pushes the share's route to the proxy now (or removes it), so changes apply at once. */
  const syncRoute = async (owner: string, server: string, port: number) => {
    const path = d.routeAuth.shareRoute(owner, server, port);
    if (!path) return;
    const route = d.routeAuth.portRoutes().find((x) => x.path === path);
    if (route) await d.proxy.addRoute(route.path, { ...route.data, target: route.target, jupyterhub: true });
    else await d.proxy.deleteRoute(path);
  };

  api.get('/hub/api/users/:name/ports', { scope: 'read:servers', target }, (req, res) => {
    const user = loadUser(d, param(req, 'name'));
    res.json(d.ports.forUser(user.id).map((p) => model(user.name, p)));
  });

  const share = async (req: ApiRequest, res: ApiResponse) => {
    const user = loadUser(d, param(req, 'name'));
    const server = param(req, 'server');
    const port = portParam(req);
    const b = jsonBody(req);
    const level = (b.level ?? 'owner') as PortLevel;
    if (!LEVELS.includes(level)) throw new HubError(400, `'level' must be one of ${LEVELS.join(', ')}`);
    const list = (v: unknown, what: string): string[] => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new HubError(400, `'${what}' must be a list of names`);
      return v as string[];
    };
    const users = list(b.users, 'users');
    const groups = list(b.groups, 'groups');
    const unknownUsers = users.filter((u) => !d.users.byName(u));
    const unknownGroups = groups.filter((g) => !d.groups.byName(g));
    if (unknownUsers.length || unknownGroups.length) throw new HubError(400, `Unknown ${[...unknownUsers.map((u) => `user ${u}`), ...unknownGroups.map((g) => `group ${g}`)].join(', ')}`);
    if ((users.length || groups.length) && level !== 'users') throw new HubError(400, "'users' and 'groups' apply to level 'users' only");
    let expiresAt: string | null = null;
    if (b.expires_in !== undefined && b.expires_in !== null) {
      if (typeof b.expires_in !== 'number' || !(b.expires_in > 0) || b.expires_in > MAX_SHARE_SECONDS) throw new HubError(400, `'expires_in' must be between 1 and ${MAX_SHARE_SECONDS} seconds`);
      expiresAt = new Date(d.clock.now() + b.expires_in * 1000).toISOString();
    }
    if (!d.routeAuth.shareRoute(user.name, server, port)) throw new HubError(400, `The user and server names are too long for a subdomain (a DNS label holds 63 characters): ${d.subdomains?.domain ?? ''}`);
    if (d.serverManager.status(user.name, server) !== 'running') throw new HubError(400, `${user.name}'s server${server ? ` ${server}` : ''} is not running`);
    if (!d.routeAuth.portTarget(user.name, server, port)) throw new HubError(400, `Nothing in ${user.name}'s server listens on port ${port}`);
    const row = d.ports.upsert({ ownerId: user.id, serverName: server, port, level, users, groups, now: isoNow(d.clock), expiresAt });
    await syncRoute(user.name, server, port);
    d.log.info({ owner: user.name, server, port, level, users, groups, by: req.identity!.name, event: 'port-shared' }, 'port shared');
    res.status(200).json(model(user.name, row));
  };

  const unshare = async (req: ApiRequest, res: ApiResponse) => {
    const user = loadUser(d, param(req, 'name'));
    const server = param(req, 'server');
    const port = portParam(req);
    const row = d.ports.get(user.id, server, port);
    if (!row) throw new HubError(404, `Port ${port} of ${user.name}'s server is not shared`);
    d.ports.delete(row.id);
    await syncRoute(user.name, server, port);
    d.log.info({ owner: user.name, server, port, by: req.identity!.name, event: 'port-unshared' }, 'port share revoked');
    res.status(204).end();
  };

  for (const path of ['/hub/api/users/:name/ports/:port', '/hub/api/users/:name/servers/:server/ports/:port']) {
    api.put(path, { scope: 'servers', target, bodyLimit: 65536 }, share);
    api.delete(path, { scope: 'servers', target }, unshare);
  }

  // The proxy's question: may the bearer of X-LabHub-Route-Token pass this route?
  api.get('/hub/api/routes/authorize', {}, (req, res) => {
    requireProxy(d, req.headers.authorization);
    const route = typeof req.query.route === 'string' ? req.query.route : '';
    const token = req.headers['x-labhub-route-token'];
    const bearer = typeof token === 'string' && token ? d.access.forToken(token) : undefined;
    // a route cookie only says who you are (like a login cookie): judge with the user's own permissions
    const identity = bearer?.token?.client_id === ROUTE_TOKEN_CLIENT && bearer.user ? d.access.forUser(bearer.user, bearer.sessionId) : bearer;
    const policy = d.routeAuth.policyFor(route);
    let status = d.routeAuth.decide(policy, identity);
    if (status === 200 && policy?.kind === 'port' && !d.routeAuth.portTarget(policy.owner, policy.server, policy.port)) status = 404;
    res.status(status).json({ status, user: identity?.name ?? null });
  });

  // The proxy, on a share's own host, trades the browser's one-time code for the route token.
  api.get('/hub/api/routes/exchange', {}, (req, res) => {
    requireProxy(d, req.headers.authorization);
    const route = typeof req.query.route === 'string' ? req.query.route : '';
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    const token = code && d.routeAuth.isHostRoute(route) ? d.routeAuth.redeemCode(code, route) : undefined;
    if (!token) throw new HubError(403, 'Unknown, used or expired code');
    res.status(200).json({ token });
  });

}

function requireProxy(d: HubDeps, authorization: string | undefined): void {
  const presented = /^\s*token\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? '';
  const expected = d.secrets.proxyAuthToken;
  if (!presented || presented.length !== expected.length || !timingSafeEqual(Buffer.from(presented), Buffer.from(expected))) throw new HubError(403, 'Only the proxy may ask');
}

/** GET /hub/routes/login, a browser page (Express): the login-cookie side of shared ports. */
export function routeLoginRouter(d: HubDeps): Router {
  const r = Router();
  // Browsers without a route cookie come here (the proxy redirects): log in, check, set the cookie.
  r.get('/hub/routes/login', (req, res) => {
    const route = typeof req.query.route === 'string' ? req.query.route : '';
    const parsed = d.routeAuth.parse(route);
    if (!parsed) throw new HubError(400, 'Not a protected route');
    if (!req.identity?.user) return void res.redirect(302, `/hub/login?next=${encodeURIComponent(req.originalUrl)}`);
    const status = d.routeAuth.decide(d.routeAuth.policyFor(route), req.identity);
    if (status === 404) throw new HubError(404, 'Nothing is shared there');
    if (status !== 200) throw new HubError(403, `You do not have access to ${route}/`);
    const me = userOf(req);
    const existing = parseCookies(req.headers.cookie)[ROUTE_COOKIE];
    const valid = existing ? d.access.forToken(existing) : undefined;
    let token = valid?.name === me.name ? existing : undefined;
    if (!token) {
      token = d.tokens.create({
        kind: 'oauth',
        userId: me.id,
        clientId: ROUTE_TOKEN_CLIENT,
        sessionId: req.identity.sessionId ?? null,
        scopes: [`read:users:name!user=${me.name}`],
        note: `Route access ${route}`,
        expiresAt: new Date(d.clock.now() + d.config.cookieMaxAgeDays * 86_400_000).toISOString(),
        now: isoNow(d.clock),
      }).token;
    }
    // `next` is a path on the route's own host (subdomains) or under the route's path
    const next = safeNext(req.query.next, '');
    if (d.routeAuth.isHostRoute(route)) {
      // another host: the proxy there trades this code for the token and sets its own cookie
      // (at the route's own path: '' for a share, /user/alice for a server)
      const code = d.routeAuth.issueCode(route, token);
      return void res.redirect(302, `${d.subdomains!.urlOfRoute(route)}/_labhub/route-login?${new URLSearchParams({ code, next: next || '/' })}`);
    }
    // the cookie only travels to this route (and is stripped by the proxy before the app sees it)
    const base = `${route.replace(/\/+$/, '')}/`;
    res.cookie(ROUTE_COOKIE, token, { path: base, httpOnly: true, sameSite: 'lax', secure: d.config.secureCookies, maxAge: d.config.cookieMaxAgeDays * 86_400_000 });
    res.redirect(302, next.startsWith(base) ? next : base);
  });

  return r;
}

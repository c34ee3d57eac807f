/**
 * Browser pages that mirror JupyterHub's URLs (PROTOCOL.md B5): /, /hub/, /hub/home,
 * /hub/spawn[/:user[/:server]], /hub/spawn-pending/…, /hub/user/:user/… (no route in the proxy),
 * /hub/user-redirect/…, /hub/error/:code.
 */
import { Router, urlencoded, type NextFunction, type Request, type Response } from 'express';
import { isoNow } from '../clock.js';
import type { HubDeps } from '../deps.js';
import { HubError } from '../errors.js';
import { safeNext } from '../auth/next.js';
import { hasScope } from '../scopes.js';
import { startServer } from './api/servers.js';
import { param } from './params.js';
import { requireLoginPage, userOf } from '../http/auth.js';
import { TerminalManager } from '../terminals.js';
import { defaultProfile, describeLimits, visibleProfiles } from '../profiles.js';
import type { UserRow } from '../db/users.js';
import { nextStopFor, type StopWarning } from '../stop-warnings.js';


export function pagesRouter(d: HubDeps): Router {
  const r = Router();
  const soon = (w: StopWarning | null) => (w && w.at - d.clock.now() < 24 * 3600_000 ? w : null);

  /** The user a page is about: yourself, or someone you hold `scope` on (admins). */
  const subject = (req: Request, scope: string): UserRow => {
    const me = req.identity!;
    const myself = userOf(req);
    const name = param(req, 'user') || myself.name;
    if (name === myself.name) return myself;
    const user = d.users.byName(name);
    if (!user || !hasScope(me.scopes, scope, { user: name, server: `${name}/${param(req, 'server')}`, userGroups: d.users.groupNames(user.id) })) {
      throw new HubError(404, `No such user: ${name}`);
    }
    return user;
  };

  r.get('/hub/', (req, res) => {
    res.redirect(302, req.identity ? '/hub/home' : '/hub/login?next=%2Fhub%2F');
  });

  r.get('/hub/home', requireLoginPage, (req, res) => {
    const me = userOf(req);
    const servers = d.servers.forUser(me.id).map((row) => ({
      name: row.name,
      profile: (JSON.parse(row.user_options) as { profile?: unknown }).profile as string | undefined,
      url: d.serverManager.publicUrl(me.name, row.name),
      status: d.serverManager.status(me.name, row.name),
      lastActivity: row.last_activity,
      started: row.started,
      // warn before a scheduled stop, idle stop or maximum age (within the next 24 h)
      stopWarning: d.serverManager.status(me.name, row.name) === 'running' ? soon(nextStopFor(d, me, row)) : null,
    }));
    if (!servers.some((s) => s.name === '')) servers.unshift({ name: '', profile: undefined, url: d.serverManager.publicUrl(me.name, ''), status: 'stopped', lastActivity: null, started: null, stopWarning: null });
    const ports = d.ports.forUser(me.id).map((p) => ({
      port: p.port,
      level: p.level,
      users: JSON.parse(p.users) as string[],
      groups: JSON.parse(p.groups) as string[],
      expires_at: p.expires_at,
      url: d.routeAuth.shareUrl(me.name, p.server_name, p.port) ?? '',
      apiPath: `/hub/api/users/${encodeURIComponent(me.name)}${p.server_name ? `/servers/${encodeURIComponent(p.server_name)}` : ''}/ports/${p.port}`,
    }));
    res.render('home', { identity: req.identity, xsrf: req.xsrfToken, servers, allowNamed: d.config.allowNamedServers, ports, portPattern: (d.routeAuth.shareUrl(me.name, '', 1) ?? '').replace(/\/\/1--|\/ports\/1\/$/, (m) => (m === '//1--' ? '//<port>--' : '/ports/<port>/')) });
  });

  // "New named server" form on the home page → that server's spawn page
  r.get('/hub/new-server', requireLoginPage, (req, res) => {
    const name = typeof req.query.server === 'string' ? req.query.server.trim() : '';
    if (!d.config.allowNamedServers) throw new HubError(400, 'Named servers are not enabled.');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) throw new HubError(400, `Invalid server name '${name}': use letters, digits, '.', '_' and '-'`);
    res.redirect(302, `/hub/spawn/${encodeURIComponent(userOf(req).name)}/${encodeURIComponent(name)}`);
  });

  /** Options form fields → user_options (only the chosen profile's fields count). */
  const optionsFromForm = (body: Record<string, unknown>): Record<string, unknown> => {
    const profile = typeof body.profile === 'string' ? body.profile : undefined;
    if (!profile) return {};
    const out: Record<string, unknown> = { profile };
    const prefix = `profile-option-${profile}--`;
    for (const [k, v] of Object.entries(body)) if (k.startsWith(prefix) && typeof v === 'string') out[k.slice(prefix.length)] = v;
    return out;
  };

  const renderSpawnForm = (req: Request, res: Response, user: UserRow, serverName: string, selected: Record<string, unknown>, error: string | null, status = 200) => {
    const profiles = visibleProfiles(d.config, d.users.groupNames(user.id)).map((p) => ({ ...p, limitsText: describeLimits(p.limits) }));
    const chosen = typeof selected.profile === 'string' && profiles.some((p) => p.slug === selected.profile) ? selected : { profile: defaultProfile(profiles)?.slug };
    const action = `/hub/spawn/${encodeURIComponent(user.name)}${serverName ? `/${encodeURIComponent(serverName)}` : ''}${req.query.next ? `?next=${encodeURIComponent(String(req.query.next))}` : ''}`;
    res.status(status).render('spawn', { identity: req.identity, xsrf: req.xsrfToken, profiles, selected: chosen, error, action, forUser: user.name, serverName });
  };

  /** Where to go once a server runs: a path here, a URL on one of our subdomains, else the server. */
  const nextOr = (raw: unknown, fallback: string): string => (typeof raw === 'string' && d.subdomains?.isOwnUrl(raw) ? raw : safeNext(raw, fallback));

  const spawnTarget = (req: Request) => {
    const user = subject(req, 'servers');
    const serverName = param(req, 'server');
    if (serverName && !d.config.allowNamedServers) throw new HubError(400, 'Named servers are not enabled.');
    const next = nextOr(req.query.next, d.serverManager.publicUrl(user.name, serverName));
    const pendingUrl = `/hub/spawn-pending/${encodeURIComponent(user.name)}${serverName ? `/${encodeURIComponent(serverName)}` : ''}?next=${encodeURIComponent(next)}`;
    return { user, serverName, next, pendingUrl, status: d.serverManager.status(user.name, serverName) };
  };

  const spawnPage = async (req: Request, res: Response) => {
    const { user, serverName, next, pendingUrl, status } = spawnTarget(req);
    if (status === 'running') return void res.redirect(302, next);
    if (status === 'spawn' || status === 'stop') return void res.redirect(302, pendingUrl);
    const row = d.servers.get(user.id, serverName);
    const last = row ? (JSON.parse(row.user_options) as Record<string, unknown>) : {};
    // Query arguments other than `next` are options (JupyterHub options_from_query): spawn at once.
    const query = Object.fromEntries(Object.entries(req.query).filter(([k, v]) => k !== 'next' && typeof v === 'string'));
    if (Object.keys(query).length) {
      await startServer(d, user, serverName, query, { waitMs: 0 });
      return void res.redirect(302, pendingUrl);
    }
    if (d.config.profiles.length > 0) return renderSpawnForm(req, res, user, serverName, last, null);
    // JupyterHub re-uses the last user_options when none are given
    await startServer(d, user, serverName, last, { waitMs: 0 });
    res.redirect(302, pendingUrl);
  };

  const spawnSubmit = async (req: Request, res: Response) => {
    const { user, serverName, next, pendingUrl, status } = spawnTarget(req);
    if (status === 'running') return void res.redirect(302, next);
    if (status === 'spawn' || status === 'stop') return void res.redirect(302, pendingUrl);
    const options = optionsFromForm((req.body ?? {}) as Record<string, unknown>);
    try {
      await startServer(d, user, serverName, options, { waitMs: 0 });
    } catch (err) {
      // a bad choice re-renders the form with the message and the user's choices kept
      if (err instanceof HubError && err.status < 500) return renderSpawnForm(req, res, user, serverName, options, err.message, err.status);
      throw err;
    }
    res.redirect(302, pendingUrl);
  };
  const spawnPaths = ['/hub/spawn', '/hub/spawn/:user', '/hub/spawn/:user/:server'];
  r.get(spawnPaths, requireLoginPage, spawnPage);
  r.post(spawnPaths, requireLoginPage, urlencoded({ extended: false, limit: '64kb' }), d.csrf.check(), spawnSubmit);

  r.get(['/hub/spawn-pending/:user', '/hub/spawn-pending/:user/:server'], requireLoginPage, (req, res) => {
    const user = subject(req, 'read:servers');
    const serverName = param(req, 'server');
    const next = nextOr(req.query.next, d.serverManager.publicUrl(user.name, serverName));
    const status = d.serverManager.status(user.name, serverName);
    if (status === 'running') return void res.redirect(302, next);
    const failure = d.serverManager.failureOf(user.name, serverName);
    const progressUrl = `/hub/api/users/${encodeURIComponent(user.name)}/${serverName ? `servers/${encodeURIComponent(serverName)}/` : 'server/'}progress`;
    if (status === 'spawn') {
      return void res.render('spawn-pending', { identity: req.identity, xsrf: req.xsrfToken, user: user.name, serverName, progressUrl, next, events: d.serverManager.pendingOf(user.name, serverName)?.progress.events ?? [] });
    }
    res.status(failure ? 500 : 200).render('not-running', { identity: req.identity, xsrf: req.xsrfToken, user: user.name, serverName, spawnUrl: `/hub/spawn/${encodeURIComponent(user.name)}${serverName ? `/${encodeURIComponent(serverName)}` : ''}?next=${encodeURIComponent(next)}`, failure: failure?.message ?? null });
  });

  // Reached when the proxy has no route for /user/<name>/… (server not running, or proxy lagging).
  r.all('/hub/user/:user{/*rest}', requireLoginPage, async (req, res) => {
    const name = param(req, 'user');
    const me = req.identity!;
    const user = d.users.byName(name);
    const restParts = (req.params as Record<string, string[] | undefined>).rest ?? [];
    const serverName = d.config.allowNamedServers && restParts.length > 0 && user && d.servers.get(user.id, restParts[0]) ? restParts[0] : '';
    if (!user || !hasScope(me.scopes, 'access:servers', { user: name, server: `${name}/${serverName}`, userGroups: d.users.groupNames(user.id) })) throw new HubError(404, `No access to /user/${name}/`);
    const original = req.originalUrl.slice('/hub'.length);
    const status = d.serverManager.status(name, serverName);
    if (status === 'running') {
      // the server runs but the proxy sent the request here: its route is missing (proxy restarted).
      // Put it back now instead of waiting for the next route check, then send the browser back.
      await d.serverManager.ensureRoute(name, serverName).catch((err) => d.log.warn({ err: String(err) }, 'could not re-add route'));
      const u = new URL(original, 'http://x');
      const redirects = Number(u.searchParams.get('redirects') ?? '0');
      if (redirects >= 4) throw new HubError(500, 'Redirect loop detected.');
      u.searchParams.set('redirects', String(redirects + 1));
      // with subdomains the server lives on its user's host, never on the hub's
      return void res.redirect(302, `${d.subdomains?.userOrigin(name) ?? ''}${u.pathname}${u.search}`);
    }
    if (status === 'spawn' || status === 'stop') return void res.redirect(303, `/hub/spawn-pending/${encodeURIComponent(name)}${serverName ? `/${encodeURIComponent(serverName)}` : ''}?next=${encodeURIComponent(original)}`);
    const spawnUrl = `/hub/spawn/${encodeURIComponent(name)}${serverName ? `/${encodeURIComponent(serverName)}` : ''}?next=${encodeURIComponent(original)}`;
    const isApi = req.method !== 'GET' || (req.headers.accept ?? '').includes('application/json') || restParts.includes('api');
    if (isApi) return void res.status(424).json({ status: 424, message: `JupyterHub server no longer running at ${original}. Restart the server at ${spawnUrl}` });
    res.status(424).render('not-running', { identity: req.identity, xsrf: req.xsrfToken, user: name, serverName, spawnUrl, failure: null });
  });

  r.get('/hub/user-redirect/{*rest}', requireLoginPage, (req, res) => {
    const rest = ((req.params as Record<string, string[] | undefined>).rest ?? []).map(encodeURIComponent).join('/');
    const search = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
    res.redirect(302, `${d.serverManager.publicUrl(userOf(req).name, '')}${rest}${search}`);
  });

  // Web terminal page (the shell itself is a WebSocket, see terminals.ts)
  r.get(['/hub/terminal/:user', '/hub/terminal/:user/:server'], requireLoginPage, (req, res) => {
    const owner = param(req, 'user');
    const serverName = param(req, 'server');
    if (!TerminalManager.allowed(req.identity!, owner, serverName)) throw new HubError(404, `No terminal access to ${owner}'s server`);
    if (d.serverManager.status(owner, serverName) !== 'running') throw new HubError(409, `${owner}'s server${serverName ? ` ${serverName}` : ''} is not running`);
    const wsPath = `/hub/terminal/${encodeURIComponent(owner)}${serverName ? `/${encodeURIComponent(serverName)}` : ''}/ws`;
    res.render('terminal', { identity: req.identity, xsrf: req.xsrfToken, owner, serverName, wsPath });
  });

  // Share codes: a logged-in user accepts a code and gets the share (JupyterHub /hub/accept-share).
  const codeFrom = (req: Request) => {
    const raw = (req.method === 'POST' ? (req.body as Record<string, unknown> | undefined)?.code : undefined) ?? req.query.code;
    const c = typeof raw === 'string' ? d.shares.codeByValue(raw, isoNow(d.clock)) : undefined;
    if (!c) throw new HubError(404, 'This share code is invalid or has expired.');
    const owner = d.users.byId(c.owner_id)!;
    return { c, owner, code: raw as string };
  };
  r.get('/hub/accept-share', requireLoginPage, (req, res) => {
    const { owner, c, code } = codeFrom(req);
    res.render('accept-share', { identity: req.identity, xsrf: req.xsrfToken, owner: owner.name, serverName: c.server_name, code, expiresAt: c.expires_at });
  });
  r.post('/hub/accept-share', requireLoginPage, urlencoded({ extended: false, limit: '8kb' }), d.csrf.check(), (req, res) => {
    const me = userOf(req);
    const { owner, c } = codeFrom(req);
    if (owner.id === me.id) throw new HubError(400, "You can't accept a share of your own server.");
    d.shares.grant(owner.id, c.server_name, { userId: me.id }, JSON.parse(c.scopes) as string[], isoNow(d.clock));
    d.shares.markExchanged(c.id, isoNow(d.clock));
    d.log.info({ owner: owner.name, server: c.server_name, user: me.name, event: 'share-code-accepted' }, 'share code accepted');
    res.redirect(302, d.serverManager.publicUrl(owner.name, c.server_name));
  });

  // CHP's --error-target: GET /hub/error/<code>?url=…
  r.get('/hub/error/:code', (req, res) => {
    // the proxy's error target (--error-target): it names an error status; anything else is no such page,
    // as in JupyterHub, whose route only matches digits
    const raw = param(req, 'code');
    const code = /^\d{3}$/.test(raw) ? Number(raw) : 0;
    const status = code >= 400 && code < 600 ? code : 404;
    const message = status === 503 ? 'Your server appears to be down. Try restarting it from the hub.' : status === 404 ? 'Page not found' : 'Error';
    res.status(status).render('error', { status, message, htmlMessage: undefined, identity: req.identity, xsrf: req.xsrfToken });
  });

  // Anything outside /hub/ that reached the hub: /user/x/… has no route, everything else gets /hub in front.
  r.all('/{*rest}', (req, res, next) => {
    if (req.path.startsWith('/hub/') || req.path === '/hub') return next();
    const target = req.originalUrl === '/' ? '/hub/' : `/hub${req.originalUrl}`;
    res.redirect(302, target);
  });

  return r;
}

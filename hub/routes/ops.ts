/**
 * Operations endpoints and pages:
 *   GET  /hub/health, /hub/api/health      liveness + database/proxy checks (no auth; 503 when the database fails)
 *   GET  /hub/api/audit                    audit log (read:audit), filters actor/action/target/since/until, JupyterHub pagination
 *   GET  /hub/api/schedules                configured schedules and culling, next stop of every running server (read:servers)
 *   POST /hub/api/schedules/override       {user, server?, minutes}: no scheduled/idle stop of that server for a while (admin:servers)
 *   GET  /hub/api/orphans, DELETE /hub/api/orphans/:kind/:id   containers/VMs of this hub its database does not account for (admin:servers)
 *   GET  /hub/admin/audit                  the audit log in the admin console (admin-ui + read:audit)
 *   GET  /hub/admin/schedules, POST /hub/admin/schedules/override   schedules view and override (admin-ui + admin:servers)
 *   GET  /hub/admin/orphans, POST /hub/admin/orphans/remove         orphaned containers/VMs (admin-ui + admin:servers)
 */
import { Router, urlencoded, type NextFunction, type Request, type Response } from 'express';
import type { ApiHandler, ApiRouter } from '../http/api-router.js';
import type { HubDeps } from '../deps.js';
import { HubError } from '../errors.js';
import { hasScope } from '../scopes.js';
import { nextStopFor } from '../stop-warnings.js';
import { jsonBody, param } from './params.js';
import { findOrphans, removeOrphan } from '../orphans.js';
import { parsePaging, PAGINATION_TYPE } from './paging.js';
import type { AuditQuery } from '../audit.js';

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

function auditQuery(req: { query: Record<string, unknown> }): AuditQuery {
  const q: AuditQuery = { actor: str(req.query.actor), action: str(req.query.action), target: str(req.query.target) };
  for (const k of ['since', 'until'] as const) {
    const v = str(req.query[k]);
    if (v === undefined) continue;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new HubError(400, `Invalid ${k}: '${v}' (use an ISO 8601 time)`);
    q[k] = new Date(t).toISOString();
  }
  return q;
}

function requireAdminUi(scope: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!req.identity) return void res.redirect(302, `/hub/login?next=${encodeURIComponent(req.originalUrl)}`);
    if (!hasScope(req.identity.scopes, 'admin-ui')) return next(new HubError(403, 'You need the admin-ui permission to use the admin console'));
    if (!hasScope(req.identity.scopes, scope)) return next(new HubError(403, `This page needs the ${scope} permission`));
    next();
  };
}

function scheduleView(d: HubDeps) {
  const servers: Array<{ user: string; server: string; started: string | null; lastActivity: string | null; nextStop: ReturnType<typeof nextStopFor>; overrideUntil: string | null }> = [];
  for (const a of d.serverManager.activeServers()) {
    if (a.status !== 'running') continue;
    const user = d.users.byName(a.user);
    const row = user ? d.servers.get(user.id, a.server) : undefined;
    if (!user || !row) continue;
    const o = d.schedules?.memory.overrides.get(`${a.user}/${a.server}`);
    servers.push({ user: a.user, server: a.server, started: row.started, lastActivity: row.last_activity, nextStop: nextStopFor(d, user, row), overrideUntil: o ? new Date(o).toISOString() : null });
  }
  servers.sort((x, y) => (x.nextStop?.at ?? Infinity) - (y.nextStop?.at ?? Infinity));
  return { schedules: d.config.schedules, culling: d.config.culling, servers };
}

function override(d: HubDeps, by: string, body: Record<string, unknown>) {
  const user = typeof body.user === 'string' ? d.users.byName(body.user) : undefined;
  if (!user) throw new HubError(400, `No such user: ${String(body.user ?? '')}`);
  const server = typeof body.server === 'string' ? body.server : '';
  const minutes = Number(body.minutes);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 60 * 24 * 31) throw new HubError(400, "'minutes' must be a number of minutes between 1 and 44640");
  if (!d.schedules) throw new HubError(503, 'Schedules are not running in this hub');
  const until = d.clock.now() + minutes * 60_000;
  d.schedules.override(user.name, server, until);
  d.log.info({ user: user.name, server, until: new Date(until).toISOString(), by, event: 'schedule-override' }, 'scheduled stops overridden');
  return { user: user.name, server, until: new Date(until).toISOString() };
}

/** The operations endpoints of the REST API (on the API router). */
export function opsApiRoutes(api: ApiRouter, d: HubDeps): void {
  const startedAt = Date.now();

  const health: ApiHandler = async (_req, res) => {
    const checks: Record<string, string> = {};
    let ok = true;
    try {
      d.db.prepare('SELECT 1').get();
      checks.database = 'ok';
    } catch (err) {
      checks.database = `failed: ${(err as Error).message}`;
      ok = false;
    }
    try {
      await d.proxy.getAllRoutes(new Date(0));
      checks.proxy = 'ok';
    } catch (err) {
      checks.proxy = `unreachable: ${(err as Error).message}`;
    }
    res.status(ok ? 200 : 503).json({
      status: ok ? (checks.proxy === 'ok' ? 'ok' : 'degraded') : 'failed',
      checks,
      running: d.serverManager.runningCount(),
      pending: d.serverManager.pendingCount(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    });
  };
  api.get('/hub/health', {}, health);
  api.get('/hub/api/health', {}, health);

  api.get('/hub/api/audit', { scope: 'read:audit' }, (req, res) => {
    const q = auditQuery(req);
    const paging = parsePaging(req, 0);
    const { total, items } = d.audit.query({ ...q, offset: paging.offset, limit: paging.limit });
    if (!paging.paginated) return void res.json(items);
    const nextOffset = paging.offset + paging.limit;
    const url = new URL(req.originalUrl, 'http://x');
    url.searchParams.set('offset', String(nextOffset));
    url.searchParams.set('limit', String(paging.limit));
    res.type(PAGINATION_TYPE);
    res.json({
      items,
      _pagination: { offset: paging.offset, limit: paging.limit, total, next: nextOffset < total ? { offset: nextOffset, limit: paging.limit, url: `${url.pathname}${url.search}` } : null },
    });
  });

  // containers, VMs and batch jobs of this hub that its database does not account for (hub/orphans.ts)
  api.get('/hub/api/orphans', { scope: 'admin:servers' }, async (_req, res) => {
    res.json(await findOrphans(d));
  });
  api.delete('/hub/api/orphans/:kind/:id', { scope: 'admin:servers' }, async (req, res) => {
    await removeOrphan(d, req.identity!.name, param(req, 'kind'), param(req, 'id'));
    res.status(204).end();
  });

  api.get('/hub/api/schedules', { scope: 'read:servers' }, (_req, res) => {
    res.json(scheduleView(d));
  });
  api.post('/hub/api/schedules/override', { scope: 'admin:servers', bodyLimit: 8192 }, (req, res) => {
    res.json(override(d, req.identity!.name, jsonBody(req)));
  });
}

/** The operations pages of the admin console (Express). */
export function opsRouter(d: HubDeps): Router {
  const r = Router();

  r.get('/hub/admin/audit', requireAdminUi('read:audit'), (req, res) => {
    const q = auditQuery(req);
    const pageSize = 50;
    const page = Math.max(1, Number(req.query.page) || 1);
    const { total, items } = d.audit.query({ ...q, offset: (page - 1) * pageSize, limit: pageSize });
    const pages = Math.max(1, Math.ceil(total / pageSize));
    const qs = (p: number) => {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries({ actor: q.actor, action: q.action, target: q.target, since: str(req.query.since), until: str(req.query.until) })) if (v) u.set(k, v);
      u.set('page', String(p));
      return `/hub/admin/audit?${u.toString()}`;
    };
    res.render('admin-audit', { identity: req.identity, xsrf: req.xsrfToken, items, total, page, pages, filters: { actor: q.actor ?? '', action: q.action ?? '', target: q.target ?? '', since: str(req.query.since) ?? '', until: str(req.query.until) ?? '' }, actions: d.audit.actions(), prev: page > 1 ? qs(page - 1) : null, next: page < pages ? qs(page + 1) : null });
  });

  r.get('/hub/admin/schedules', requireAdminUi('admin:servers'), (req, res) => {
    res.render('admin-schedules', { identity: req.identity, xsrf: req.xsrfToken, view: scheduleView(d), flash: str(req.query.flash) ?? null });
  });
  r.post('/hub/admin/schedules/override', requireAdminUi('admin:servers'), urlencoded({ extended: false, limit: '8kb' }), d.csrf.check(), (req, res) => {
    const o = override(d, req.identity!.name, req.body as Record<string, unknown>);
    res.redirect(303, `/hub/admin/schedules?flash=${encodeURIComponent(`${o.user}'s server${o.server ? ` ${o.server}` : ''} keeps running until ${o.until.slice(0, 16).replace('T', ' ')} UTC`)}`);
  });

  r.get('/hub/admin/orphans', requireAdminUi('admin:servers'), async (req, res) => {
    res.render('admin-orphans', { identity: req.identity, xsrf: req.xsrfToken, report: await findOrphans(d), flash: str(req.query.flash) ?? null });
  });
  r.post('/hub/admin/orphans/remove', requireAdminUi('admin:servers'), urlencoded({ extended: false, limit: '8kb' }), d.csrf.check(), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const kind = typeof body.kind === 'string' ? body.kind : '';
    const id = typeof body.id === 'string' ? body.id : '';
    const removed = await removeOrphan(d, req.identity!.name, kind, id);
    res.redirect(303, `/hub/admin/orphans?flash=${encodeURIComponent(`Removed ${kind} ${id.slice(0, 12)} (${removed.user || '?'}${removed.server ? `/${removed.server}` : ''})`)}`);
  });

  return r;
}

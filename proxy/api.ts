/**
 * CHP's REST API (PROTOCOL.md A2):
 *
 *   GET    /api/routes[?inactive_since=ISO]  → 200 {path: data}     400 bad date
 *   GET    /api/routes/{path}                → 200 data             404 (empty)
 *   POST   /api/routes/{path}  {target,...}  → 201 (empty)          400 bad JSON / target not a string
 *   DELETE /api/routes/{path}                → 204                  404 (empty)
 *   other methods on /api/routes             → 405 "Method not supported"; other paths → 404 "Not Found"
 *
 * Auth (only with a token): `Authorization` must match /token\s+(\S+)/ → else 403 (empty).
 * POST bodies are parsed before the auth check, as in CHP. {path} is decodeURIComponent'ed.
 */
import http from 'node:http';
import type { ProxyLogger } from './log.js';
import type { ProxyMetrics } from './metrics.js';
import { cleanPath, type RouteData, type RouteStore } from './store.js';
import { logUrl } from './paths.js';

export interface ApiContext {
  readonly authToken?: string;
  readonly store: RouteStore;
  readonly log: ProxyLogger;
  readonly metrics: ProxyMetrics;
  addRoute(path: string, data: RouteData): Promise<void>;
  removeRoute(path: string): Promise<void>;
}

const ROUTES = /^\/api\/routes(\/.*)?$/;
/** Cap on API bodies (CHP has none; a route body is tiny). */
const MAX_BODY = 1024 * 1024;

function fail(res: http.ServerResponse, code: number, msg?: string): void {
  (res as { _logMsg?: string })._logMsg = msg ?? '';
  if (res.writableEnded) return;
  res.writeHead(code);
  res.end(msg || http.STATUS_CODES[code]);
}

function authorized(ctx: ApiContext, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (!ctx.authToken) return true;
  const m = /token\s+(\S+)/.exec(req.headers.authorization || '');
  if (m && m[1] === ctx.authToken) return true;
  ctx.log.debug('Rejecting API request from: %s', req.headers.authorization || 'no authorization');
  res.writeHead(403);
  res.end();
  return false;
}

function readJson(req: http.IncomingMessage, res: http.ServerResponse, then: (data: unknown) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY) {
      fail(res, 413);
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (res.writableEnded) return;
    let data: unknown;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString('utf8')) || {};
    } catch (e) {
      fail(res, 400, `Body not valid JSON: ${String(e)}`);
      return;
    }
    then(data);
  });
}

async function getRoutes(ctx: ApiContext, req: http.IncomingMessage, res: http.ServerResponse, path: string | undefined) {
  const store = ctx.store;
  if (path && path.length && path !== '/') {
    // CHP's getRoute trims the path once and its store's get() once more, so `//` (e.g. from `/%2F/`)
    // names the root route here, though only here: POST trims twice as well, DELETE once
    const route = await store.get(cleanPath(store, path));
    if (!route) {
      res.writeHead(404);
      res.end();
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(route));
    }
    return;
  }
  const params = new URL(req.url ?? '/', 'https://example.com').searchParams;
  const param = params.get('inactiveSince') || params.get('inactive_since');
  let since: Date | null = null;
  if (param) {
    const t = Date.parse(param);
    if (!Number.isFinite(t)) return fail(res, 400, `Invalid datestamp '${param}' must be ISO8601.`);
    since = new Date(t);
  }
  const routes = await store.getAll();
  let results: Record<string, RouteData> = routes;
  if (since) {
    results = {};
    for (const [p, r] of Object.entries(routes)) {
      // same comparison as CHP (Date vs Date; a string last_activity from a custom store coerces)
      if ((r.last_activity as unknown as number) < (since as unknown as number)) results[p] = r;
    }
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(results));
  ctx.metrics.apiRouteGetCount.inc();
}

async function postRoutes(ctx: ApiContext, res: http.ServerResponse, path: string | undefined, data: unknown) {
  const body = data as RouteData;
  if (typeof body?.target !== 'string') {
    ctx.log.warn('Bad POST data: %s', JSON.stringify(data));
    return fail(res, 400, "Must specify 'target' as string");
  }
  await ctx.addRoute(path || '/', body);
  res.writeHead(201);
  res.end();
  ctx.metrics.apiRouteAddCount.inc();
}

async function deleteRoutes(ctx: ApiContext, res: http.ServerResponse, path: string | undefined) {
  // CHP throws here when there is no {path} and never answers; we answer 404 instead.
  const existing = path === undefined ? undefined : await ctx.store.get(path);
  if (existing) await ctx.removeRoute(path!);
  res.writeHead(existing ? 204 : 404);
  res.end();
  ctx.metrics.apiRouteDeleteCount.inc();
}

function logResponse(log: ProxyLogger, req: http.IncomingMessage, res: http.ServerResponse): void {
  const code = res.statusCode;
  const f = code < 400 ? log.info : code < 500 ? log.warn : log.error;
  f('%s %s %s %s', code, (req.method ?? '').toUpperCase(), logUrl(req.url), (res as { _logMsg?: string })._logMsg || '');
}

export function createApiHandler(ctx: ApiContext) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.on('finish', () => {
      ctx.metrics.requestsApiCount.labels(res.statusCode).inc();
      logResponse(ctx.log, req, res);
    });
    const onError = (e: unknown) => {
      ctx.log.error('Error in handler for %s %s: %s', req.method, logUrl(req.url), e);
      if (!res.headersSent) fail(res, 500);
      else res.destroy();
    };
    try {
      const pathname = new URL(req.url ?? '/', 'https://example.com').pathname;
      const m = ROUTES.exec(pathname);
      if (!m) return fail(res, 404);
      const method = (req.method ?? '').toLowerCase();
      if (method !== 'get' && method !== 'post' && method !== 'delete') return fail(res, 405, 'Method not supported');
      let path: string | undefined;
      try {
        path = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
      } catch (e) {
        // CHP logs and never answers; we answer 400
        ctx.log.error('Error in handler for %s %s: %s', req.method, logUrl(req.url), e);
        return fail(res, 400, `Bad path: ${String(e)}`);
      }
      if (method === 'post') {
        readJson(req, res, (data) => {
          if (!authorized(ctx, req, res)) return;
          postRoutes(ctx, res, path, data).catch(onError);
        });
        return;
      }
      if (!authorized(ctx, req, res)) return;
      if (method === 'get') getRoutes(ctx, req, res, path).catch(onError);
      else deleteRoutes(ctx, res, path).catch(onError);
    } catch (e) {
      onError(e);
    }
  };
}
